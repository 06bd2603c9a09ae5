"""The CIFAR architectures against their published sizes and structure, Normalized, and a user's own factory."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyadvman.errors import ConfigError
from pyadvman.models import NORMALIZATIONS, Normalized, build_model
from pyadvman.models.normalized import parse_normalization
from pyadvman.models.preact_resnet import PreActBlock


def _parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "count"), [
    ("resnet18", 11_173_962),         # kuangliu/pytorch-cifar's ResNet18, Robey et al.'s ResNet-18
    ("preact_resnet18", 11_172_170),  # Rice et al.'s PreActResNet18 (with the final BatchNorm)
    ("wrn-28-10", 36_479_194),        # WRN-28-10 as RobustBench lists it (36.5 M)
    ("wrn-34-10", 46_160_474),        # TRADES' and AWP's WRN-34-10 (46.2 M)
])
def test_cifar_models_have_their_published_parameter_counts(name, count) -> None:
    assert _parameters(build_model(name, (3, 32, 32), 10)) == count


def test_preact_blocks_add_before_any_activation() -> None:
    """A pre-activation block's output is conv2(...) + skip with no ReLU after the sum: negative values pass."""
    block = PreActBlock(4, 4, 1).eval()
    x = -torch.rand(2, 4, 6, 6) - 1  # BN (eval, fresh: identity up to eps) then ReLU zero it: the body adds 0
    torch.testing.assert_close(block(x), x)
    model = build_model("preact_resnet18", (3, 32, 32), 10)
    assert model.features(torch.rand(2, 3, 32, 32)).shape == (2, 512)


def test_wide_resnet_shapes_and_errors() -> None:
    model = build_model("wrn-28-10", (3, 32, 32), 100, dropout=0.3)
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 12
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 100)
    with pytest.raises(ValueError, match="depth must be 6n \\+ 4"):
        build_model("wrn-28-10", (3, 32, 32), 10, depth=27)


def test_normalized_is_the_model_on_normalised_inputs() -> None:
    torch.manual_seed(0)
    inner = build_model("standard", (3, 32, 32), 10).eval()
    mean, std = NORMALIZATIONS["cifar10"]
    wrapped = Normalized(inner, mean, std)
    x = torch.rand(4, 3, 32, 32)
    expected = inner((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    torch.testing.assert_close(wrapped(x), expected)
    assert set(wrapped.state_dict()) >= {"mean", "std"}
    built = build_model("standard", (3, 32, 32), 10, normalize="0.5,0.25")
    assert isinstance(built, Normalized) and built.std.flatten().tolist() == [0.25]


@pytest.mark.parametrize(("spec", "message"), [
    ("cifar11", "normalize must be one of"), ("0.5,0.2,0.1", "normalize must be one of"),
    ("0.5/0.5,0.2/0.2/0.2", "normalize must be one of"), ("0.5,0", "every std must be > 0")])
def test_bad_normalisations_are_refused(spec, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_normalization(spec)


def test_a_normalisation_must_match_the_channels() -> None:
    with pytest.raises(ValueError, match="normalize 'cifar10' has 3 channels, the images 1"):
        build_model("standard", (1, 28, 28), 10, normalize="cifar10")


_USER_MODULE = '''
import torch
from torch import nn

def small_cnn(num_classes, width=8):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, num_classes))

def broken(num_classes):
    raise RuntimeError("no weights here")

def wrong_output():
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(1000))

NOT_CALLABLE = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "my_models.py").write_text(_USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_models"


def test_a_user_factory_gets_num_classes_and_its_options(user_module) -> None:
    model = build_model(f"{user_module}:small_cnn", (3, 16, 16), 5, width=4)
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 5) and model[0].out_channels == 4
    assert model.training  # the shape check ran in eval mode and put the module back


@pytest.mark.parametrize(("factory", "message"), [
    ("broken", r"calling my_models:broken\(\*\*\{'num_classes': 5\}\) raised RuntimeError: no weights here"),
    ("wrong_output", r"returns logits \[B, 5\] \(5 classes in the data\); for 2 images it returned \[2, 1000\]"),
    ("NOT_CALLABLE", "a callable factory"), ("missing", "a name that my_models defines"),
])
def test_a_failing_factory_is_one_config_error(user_module, factory, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model(f"{user_module}:{factory}", (3, 16, 16), 5)


def test_a_factory_in_a_module_that_does_not_import() -> None:
    with pytest.raises(ConfigError, match=r"importing no_such_package_x.models raised ModuleNotFoundError: No "
                                          r"module named "):
        build_model("no_such_package_x.models:net", (3, 8, 8), 2)
