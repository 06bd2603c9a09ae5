"""A user's own classifier, named on the command line as ``package.module:factory`` (or ``module:Class``)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import torch
from torch import nn

from pyadvman.errors import ConfigError


def is_factory_path(name: str) -> bool:
    """Whether a model name is ``package.module:factory`` rather than a registered architecture."""
    return isinstance(name, str) and ":" in name


def import_factory(path: str) -> Callable[..., nn.Module]:
    """The callable that ``path`` ("package.module:attribute", the attribute possibly dotted) names.

    Raises:
        ConfigError: a malformed path, a module that cannot be imported (the import error is named), a missing
            attribute, or one that is not callable.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError("model", "a registered architecture or package.module:factory", path)
    try:
        target = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 (a user module can fail to import in any way)
        raise ConfigError("model", f"an importable module before ':' (importing {module_name} raised "
                          f"{type(error).__name__}: {error}; is it installed or on PYTHONPATH?)", path) from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError("model", f"a name that {module_name} defines (it has no {attribute})", path)
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError("model", f"a callable factory (it is a {type(target).__name__})", path)
    return target


def build_user_model(path: str, image_shape: tuple[int, int, int], num_classes: int,
                     **options: object) -> nn.Module:
    """``factory(**options)`` for the factory at ``path``, also given ``num_classes`` and ``image_shape`` where
    its signature takes them and they are not among the options; checked to return an nn.Module whose output on
    two images of ``image_shape`` is logits [2, num_classes] (run in eval mode, without gradients).

    Raises:
        ConfigError: the factory cannot be imported (see :func:`import_factory`), raises (its exception is
            chained), returns something else than an nn.Module, or a module with outputs of another shape.
    """
    factory = import_factory(path)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    given = {"num_classes": num_classes, "image_shape": tuple(image_shape)}
    options = {**{k: v for k, v in given.items() if k in parameters}, **options}
    try:
        model = factory(**options)
    except Exception as error:  # noqa: BLE001 (user code can fail in any way; the message says where)
        raise ConfigError("model", f"a factory that builds the model (calling {path}(**{options}) raised "
                          f"{type(error).__name__}: {error})", path) from error
    if not isinstance(model, nn.Module):
        raise ConfigError("model", f"a factory that returns a torch.nn.Module (it returned a {type(model).__name__})",
                          path)
    check_logits(model, image_shape, num_classes, path)
    return model


def check_logits(model: nn.Module, image_shape: tuple[int, int, int], num_classes: int, name: str) -> None:
    """Checks that ``model`` maps two images of ``image_shape`` (zeros) to logits [2, num_classes]; run in eval
    mode without gradients, the module's mode restored.

    Raises:
        ConfigError: naming ``name`` (the model field's value), when the forward pass raises or returns another
            shape.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            output = model(torch.zeros(2, *image_shape, device=device))
    except Exception as error:  # noqa: BLE001
        raise ConfigError("model", f"a module that takes images [B, {', '.join(map(str, image_shape))}] (the "
                          f"data's; its forward raised {type(error).__name__}: {error})", name) from error
    finally:
        model.train(was_training)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (2, num_classes):
        shape = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ConfigError("model", f"a module that returns logits [B, {num_classes}] ({num_classes} classes in the "
                          f"data); for 2 images it returned {shape}", name)


def rebuild_problem(name: str, model: nn.Module, image_shape: tuple[int, int, int], num_classes: int) -> str | None:
    """Why ``name`` ("package.module:Class", as a run records a module given to ``train``) does not rebuild a
    module with ``model``'s weights (their names and shapes), or None when it does. The global random state is
    left as it was."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    try:
        with torch.random.fork_rng(devices=[]):
            rebuilt = build_user_model(name, image_shape, num_classes)
    except ConfigError as error:
        return str(error)
    found = {key: tuple(value.shape) for key, value in rebuilt.state_dict().items()}
    if found != expected:
        differing = sorted(set(found) ^ set(expected)) or [k for k in found if found[k] != expected[k]]
        return f"{name}() has other weights ({len(found)} tensors against {len(expected)}; first: {differing[0]})"
    return None
