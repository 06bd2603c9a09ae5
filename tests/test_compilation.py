"""The ``compile`` setting: compiled and eager attacks and training agree, a batch of another size does not
compile again, and bad modes are refused by name. Compiling on CPU takes seconds per graph, so the models are
tiny and each test compiles few graphs."""

from __future__ import annotations

import copy
import io
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch._dynamo.eval_frame import OptimizedModule
from torch._dynamo.utils import counters

from pyadvman.attacks import APGD, APGD_PROTOCOL, PGD, AttackProtocol, AutoAttack, FABTargeted, Square
from pyadvman.compilation import COMPILE_MODES, compiled_forward, resolve_compile
from pyadvman.execution import Execution
from pyadvman.training import TrainConfig


def tiny_classifier(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 10)).eval()


def inputs(batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, 8, 8, generator=generator), torch.randint(0, 10, (batch,), generator=generator)


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


def test_auto_means_cuda_graphs_on_cuda_and_eager_on_cpu():
    assert resolve_compile("auto", "cpu") == "off"
    assert resolve_compile("auto", torch.device("cuda:0")) == "reduce-overhead"
    assert resolve_compile("auto", "cuda", varying_batch=True) == "default"  # CUDA graphs record once per size
    assert resolve_compile("reduce-overhead", "cuda", varying_batch=True) == "reduce-overhead"
    for mode in ("off", "default", "reduce-overhead"):
        assert resolve_compile(mode, "cpu") == mode
    model = tiny_classifier()
    assert compiled_forward(model, "auto", "cpu") is model  # eager on CPU: the model itself, nothing compiled


@pytest.mark.parametrize("make", [lambda mode: PGD(eps=0.1, execution=Execution(compile=mode)), lambda mode: APGD(execution=Execution(compile=mode)),
                                  lambda mode: Square(execution=Execution(compile=mode)), lambda mode: AutoAttack(execution=Execution(compile=mode)),
                                  lambda mode: TrainConfig(execution={"compile": mode})])
def test_an_unknown_mode_is_refused_by_name(make):
    with pytest.raises(ValueError, match="compile.*'fast'"):
        make("fast")
    make(COMPILE_MODES[0])


def test_compiled_pgd_equals_eager_and_a_batch_of_another_size_does_not_compile_again():
    torch._dynamo.reset()  # no graph left by other tests: this one must compile its own
    model = tiny_classifier()
    x, y = inputs(24)
    results = {}
    for mode in ("off", "default"):
        torch.manual_seed(3)
        # L2 steps move continuously with the gradient, so rounding differences stay at rounding size
        results[mode] = PGD(eps=0.5, norm="l2", protocol=AttackProtocol(steps=5, restarts=2), execution=Execution(compile=mode, check_model=False)).run(model, x, y)
    eager, compiled = results["off"], results["default"]
    assert graphs() >= 1 and isinstance(model.__dict__["_pyadvman_compiled"]["default"], OptimizedModule)
    assert torch.equal(eager.success, compiled.success)
    torch.testing.assert_close(compiled.x_adv_restarts, eager.x_adv_restarts, atol=1e-5, rtol=0)
    torch.testing.assert_close(compiled.loss, eager.loss, atol=1e-4, rtol=1e-4)

    before = graphs()
    for batch in (17, 5):  # other batch sizes: the same dynamic-batch graph
        x_other, y_other = inputs(batch, seed=batch)
        torch.manual_seed(3)
        other = PGD(eps=0.5, norm="l2", protocol=AttackProtocol(steps=2), execution=Execution(compile="default", check_model=False)).run(model, x_other, y_other)
        torch.manual_seed(3)
        reference = PGD(eps=0.5, norm="l2", protocol=AttackProtocol(steps=2), execution=Execution(compile="off", check_model=False)).run(model, x_other, y_other)
        torch.testing.assert_close(other.x_adv, reference.x_adv, atol=1e-5, rtol=0)
    assert graphs() == before


def test_compiled_linf_pgd_fools_the_same_examples():
    """Signed steps amplify rounding where a gradient entry is near zero, so L∞ images may differ by a step in a
    few pixels; which examples are fooled must not change."""
    model = tiny_classifier(seed=2)
    x, y = inputs(32, seed=4)
    runs = {}
    for mode in ("off", "default"):
        torch.manual_seed(5)
        runs[mode] = PGD(eps=0.1, protocol=AttackProtocol(steps=10), execution=Execution(compile=mode, check_model=False)).run(model, x, y)
    assert torch.equal(runs["off"].success, runs["default"].success)
    same = (runs["off"].x_adv - runs["default"].x_adv).abs() <= 1e-5
    assert same.float().mean() > 0.99


def test_a_shallow_copy_compiles_its_own_forward():
    model = tiny_classifier()
    compiled_forward(model, "default", "cpu")
    twin = copy.copy(model)  # shares the cache dict at first: it must not call the original model
    twin_forward = compiled_forward(twin, "default", "cpu")
    assert twin.__dict__["_pyadvman_compiled"] is not model.__dict__["_pyadvman_compiled"]
    assert twin.__dict__["_pyadvman_compiled"]["default"]._orig_mod is twin
    x, _ = inputs(3)
    with torch.no_grad():
        torch.testing.assert_close(twin_forward(x), twin(x), atol=1e-5, rtol=0)


def test_the_compiled_cache_is_not_copied_or_pickled():
    model = tiny_classifier()
    forward = compiled_forward(model, "default", "cpu")
    x, _ = inputs(4)
    with torch.no_grad():
        torch.testing.assert_close(forward(x), model(x), atol=1e-5, rtol=0)
    copied = copy.deepcopy(model)
    assert not copied.__dict__.get("_pyadvman_compiled")
    buffer = io.BytesIO()
    torch.save(model, buffer)  # a compiled module inside would not pickle
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert not loaded.__dict__.get("_pyadvman_compiled")
    assert set(model.state_dict()) == set(copied.state_dict())


@pytest.mark.cuda
@pytest.mark.parametrize("make", [lambda mode: PGD(eps=0.1, norm="l2", protocol=AttackProtocol(steps=5, restarts=2), execution=Execution(compile=mode)),
                                  lambda mode: APGD(eps=0.1, protocol=replace(APGD_PROTOCOL, steps=5), execution=Execution(compile=mode)),
                                  lambda mode: FABTargeted(eps=0.1, steps=5, targets=2, execution=Execution(compile=mode)),
                                  lambda mode: Square(eps=0.1, queries=30, execution=Execution(compile=mode))])
def test_cuda_graphs_give_the_eager_results(make):
    """"reduce-overhead" (CUDA graphs, the CUDA default of fixed-size attacks) against eager on the GPU; no
    CUDA graph is skipped (which would silently run without them)."""
    model = tiny_classifier().cuda()
    x, y = (t.cuda() for t in inputs(24))
    skipped = counters["inductor"]["cudagraph_skips"]
    runs = {}
    for mode in ("off", "reduce-overhead"):
        torch.manual_seed(3)
        runs[mode] = make(mode).run(model, x, y)
    assert torch.equal(runs["off"].success, runs["reduce-overhead"].success)
    if isinstance(make("off"), PGD):
        torch.testing.assert_close(runs["reduce-overhead"].x_adv, runs["off"].x_adv, atol=1e-4, rtol=0)
        assert counters["inductor"]["cudagraph_skips"] == skipped
