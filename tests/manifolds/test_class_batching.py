"""The class VAE-GANs run on a mixed-label batch in one stacked call (class_batching="stacked") with the values
and input gradients of one call per class, and fall back to the loop where stacking would be wrong."""

from __future__ import annotations

import pytest
import torch

from pyadvman.attacks import AttackProtocol, LearnedManifoldAttack
from pyadvman.execution import Execution
from pyadvman.manifolds.learned_manifold import AGNOSTIC, LearnedManifold
from pyadvman.manifolds.stacked_modules import StackedModules
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


def both(manifold: LearnedManifold, fn, monkeypatch):
    """fn() with the loop and with the stacked models; checks that the stacked run called them stacked."""
    calls = []
    original = StackedModules.__call__
    monkeypatch.setattr(StackedModules, "__call__", lambda self, *a: calls.append(1) or original(self, *a))
    out = {}
    for batching in ("loop", "stacked"):
        manifold.class_batching = batching
        before = len(calls)
        out[batching] = fn()
        assert (len(calls) > before) == (batching == "stacked"), batching
    return out["loop"], out["stacked"]


def test_stacked_decode_and_encode_equal_the_per_class_loop_with_their_gradients(monkeypatch):
    manifold = random_manifold().requires_grad_(False)  # frozen, as in the attacks: stacking applies
    labels = torch.tensor([2, 0, 0, AGNOSTIC, 3, 2, 2, 1, AGNOSTIC, 0])  # unsorted, uneven groups, agnostic rows
    z = torch.randn(labels.numel(), 3)
    x = torch.rand(labels.numel(), 1, 12, 12)

    def decoded():
        leaf = z.clone().requires_grad_(True)
        images = manifold.decode(leaf, labels)
        (grad,) = torch.autograd.grad((images * torch.linspace(0, 1, images[0].numel()).view_as(images[0])).sum(),
                                      leaf)
        return images.detach(), grad

    (loop_images, loop_grad), (stacked_images, stacked_grad) = both(manifold, decoded, monkeypatch)
    torch.testing.assert_close(stacked_images, loop_images, atol=1e-5, rtol=0)
    torch.testing.assert_close(stacked_grad, loop_grad, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        loop_codes, stacked_codes = both(manifold, lambda: manifold.encode(x, labels), monkeypatch)
    torch.testing.assert_close(stacked_codes, loop_codes, atol=1e-5, rtol=0)
    assert stacked_codes.shape == (labels.numel(), 3)


def test_the_on_manifold_attack_gives_the_same_result_either_way(monkeypatch):
    manifold = random_manifold(1)
    model = build_model("mlp", (1, 12, 12), 4).eval()
    x, y = torch.rand(16, 1, 12, 12), torch.arange(16) % 4

    def attacked():
        torch.manual_seed(0)
        return LearnedManifoldAttack(manifold=manifold, eta=0.3, protocol=AttackProtocol(steps=5, update="adam", lr=0.05), execution=Execution(check_model=False)).run(model, x, y)

    loop, stacked = both(manifold, attacked, monkeypatch)
    torch.testing.assert_close(stacked.params, loop.params, atol=1e-4, rtol=0)
    assert torch.equal(stacked.success, loop.success)


def test_under_autocast_both_return_the_inputs_dtype(monkeypatch):
    manifold = random_manifold().requires_grad_(False)
    labels, z = torch.tensor([0, 1, 1, AGNOSTIC]), torch.randn(4, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loop, stacked = both(manifold, lambda: manifold.decode(z, labels), monkeypatch)
    assert loop.dtype == stacked.dtype == torch.float32
    torch.testing.assert_close(stacked, loop, atol=2e-2, rtol=0)  # bf16 rounding in either


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
