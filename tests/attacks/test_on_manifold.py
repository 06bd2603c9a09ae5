"""On-true-manifold, on-learned-manifold and transformation attacks: outputs are generator outputs, codes stay in
their ranges, and the attacks fool a normally trained model on some correctly classified examples."""

from __future__ import annotations

import pytest
import torch

from pyadvman.attacks import AttackProtocol, LearnedManifoldAttack, TransformationAttack, TrueManifoldAttack
from pyadvman.attacks.transformations import TRANSFORMATION_RANGES
from pyadvman.data.splits import DatasetSplits, Split
from pyadvman.manifolds import FontsRenderer, warp
from pyadvman.manifolds.learned_manifold import fit_learned_manifold
from pyadvman.manifolds.vae_gan import VAEGANConfig


def test_true_manifold_attack_renders_its_outputs_and_fools_the_fonts_model(fonts) -> None:
    data, model = fonts
    test = data.test.first(200)
    renderer = FontsRenderer(data.prototypes)
    low, high = data.train.theta_range()
    attack = TrueManifoldAttack(renderer=renderer, theta_low=low, theta_high=high, eta=0.3, protocol=AttackProtocol(steps=20, restarts=2))
    result = attack.run(model, test.images, test.labels, codes=test.codes, theta=test.theta)
    theta = result.params  # [R, B, 6]
    assert bool((theta >= low).all() and (theta <= high).all())
    assert float((theta - test.theta).abs().max()) <= 0.3 + 1e-6
    font, letter = test.codes[:, 0], test.codes[:, 1]
    for r in range(2):
        with torch.no_grad():
            rendered = renderer(font, letter, theta[r])
        torch.testing.assert_close(result.x_adv_restarts[r], rendered, rtol=0, atol=1e-6)
    torch.testing.assert_close(result.clean, test.images, rtol=0, atol=1e-5)
    fooled = result.success.any(dim=0) & result.clean_correct
    assert int(fooled.sum()) > 0 and result.success_rate() > 0
    with torch.no_grad():
        assert bool((model(result.x_adv).argmax(1) != test.labels)[fooled].all())


def test_true_manifold_attack_needs_codes(fonts) -> None:
    data, model = fonts
    low, high = data.train.theta_range()
    attack = TrueManifoldAttack(renderer=FontsRenderer(data.prototypes), theta_low=low, theta_high=high, protocol=AttackProtocol(steps=1))
    x, y = data.test.images[:4], data.test.labels[:4]
    with pytest.raises(ValueError, match=r"codes must be an int64 Tensor\[4, 2\]"):
        attack.run(model, x, y, theta=data.test.theta[:4])
    with pytest.raises(ValueError, match="theta_low and theta_high must be Tensor"):
        TrueManifoldAttack(renderer=FontsRenderer(data.prototypes), theta_low=high, theta_high=low)
    theta = data.test.theta[:4].clone()
    theta[2, 0] = float("nan")  # would render an image of NaN, whose clean accuracy means nothing
    with pytest.raises(ValueError, match=r"theta must be finite; rows \[2\] \(1 of 4\) hold NaN or inf"):
        attack.run(model, x, y, codes=data.test.codes[:4], theta=theta)
    with pytest.raises(ValueError, match=r"prototypes must have values in \[0, 1\]"):
        FontsRenderer(torch.full((1, 1, 4, 4), float("nan")))


def test_learned_manifold_attack_decodes_its_outputs_within_code_bounds(fonts, tmp_path) -> None:
    # A VAE-GAN small enough for a unit test decodes nearly one image per class, so whether the attack fools a
    # classifier is measured on the quick preset instead (docs/examples/fonts_on_manifold.py); this test checks
    # the threat model: decoder outputs, codes within η of the encoder means and within the class code range.
    data, model = fonts
    train = data.train.first(400)
    small = DatasetSplits(data.name, data.classes, Split(train.images.clone(), train.labels),
                          Split(train.images[:0], train.labels[:0]), data.test.first(40))
    manifold = fit_learned_manifold(small, VAEGANConfig(latent=4, channels=8, batch_size=50, epochs=2), tmp_path,
                                    progress=False)
    test = data.test.first(100)
    model.train()
    result = LearnedManifoldAttack(manifold=manifold, eta=0.3, protocol=AttackProtocol(steps=15, restarts=2)).run(model, test.images,
                                                                                         test.labels)
    assert model.training  # the classifier's mode is restored
    model.eval()
    codes = result.params  # [R, B, latent]
    low, high = manifold.code_bounds(test.labels)
    assert bool((codes >= low - 1e-6).all() and (codes <= high + 1e-6).all())
    with torch.no_grad():
        z = manifold.encode(test.images, test.labels)
        assert float((codes - z.clamp(low, high)).abs().max()) <= 0.3 + 1e-5
        assert float((codes - z.clamp(low, high)).abs().max()) > 0.05  # the codes moved
        for r in range(2):
            torch.testing.assert_close(result.x_adv_restarts[r], manifold.decode(codes[r], test.labels),
                                       rtol=0, atol=1e-5)
        torch.testing.assert_close(result.clean, manifold.decode(z, test.labels), rtol=0, atol=1e-5)
    assert all(p.requires_grad for p in manifold.parameters())  # frozen only while attacking
    assert all(p.grad is None for p in manifold.parameters())
    with torch.no_grad():
        manifold.models["1"].encoder.parameters().__next__()[0] = float("nan")  # a damaged class model
    rows = (test.labels == 1).nonzero().flatten()  # the rows routed to the damaged model
    with pytest.raises(ValueError, match=rf"the manifold's codes of x .* must be finite; rows "
                                         rf"\[{', '.join(map(str, rows[:5].tolist()))}\] … \({len(rows)} of 100\)"):
        LearnedManifoldAttack(manifold=manifold, protocol=AttackProtocol(steps=1)).run(model, test.images, test.labels)


def test_transformation_attack_warps_within_the_ranges(fashion) -> None:
    model, x, y = fashion
    result = TransformationAttack(eta=0.3, protocol=AttackProtocol(steps=10, restarts=2)).run(model, x[:100], y[:100])
    low, high = TRANSFORMATION_RANGES.bounds()
    assert bool((result.params >= low).all() and (result.params <= high).all())
    for r in range(2):
        torch.testing.assert_close(result.x_adv_restarts[r], warp(x[:100], result.params[r]), rtol=0, atol=1e-6)
    assert result.success_rate() > 0.05


def test_the_true_manifold_attack_of_a_split_clips_to_that_splits_theta_range(fonts) -> None:
    """As the released code clips: test attacks to the test set's θ range, training attacks to the training
    set's."""
    data, _ = fonts
    for split in ("train", "test"):
        attack = TrueManifoldAttack.on_split(data, split, eta=0.3, protocol=AttackProtocol(steps=1))
        theta = getattr(data, split).theta
        assert torch.equal(attack.theta_low, theta.amin(dim=0)) and torch.equal(attack.theta_high, theta.amax(dim=0))
    plain = DatasetSplits("plain", data.classes, *(Split(s.images, s.labels) for s in (data.train, data.validation,
                                                                                      data.test)))
    with pytest.raises(ValueError, match="needs FONTS"):
        TrueManifoldAttack.on_split(plain, "test")
