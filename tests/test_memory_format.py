"""The memory_format setting: which models run channels-last, that attacks give the weights' layout back, and
that the layout changes results by rounding only."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from pyadvman.attacks import APGD, APGD_PROTOCOL, PGD, AttackProtocol, Square
from pyadvman.errors import ConfigError
from pyadvman.execution import Execution
from pyadvman.memory_format import in_memory_format, resolve_memory_format, to_memory_format
from pyadvman.models import build_model


def _classifier(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("standard", (1, 28, 28), 10).eval()


def _strides(model: nn.Module) -> list[tuple[int, ...]]:
    return [m.weight.stride() for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_auto_is_channels_last_for_pyadvman_convolutional_models_on_cpu_only():
    assert resolve_memory_format("auto", _classifier(), "cpu") == "channels_last"
    assert resolve_memory_format("auto", _classifier(), torch.device("cuda", 0)) == "contiguous"
    assert resolve_memory_format("auto", build_model("mlp", (1, 28, 28), 10), "cpu") == "contiguous"
    user_model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    assert resolve_memory_format("auto", user_model, "cpu") == "contiguous"   # it might .view a conv output
    assert resolve_memory_format("channels_last", user_model, "cpu") == "channels_last"
    wrapped = nn.Sequential(nn.Identity(), _classifier())   # a wrapper around one of ours (e.g. a normalisation)
    assert resolve_memory_format("auto", wrapped, "cpu") == "channels_last"


def test_an_unknown_memory_format_is_refused_by_name():
    with pytest.raises(ConfigError, match="memory_format"):
        Execution(memory_format="nhwc")
    with pytest.raises(ValueError, match="memory_format must be one of"):
        resolve_memory_format("nhwc", _classifier(), "cpu")


def test_in_memory_format_changes_every_convolution_weight_and_gives_the_same_tensors_back():
    model = _classifier()
    before = [(m.weight.data.data_ptr(), m.weight.stride(), m.weight.detach().clone())
              for m in model.modules() if isinstance(m, nn.Conv2d)]
    with in_memory_format(model, "channels_last", "cpu"):
        inside = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
        # the first weight has one input channel: both layouts fit it, yet it gets the channels-last strides
        assert all(w.stride() == torch.empty_like(w, memory_format=torch.channels_last).stride() for w in inside)
        assert all(torch.equal(w, b[2]) for w, b in zip(inside, before))
    after = [(m.weight.data.data_ptr(), m.weight.stride()) for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert after == [(ptr, stride) for ptr, stride, _ in before]


def test_to_memory_format_contiguous_undoes_channels_last():
    model = _classifier()
    strides = _strides(model)
    assert len(to_memory_format(model, "channels_last", "cpu")) == 3
    assert _strides(model) != strides
    to_memory_format(model, "contiguous", "cpu")
    assert _strides(model) == strides


def test_channels_last_logits_equal_contiguous_ones_up_to_rounding():
    model, x = _classifier(), torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        contiguous = model(x)
        with in_memory_format(model, "channels_last", "cpu"):
            channels_last = model(x)
    torch.testing.assert_close(channels_last, contiguous, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda fmt: PGD(eps=0.1, protocol=AttackProtocol(steps=3), execution=Execution(memory_format=fmt)),
    lambda fmt: APGD(eps=0.1, protocol=replace(APGD_PROTOCOL, steps=3), execution=Execution(memory_format=fmt)),
    lambda fmt: Square(eps=0.1, queries=5, execution=Execution(memory_format=fmt)),
])
def test_an_attack_leaves_the_weights_layout_as_it_found_it_and_fools_alike(make):
    model, x = _classifier(1), torch.rand(32, 1, 28, 28)
    y = model(x).argmax(dim=1)
    strides = _strides(model)
    torch.manual_seed(0)
    contiguous = make("contiguous").run(model, x, y)
    seen = []
    conv = model.features[3]
    hook = conv.register_forward_pre_hook(lambda module, args: seen.append(module.weight.stride()))
    torch.manual_seed(0)
    channels_last = make("auto").run(model, x, y)
    hook.remove()
    assert seen and set(seen) == {torch.empty_like(conv.weight, memory_format=torch.channels_last).stride()}
    assert _strides(model) == strides
    assert (channels_last.x_adv - x).abs().max() <= 0.1 + 1e-6
    # rounding may flip the sign of a near-zero gradient coordinate, so the images may differ in a few pixels;
    # the fooled examples may differ only where the margin is as small as rounding
    agree = (channels_last.success.any(0) == contiguous.success.any(0)).float().mean()
    assert agree >= 0.9
