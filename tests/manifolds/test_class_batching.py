"""The class VAE-GANs run on a mixed-label batch in one stacked call (class_batching="stacked") with the values
and input gradients of one call per class, and fall back to the loop where stacking would be wrong."""

from __future__ import annotations

import pytest
import torch

from pyadvman.attacks import LearnedManifoldAttack
from pyadvman.manifolds.learned_manifold import AGNOSTIC, LearnedManifold
from pyadvman.manifolds.vae_gan import VAEGANConfig
from pyadvman.models import build_model


def random_manifold(seed: int = 0) -> LearnedManifold:
    torch.manual_seed(seed)
    manifold = LearnedManifold((1, 12, 12), 4, VAEGANConfig(latent=3, channels=4))
    for module in manifold.modules():  # non-trivial running statistics, so eval-mode BatchNorm matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    manifold.bounds[:, 0], manifold.bounds[:, 1] = -1.0, 1.0
    return manifold.eval()


def both(manifold: LearnedManifold, fn):
    out = {}
    for batching in ("loop", "stacked"):
        manifold.class_batching = batching
        out[batching] = fn()
    return out["loop"], out["stacked"]


def test_stacked_decode_and_encode_equal_the_per_class_loop_with_their_gradients():
    manifold = random_manifold()
    labels = torch.tensor([2, 0, 0, AGNOSTIC, 3, 2, 2, 1, AGNOSTIC, 0])  # unsorted, uneven groups, agnostic rows
    z = torch.randn(labels.numel(), 3)
    x = torch.rand(labels.numel(), 1, 12, 12)

    def decoded():
        leaf = z.clone().requires_grad_(True)
        images = manifold.decode(leaf, labels)
        (grad,) = torch.autograd.grad((images * torch.linspace(0, 1, images[0].numel()).view_as(images[0])).sum(),
                                      leaf)
        return images.detach(), grad

    (loop_images, loop_grad), (stacked_images, stacked_grad) = both(manifold, decoded)
    torch.testing.assert_close(stacked_images, loop_images, atol=1e-5, rtol=0)
    torch.testing.assert_close(stacked_grad, loop_grad, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        loop_codes, stacked_codes = both(manifold, lambda: manifold.encode(x, labels))
    torch.testing.assert_close(stacked_codes, loop_codes, atol=1e-5, rtol=0)
    assert stacked_codes.shape == (labels.numel(), 3)


def test_the_on_manifold_attack_gives_the_same_result_either_way():
    manifold = random_manifold(1)
    model = build_model("mlp", (1, 12, 12), 4).eval()
    x, y = torch.rand(16, 1, 12, 12), torch.arange(16) % 4
    results = []
    for batching in ("loop", "stacked"):
        manifold.class_batching = batching
        torch.manual_seed(0)
        results.append(LearnedManifoldAttack(manifold=manifold, eta=0.3, steps=5, update="adam", lr=0.05,
                                             check_model=False).run(model, x, y))
    torch.testing.assert_close(results[1].params, results[0].params, atol=1e-4, rtol=0)
    assert torch.equal(results[1].success, results[0].success)


def test_stacking_is_skipped_in_train_mode_or_when_weights_need_gradients_and_follows_new_weights():
    manifold = random_manifold()
    manifold.class_batching = "stacked"
    labels, z = torch.tensor([0, 1, 1, 3]), torch.randn(4, 3)
    stacked = manifold._stacked_part("decoder")
    assert not stacked.usable()  # grad mode on and the weights require grad: the loop is used
    with torch.no_grad():
        assert stacked.usable()
        before = manifold.decode(z, labels)
        other = random_manifold(seed=5)
        manifold.load_state_dict(other.state_dict())  # new weights in place: the stacked copy is rebuilt
        after = manifold.decode(z, labels)
        other.class_batching = "loop"
        torch.testing.assert_close(after, other.decode(z, labels), atol=1e-5, rtol=0)
        assert not torch.allclose(before, after)
        manifold.train()
        assert not stacked.usable()


def test_bad_labels_and_settings_are_named():
    manifold = random_manifold()
    manifold.class_batching = "stacked"
    with torch.no_grad(), pytest.raises(ValueError, match=r"labels must lie in \[0, 4\) or be -1"):
        manifold.decode(torch.zeros(2, 3), torch.tensor([0, 7]))
    manifold.class_batching = "grouped"
    with pytest.raises(ValueError, match="class_batching must be one of .*'grouped'"):
        manifold.decode(torch.zeros(2, 3), torch.tensor([0, 1]))
    manifold.class_batching = "auto"
    assert manifold._resolved_batching(torch.device("cpu")) == "loop"
    assert manifold._resolved_batching(torch.device("cuda", 0)) == "stacked"
