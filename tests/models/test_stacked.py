"""StackedClassifiers: K standard classifiers as one module give each model's own logits, gradients and updates."""

import copy

import pytest
import torch
import torch.nn.functional as F

from pyadvman.memory_format import to_memory_format
from pyadvman.models import build_model
from pyadvman.models.stacked import StackedClassifiers

# grouped kernels sum in another order than one model's: float32 rounding, after a few Adam steps on logits of
# order 1-10 still far below what any reported number resolves
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _models(count: int, shape=(1, 28, 28)):
    torch.manual_seed(0)
    return [build_model("standard", shape, 10) for _ in range(count)]


@pytest.mark.parametrize("shape, layout", [((1, 28, 28), "contiguous"), ((3, 32, 32), "contiguous"),
                                           ((1, 28, 28), "channels_last"), ((3, 32, 32), "channels_last")])
def test_logits_and_input_gradients_are_each_models_own(shape, layout):
    models = _models(3, shape)
    stacked = StackedClassifiers(models)
    for module in (stacked, *models):
        to_memory_format(module, layout, "cpu")
    x = torch.rand(3, 7, *shape, requires_grad=True)
    for module in (stacked, *models):
        module.train()
    logits = stacked(x)
    (grad,) = torch.autograd.grad(logits.square().sum(), x)
    for k, model in enumerate(models):
        alone_x = x[k].detach().requires_grad_(True)
        alone = model(alone_x)
        (alone_grad,) = torch.autograd.grad(alone.square().sum(), alone_x)
        torch.testing.assert_close(logits[k], alone, **TOLERANCE)
        torch.testing.assert_close(grad[k], alone_grad, **TOLERANCE)


def test_adam_steps_on_the_stack_equal_each_model_trained_alone_and_unstack_writes_them_back():
    models = _models(3)
    alone = [copy.deepcopy(m) for m in models]
    stacked = StackedClassifiers(models)
    generator = torch.Generator().manual_seed(1)
    batches = [(torch.rand(3, 16, 1, 28, 28, generator=generator), torch.randint(0, 10, (3, 16), generator=generator))
               for _ in range(3)]
    optimizer = torch.optim.Adam(stacked.parameters(), lr=0.01, betas=(0.5, 0.9), weight_decay=1e-4)
    for x, y in batches:
        loss = F.cross_entropy(stacked(x).flatten(0, 1), y.flatten(), reduction="sum") / y.shape[1]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for k, model in enumerate(alone):
        own = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.5, 0.9), weight_decay=1e-4)
        for x, y in batches:
            own.zero_grad()
            F.cross_entropy(model(x[k]), y[k]).backward()
            own.step()
    stacked.unstack(models)
    restacked = StackedClassifiers(models)
    for (name, value), written in zip(stacked.state_dict().items(), restacked.state_dict().values()):
        assert torch.equal(value, written), f"unstack did not write {name} back"
    # a convolution's bias before BatchNorm has a zero gradient up to rounding (the batch mean removes it), which
    # Adam scales to full steps of random sign; it and the running mean that follows it are not compared, their
    # effect cancels in the outputs, which are
    skipped = {f"features.{i}.bias" for i in (0, 3, 6)} | {f"features.{i}.running_mean" for i in (1, 4, 7)}
    for trained, reference in zip(models, alone):
        for (name, value), expected in zip(trained.state_dict().items(), reference.state_dict().values()):
            if name not in skipped:
                torch.testing.assert_close(value, expected, **TOLERANCE, msg=f"{name} differs")
    test = torch.rand(20, 1, 28, 28)
    with torch.no_grad():
        logits = stacked(test.expand(3, *test.shape))
        for k, model in enumerate(alone):
            torch.testing.assert_close(logits[k], model(test), **TOLERANCE)


def test_bad_models_and_inputs_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="non-empty sequence of StandardClassifier"):
        StackedClassifiers([])
    with pytest.raises(ValueError, match="non-empty sequence of StandardClassifier"):
        StackedClassifiers([build_model("mlp", (1, 28, 28), 10)])
    with pytest.raises(ValueError, match="one architecture"):
        StackedClassifiers([build_model("standard", (1, 28, 28), 10), build_model("standard", (1, 28, 28), 5)])
    stacked = StackedClassifiers(_models(2))
    with pytest.raises(ValueError, match=r"x must be Tensor\[2, B, C, H, W\].*got \[3, 4, 1, 28, 28\]"):
        stacked(torch.rand(3, 4, 1, 28, 28))
    with pytest.raises(ValueError, match="the 2 stacked models, got 1"):
        stacked.unstack(_models(1))
