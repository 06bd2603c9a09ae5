"""BatchNorm folded into the convolution before it: the same logits and input gradients up to rounding, the model
given back module for module, and nothing folded that must not be."""

import pytest
import torch
from torch import nn

from pyadvman.attacks import PGD, AttackProtocol
from pyadvman.attacks.model_mode import eval_mode
from pyadvman.batch_norm_folding import batch_norm_folded
from pyadvman.execution import Execution
from pyadvman.manifolds.vae_gan_networks import Decoder
from pyadvman.models import build_model


def _with_statistics(model: nn.Module, inputs: torch.Tensor) -> nn.Module:
    """The model after a few training-mode passes, so that its BatchNorm statistics are not the initial 0 and 1."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(inputs)
    return model.eval()


def _input_gradient(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    out = model(x)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    return out.detach(), grad


@pytest.mark.parametrize("name", ["standard", "vgg"])
def test_folded_classifier_gives_the_same_logits_and_gradients_and_is_given_back(name):
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28)
    model = _with_statistics(build_model(name, (1, 28, 28), 10), torch.rand(64, 1, 28, 28))
    before = list(model.named_modules())
    logits, grad = _input_gradient(model, x)
    with batch_norm_folded(model):
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        folded_logits, folded_grad = _input_gradient(model, x)
    assert list(model.named_modules()) == before
    torch.testing.assert_close(folded_logits, logits, rtol=1e-5, atol=1e-5)
    # float32 rounding of the reordered products, on the gradient's own scale (|grad| reaches about 3 here, where an
    # absolute 1e-6 is a few ulps and failed on some CPUs); a wrong fold errs by the gradient's size
    torch.testing.assert_close(folded_grad, grad, rtol=1e-4, atol=1e-5 * float(grad.abs().max()))


def test_transposed_convolutions_fold_too():
    torch.manual_seed(0)
    decoder = _with_statistics(Decoder(1, 28, 10, 8), torch.randn(64, 10))
    z = torch.randn(8, 10)
    expected, grad = _input_gradient(decoder, z)
    with batch_norm_folded(decoder):
        assert not any(isinstance(m, nn.BatchNorm2d) for m in decoder.modules())
        images, folded_grad = _input_gradient(decoder, z)
    torch.testing.assert_close(images, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(folded_grad, grad, rtol=1e-4, atol=1e-6)


def test_training_mode_hooked_and_statistics_free_layers_stay_as_they_are():
    torch.manual_seed(0)
    training = build_model("standard", (1, 28, 28), 10).train()
    hooked = build_model("standard", (1, 28, 28), 10).eval()
    hooked.features[1].register_forward_hook(lambda module, args, out: None)
    no_statistics = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)).eval()
    for model in (training, hooked, no_statistics):
        with batch_norm_folded(model):
            assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with batch_norm_folded(hooked):
        assert sum(isinstance(m, nn.BatchNorm2d) for m in hooked.modules()) == 1   # the other two are folded


def test_an_attack_folds_only_for_its_run_and_fools_as_the_unfolded_model():
    torch.manual_seed(0)
    model = _with_statistics(build_model("standard", (1, 28, 28), 10), torch.rand(64, 1, 28, 28))
    x = torch.rand(40, 1, 28, 28)
    y = model(x).argmax(dim=1)
    seen = []
    model.features[1].register_forward_pre_hook(lambda module, args: seen.append(True))  # hooked: never folded
    runs = {}
    for fold in (False, True):
        attack = PGD(eps=0.1, protocol=AttackProtocol(steps=5), execution=Execution(fold_batch_norm=fold))
        torch.manual_seed(1)
        runs[fold] = attack.run(model, x, y)
    assert seen   # the hooked BatchNorm ran in both runs
    assert isinstance(model.features[4], nn.BatchNorm2d) and isinstance(model.features[3], nn.Conv2d)
    agree = (runs[True].success.any(0) == runs[False].success.any(0)).float().mean()
    assert agree >= 0.9   # rounding may flip a signed step where a gradient coordinate is near zero
    with eval_mode(model), batch_norm_folded(model):
        assert isinstance(model.features[4], nn.Identity)
