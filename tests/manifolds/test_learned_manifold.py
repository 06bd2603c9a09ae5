"""VAE-GAN networks, one training step, checkpoint and resume, the class-specific manifold API and its outputs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from pyadvman.data.splits import DatasetSplits, Split
from pyadvman.errors import DataError
from pyadvman.manifolds.learned_manifold import AGNOSTIC, LearnedManifold, fit_learned_manifold
from pyadvman.manifolds.vae_gan import VAEGAN, VAEGANConfig, _losses, train_vae_gan, vae_gan_config
from pyadvman.manifolds.vae_gan_networks import stage_sizes

TINY = VAEGANConfig(latent=3, channels=4, batch_size=4, epochs=2, lr=0.01)


def _images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 16, 16)])
def test_network_shapes(shape) -> None:
    model = VAEGAN(shape, TINY)
    x = torch.rand(2, *shape)
    assert model.encode(x).shape == (2, 3)
    out = model.decode(torch.randn(2, 3))
    assert out.shape == (2, *shape) and 0 < out.min() and out.max() < 1
    assert model.discriminator(x).shape == (2,)
    assert stage_sizes(28) == [14, 7, 3]


def test_losses_follow_the_formulas() -> None:
    torch.manual_seed(0)
    model, x, cfg = VAEGAN((1, 16, 16), TINY), _images(4), replace(TINY, beta=2.0, gamma=0.5)
    torch.manual_seed(1)
    generator_loss, discriminator_loss, l1 = _losses(model, x, cfg)
    torch.manual_seed(1)
    mean, log_var = model.encoder(x)
    recon = model.decoder(mean + torch.randn_like(mean) * torch.exp(0.5 * log_var))
    kl = (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(1)).mean()
    expected_l1 = (recon - x).abs().sum((1, 2, 3)).mean()
    sig = torch.sigmoid
    fool = -torch.log(sig(model.discriminator(recon))).mean()
    real_fake = -torch.log(sig(model.discriminator(x))).mean() - torch.log(1 - sig(model.discriminator(recon))).mean()
    torch.testing.assert_close(l1, expected_l1)
    torch.testing.assert_close(generator_loss, kl + 2.0 * expected_l1 + 0.5 * fool)
    torch.testing.assert_close(discriminator_loss, 0.5 * real_fake)


def test_training_resumes_to_the_same_weights(tmp_path) -> None:
    images = _images(10)
    straight = train_vae_gan(images, TINY, tmp_path / "straight.pt", progress=False)
    one_epoch = replace(TINY, epochs=1)
    train_vae_gan(images, one_epoch, tmp_path / "resumed.pt", progress=False)
    state = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert state["epoch"] == 1
    state["config"]["epochs"] = 2  # continue the same run for one more epoch
    torch.save(state, tmp_path / "resumed.pt")
    resumed = train_vae_gan(images, TINY, tmp_path / "resumed.pt", progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    convolutions = [m.weight for m in resumed.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions)  # trained channels-last
    with pytest.raises(ValueError, match="was written with another config"):
        train_vae_gan(images, replace(TINY, beta=1.0), tmp_path / "resumed.pt", progress=False)
    with pytest.raises(ValueError, match=r"images must have shape \[N, C, S, S\] with N > 0, got \[0, 1, 16, 16\]"):
        train_vae_gan(images[:0], TINY, tmp_path / "x.pt", progress=False)


def test_presets() -> None:
    paper = vae_gan_config("paper", "fonts")
    assert (paper.beta, paper.epochs, paper.latent, paper.channels, paper.lr, paper.lr_decay) == (3.0, 10, 10, 64,
                                                                                                  0.005, 0.9)
    assert vae_gan_config("paper", "fashion-mnist").beta == 2.75 and vae_gan_config("quick", "fonts").channels == 16
    with pytest.raises(ValueError, match="VAE-GAN preset must be 'quick' or 'paper', got 'fast'"):
        vae_gan_config("fast", "fonts")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("manifold")
    labels = torch.arange(3).repeat_interleave(8)
    train = Split(_images(24), labels)
    test = Split(_images(9, seed=1), torch.arange(3).repeat(3))
    data = DatasetSplits("toy", ("a", "b", "c"), train, Split(_images(0), labels[:0]), test)
    return fit_learned_manifold(data, replace(TINY, epochs=1), out, progress=False), data, out


def test_manifold_routes_rows_to_their_class_model(fitted) -> None:
    manifold, data, _ = fitted
    x, labels = data.test.images, data.test.labels
    codes = manifold.encode(x, labels)
    for c in range(3):
        rows = labels == c
        torch.testing.assert_close(codes[rows], manifold.models[str(c)].encode(x[rows]))
    torch.testing.assert_close(manifold.decode(codes, labels)[labels == 1], manifold.models["1"].decode(codes[labels == 1]))
    agnostic = torch.full_like(labels, AGNOSTIC)
    torch.testing.assert_close(manifold.encode(x, agnostic), manifold.models["all"].encode(x))
    errors = manifold.reconstruction_error(x, labels)
    torch.testing.assert_close(errors, (manifold.reconstruct(x, labels) - x).pow(2).mean((1, 2, 3)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) or be -1 \(class-agnostic\), got 5"):
        manifold.encode(x[:1], torch.tensor([5]))


def test_code_bounds_enclose_the_training_codes(fitted) -> None:
    manifold, data, _ = fitted
    train = data.train
    for c in range(3):
        codes = manifold.encode(train.images[train.labels == c], train.labels[train.labels == c])
        low, high = manifold.code_bounds(torch.tensor([c]))
        torch.testing.assert_close(low[0], codes.min(0).values)
        torch.testing.assert_close(high[0], codes.max(0).values)
    low, _ = manifold.code_bounds(torch.tensor([AGNOSTIC]))
    torch.testing.assert_close(low[0], manifold.models["all"].encode(train.images).min(0).values)


def test_outputs_report_the_measured_errors_and_reload(fitted) -> None:
    manifold, data, out = fitted
    report = json.loads((out / "reconstruction.json").read_text())
    errors = manifold.reconstruction_error(data.test.images, data.test.labels)
    for c, name in enumerate(data.classes):
        assert report["per_class"][name] == pytest.approx(errors[data.test.labels == c].mean().item(), rel=1e-5)
    with Image.open(out / "reconstruction.png") as figure:
        assert json.loads(figure.info["Description"]) == report["per_class"]
    reloaded = LearnedManifold.load(out / "manifold.pt")
    torch.testing.assert_close(reloaded.bounds, manifold.bounds)
    torch.testing.assert_close(reloaded.encode(data.test.images, data.test.labels),
                               manifold.encode(data.test.images, data.test.labels))
    with pytest.raises(ValueError, match="holds a manifold trained with another config"):
        fit_learned_manifold(data, replace(TINY, epochs=3), out, progress=False)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"vae_gan_{n}.pt" for n in ("0", "1", "2", "all")]


def test_a_manifold_is_used_only_on_the_data_it_was_fitted_on(fitted, tmp_path, caplog) -> None:
    manifold, data, out = fitted
    assert LearnedManifold.load(out / "manifold.pt", data=data).fitted_on == data.fingerprint
    other_train = Split(data.train.images.flip(-1), data.train.labels)
    changed = DatasetSplits(data.name, data.classes, other_train, data.validation, data.test)
    with pytest.raises(DataError, match=r"manifold\.pt was fitted on other data than .* \(the training split\): "
                                        r"fit the manifold on this dataset"):
        LearnedManifold.load(out / "manifold.pt", data=changed)
    renamed = DatasetSplits("other", data.classes, data.train, data.validation, data.test)
    with pytest.raises(DataError, match=r"\(name .* vs other\)"):
        LearnedManifold.load(out / "manifold.pt", data=renamed)
    old = torch.load(out / "manifold.pt", weights_only=True)
    del old["data"]  # a manifold.pt of pyadvman 0.2
    torch.save(old, tmp_path / "old.pt")
    LearnedManifold.load(tmp_path / "old.pt", data=changed)
    assert "old.pt records no data (pyadvman 0.2 or earlier)" in caplog.text


def test_a_colour_manifold_fits_and_its_figure_is_in_colour(tmp_path) -> None:
    """Class VAE-GANs on RGB images: three-channel reconstructions, and a figure that shows their colours."""
    labels = torch.arange(2).repeat_interleave(8)
    images = torch.zeros(16, 3, 16, 16)
    images[labels == 0, 0], images[labels == 1, 2] = 0.9, 0.9  # red and blue classes
    data = DatasetSplits("colours", ("red", "blue"), Split(images, labels), Split(images[:0], labels[:0]),
                         Split(images[[0, 8]], labels[[0, 8]]))
    manifold = fit_learned_manifold(data, replace(TINY, epochs=1), tmp_path, progress=False)
    assert manifold.reconstruct(data.test.images, data.test.labels).shape == (2, 3, 16, 16)
    with Image.open(tmp_path / "reconstruction.png") as figure:
        pixels = torch.from_numpy(np.asarray(figure.convert("RGB"), dtype=np.int64).reshape(-1, 3))
    red = (pixels[:, 0] > 180) & (pixels[:, 1] < 80) & (pixels[:, 2] < 80)
    blue = (pixels[:, 2] > 180) & (pixels[:, 0] < 80) & (pixels[:, 1] < 80)
    assert int(red.sum()) > 50 and int(blue.sum()) > 50  # the test images, drawn in their colours
