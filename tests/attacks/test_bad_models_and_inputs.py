"""Attacks on models and inputs that make gradient attacks lie: NaN logits, probability outputs, random forward
passes, zero gradients; and the argument errors that name what is wrong."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

from pyadvman.attacks import (
    APGD,
    APGD_PROTOCOL,
    PGD,
    AttackProtocol,
    LearnedManifoldAttack,
    Square,
    attack_in_batches,
)
from pyadvman.attacks.model_checks import ModelCheckWarning, predicted_classes
from pyadvman.execution import Execution
from pyadvman.models import build_model
from pyadvman.training.evaluation import clean_accuracy, pgd_robustness

from .conftest import Wrapped


def _model_and_data(seed: int = 0, n: int = 40):
    torch.manual_seed(seed)
    model = build_model("mlp", (1, 6, 6), 3, units=(16,), batch_norm=False).eval()
    x = torch.rand(n, 1, 6, 6)
    with torch.no_grad():
        y = model(x).argmax(dim=1)  # every clean input correct
    return model, x, y


def _checks(attack, model, x, y) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attack.run(model, x, y)
    return [str(w.message) for w in caught if issubclass(w.category, ModelCheckWarning)]


def test_nan_logits_never_count_as_correct() -> None:
    logits = torch.tensor([[float("nan")] * 3, [0.0, 2.0, float("nan")], [1.0, 5.0, 0.0], [float("inf"), 0, 0]])
    assert predicted_classes(logits).tolist() == [-1, -1, 1, -1]
    model, x, y = _model_and_data()
    nan_model = Wrapped(model, lambda logits, x: logits * float("nan"))
    assert clean_accuracy(nan_model, x, y) == 0.0  # argmax of a NaN row is 0: a third of y would "match"
    with pytest.warns(ModelCheckWarning, match="40 of 40 examples have NaN logits or an infinite largest logit"):
        result = pgd_robustness(nan_model, x, y, eps=0.1, protocol=AttackProtocol(update="sign", steps=3, start="radial", keep="first_success"))
    assert result.robust_accuracy() == 0.0 and result.clean_accuracy() == 0.0
    half = Wrapped(model, lambda logits, x: torch.where(x.flatten(1)[:, :1] > 0.5, logits * float("nan"), logits))
    result = PGD(eps=0.0, protocol=AttackProtocol(steps=1), execution=Execution(check_model=False)).run(half, x, y)
    expected = (x.flatten(1)[:, 0] <= 0.5)
    assert torch.equal(result.clean_correct, expected)
    with pytest.warns(ModelCheckWarning, match="have NaN logits or an infinite largest logit"):
        apgd = APGD(eps=0.0, protocol=replace(APGD_PROTOCOL, steps=2)).run(half, x, y)
    assert torch.equal(apgd.clean_correct, expected)


def test_probability_outputs_random_models_and_zero_gradients_are_reported() -> None:
    model, x, y = _model_and_data()
    assert _checks(PGD(eps=0.1, protocol=AttackProtocol(steps=3)), model, x, y) == []  # a plain logit model: no finding
    softmax = Wrapped(model, lambda logits, x: logits.softmax(dim=1))
    found = _checks(PGD(eps=0.1, protocol=AttackProtocol(steps=3)), softmax, x, y)
    assert len(found) == 1 and "outputs are probabilities" in found[0] and "return the logits" in found[0]
    noisy = Wrapped(model, lambda logits, x: logits + 0.1 * torch.randn_like(logits))
    found = _checks(PGD(eps=0.1, protocol=AttackProtocol(steps=3)), noisy, x, y)
    assert any("changes between two identical forward passes" in f and "version='rand'" in f for f in found)
    rounding = Wrapped(model, lambda logits, x: model(torch.round(x)) + 0 * logits)
    correct = int((rounding(x).argmax(dim=1) == y).sum())
    found = _checks(PGD(eps=0.1, protocol=AttackProtocol(steps=3)), rounding, x, y)
    assert any(f.startswith(f"attack: {correct} of {correct} correctly classified examples have an all-zero input "
                            "gradient at the attack's first iterate while their loss is not small")
               and "gradient-free attack" in f for f in found)
    found = _checks(APGD(eps=0.1, protocol=replace(APGD_PROTOCOL, steps=3)), rounding, x, y)
    assert any(f.startswith(f"APGD: {correct} of {correct} correctly classified examples have an all-zero input "
                            "gradient") for f in found)
    saturated = Wrapped(model, lambda logits, x: 1e4 * logits)
    found = _checks(PGD(eps=0.01, protocol=AttackProtocol(steps=2, start="none")), saturated, x, y)
    assert any("loss is saturated" in f and "objective='margin'" in f for f in found)
    assert _checks(PGD(eps=0.1, protocol=AttackProtocol(steps=3), execution=Execution(check_model=False)), softmax, x, y) == []


def test_checks_warn_once_per_evaluation_not_per_batch() -> None:
    model, x, y = _model_and_data(n=90)
    softmax = Wrapped(model, lambda logits, x: logits.softmax(dim=1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attack_in_batches(PGD(eps=0.1, protocol=AttackProtocol(steps=2)), softmax, x, y, batch_size=30, progress=False)
    assert sum(issubclass(w.category, ModelCheckWarning) for w in caught) == 1


def test_training_attacks_do_not_check(tmp_path) -> None:
    from pyadvman.training import TrainConfig, build_objective

    cfg = TrainConfig(objective="trades", dataset="fonts")
    assert build_objective(cfg, None).attack.execution.check_model is False


def test_labels_outside_the_models_classes_are_refused() -> None:
    model, x, y = _model_and_data(n=4)
    for bad in (torch.tensor([0, 1, 5, 2]), torch.tensor([0, -100, 1, 2])):
        with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 3\) for a model with 3 outputs, "
                                             r"got values in \[-?\d+, \d\]"):
            PGD(eps=0.1, protocol=AttackProtocol(steps=1)).run(model, x, bad)
        with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 3\)"):
            APGD(eps=0.1, protocol=replace(APGD_PROTOCOL, steps=1)).run(model, x, bad)
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 3\)"):
        PGD(eps=0.1, targeted=True, protocol=AttackProtocol(steps=1)).run(model, x, y, target=torch.tensor([3, 0, 0, 0]))


def test_non_finite_inputs_are_refused() -> None:
    model, x, y = _model_and_data(n=4)
    x[2, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x must be finite: 1 of 4 examples hold NaN or inf \(first: example 2\)"):
        PGD(eps=0.1).run(model, x, y)


def test_settings_of_the_wrong_kind_are_named() -> None:
    with pytest.raises(ValueError, match=r"eps must be a finite number >= 0, got inf \(an L∞ radius of 1 already "
                                         r"spans images in \[0, 1\]\)"):
        PGD(eps=float("inf"))
    with pytest.raises(TypeError, match="eps must be a number or a Tensor\\[B\\], got str '0.3'"):
        PGD(eps="0.3")
    with pytest.raises(TypeError, match="steps must be an integer >= 0, got float 2.5"):
        PGD(protocol=AttackProtocol(steps=2.5))
    with pytest.raises(TypeError, match="restarts must be an integer >= 1, got bool True"):
        APGD(protocol=replace(APGD_PROTOCOL, restarts=True))
    with pytest.raises(ValueError, match="eta must be a finite number >= 0, got -1"):
        LearnedManifoldAttack(manifold=object(), eta=-1)
    model, x, y = _model_and_data(n=3)
    with pytest.raises(ValueError, match=r"eps must be finite and >= 0 for every example, got inf at example 1"):
        PGD(eps=torch.tensor([0.1, float("inf"), 0.1])).run(model, x, y)


def test_minus_inf_logits_that_mask_classes_still_predict() -> None:
    masked = torch.tensor([[2.0, float("-inf"), 1.0], [float("-inf")] * 3, [float("inf"), 0.0, 0.0]])
    assert predicted_classes(masked).tolist() == [0, -1, -1]


def test_numpy_scalars_are_numbers() -> None:
    import numpy as np

    attack = PGD(eps=np.float32(0.3), protocol=AttackProtocol(steps=np.int64(3), restarts=np.int32(2)))
    model, x, y = _model_and_data(n=4)
    assert attack.run(model, x, y).x_adv_restarts.shape[0] == 2


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("attack", [APGD(eps=0.1, protocol=replace(APGD().protocol, steps=10)),
                                    Square(eps=0.1, queries=50)], ids=["apgd", "square"])
def test_apgd_and_square_run_half_precision_models_within_the_exact_ball(dtype, attack) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).to(dtype)
    x, y = torch.rand(6, 1, 4, 4).to(dtype), torch.tensor([0, 1, 2, 0, 1, 2])
    result = attack.run(model, x, y)
    assert result.x_adv.dtype == dtype and result.loss.dtype == torch.float32
    assert float((result.x_adv.double() - x.double()).abs().max()) <= 0.1
    # the success judged is the model's own prediction at the returned images
    fooled = predicted_classes(model(result.x_adv)) != y
    assert torch.equal(result.success.any(dim=0) & result.clean_correct, fooled & result.clean_correct)


class NormalisesInPlace(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.sub_(0.5).div_(0.25)
        return self.linear(x.flatten(1))


@pytest.mark.parametrize("attack", [PGD(eps=0.1, protocol=AttackProtocol(steps=2)), APGD(eps=0.1),
                                    Square(eps=0.1, queries=10)], ids=["pgd", "apgd", "square"])
def test_a_model_that_modifies_its_input_in_place_is_named_and_the_images_kept(attack) -> None:
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    original = x.clone()
    with pytest.raises(ValueError, match=r"the model modified its input in place .* lambda x: model\(x\.clone\(\)\)"):
        attack.run(NormalisesInPlace(), x, y)
    assert torch.equal(x, original)


@pytest.mark.parametrize("output, expected", [
    (lambda logits: logits[:, 0], r"floating-point logits Tensor\[12, K\] with K >= 2 classes \(one row per input\), "
                                  r"got torch.float32 \[12\]"),
    (lambda logits: logits[..., None], r"got torch.float32 \[12, 10, 1\]"),
    (lambda logits: logits[:1], r"got torch.float32 \[1, 10\]"),
    (lambda logits: logits.long(), r"got torch.int64 \[12, 10\]"),
    (lambda logits: (logits, None), r"it returned a tuple \(a model that returns \(logits, features\) needs a wrapper"),
])
@pytest.mark.parametrize("attack", [PGD(eps=0.1, protocol=AttackProtocol(steps=2)), APGD(eps=0.1),
                                    Square(eps=0.1, queries=5)], ids=["pgd", "apgd", "square"])
def test_a_model_whose_output_is_not_logits_is_named(output, expected, attack) -> None:
    base = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    model = Wrapped(base, lambda logits, x: output(logits))
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 10
    with pytest.raises(ValueError, match=rf"the model must return .*{expected}"):
        attack.run(model, x, y)
