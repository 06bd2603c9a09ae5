"""Spellings of pyadvman 0.1 that keep working for one release with a DeprecationWarning naming the new one, or
fail with an error that names it (CHANGELOG.md lists them): renamed keywords, execution settings given one by
one, and modules that moved."""

from __future__ import annotations

import functools
import importlib.abc
import sys
import warnings
from collections.abc import Callable
from typing import Any

REMOVED_IN = "pyadvman 0.3"


def deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warns that ``old`` is deprecated in favour of ``new``."""
    warnings.warn(f"{old} is deprecated and will be removed in {REMOVED_IN}: write {new} (CHANGELOG.md)",
                  DeprecationWarning, stacklevel=stacklevel)


def renamed_keywords(**renamed: str) -> Callable:
    """A decorator: the function also takes the old keyword names (``alpha=`` for ``step_size=``), with a
    DeprecationWarning."""
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renamed.items():
                if old in kwargs:
                    deprecated(f"{function.__name__}({old}=...)", f"{function.__name__}({new}=...)")
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)
        return wrapper
    return decorate


def moved_names(module: str, moved: dict[str, tuple[str, Callable[[], Any]]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that still gives the names of pyadvman 0.1 that left ``module``, with a
    DeprecationWarning: ``moved`` maps an old name to (its new spelling, a function returning its value)."""
    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, value = moved[name]
        deprecated(f"{module}.{name}", new)
        return value()
    return __getattr__


# modules of pyadvman 0.1 that moved: old path -> new path
MOVED_MODULES = {
    "pyadvman.attacks.objectives": "pyadvman.attacks.losses",
    "pyadvman.attacks.search": "pyadvman.attacks.pgd (the loop), .steps (update rules), .iterates (keep rules)",
    "pyadvman.attacks.latent": "pyadvman.attacks.code_attack",
    "pyadvman.training.distributed": "pyadvman.distributed",
    "pyadvman._presets": "pyadvman.configs",
    "pyadvman._config_options": "pyadvman.configs and pyadvman.command_line",
    "pyadvman.manifolds.affine": "pyadvman.data.affine_transforms",
    "pyadvman.manifolds.true_manifold": "pyadvman.data.fonts_renderer",
    "pyadvman.manifolds.figures": "pyadvman.manifolds.reconstruction_figure",
    "pyadvman.data.registry": "pyadvman.data.dataset_registry",
    "pyadvman.data.figures": "pyadvman.data.image_tiles",
    "pyadvman.models.registry": "pyadvman.models.model_registry",
    "pyadvman.models._checks": "pyadvman.models._image_shape",
    "pyadvman.experiments.registry": "pyadvman.experiments.experiment_registry",
    "pyadvman.experiments.study": ("pyadvman.experiments.study_config (StudyConfig), .grid (the grid), "
                                   ".model_evaluation, .estimates and .records (typed model records)"),
    "pyadvman.experiments.flatness": "pyadvman.experiments.flatness_study",
    "pyadvman.experiments.spectra": "pyadvman.experiments.spectra_study",
    "pyadvman.experiments.one_size": "pyadvman.experiments.variant_cells",
    "pyadvman.experiments.figures": "pyadvman.experiments.study_figures",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Fails the import of a moved module with an error that names where it went."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name in MOVED_MODULES:
            raise ModuleNotFoundError(f"{name} moved in pyadvman 0.2: import {MOVED_MODULES[name]} (CHANGELOG.md)",
                                      name=name)


def install_moved_module_finder() -> None:
    """Installs the finder once (pyadvman/__init__.py does)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
