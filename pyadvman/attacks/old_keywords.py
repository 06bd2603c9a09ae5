"""The spellings of attack settings that pyadvman 0.1 took as keywords of each attack (``PGD(steps=40)``), which
keep working for one release with a DeprecationWarning naming the new spelling (CHANGELOG.md)."""

from __future__ import annotations

import functools
import warnings
from dataclasses import MISSING, fields, replace

from pyadvman.attacks.protocol import AttackProtocol
from pyadvman.execution import OLD_EXECUTION_KEYWORDS, Execution

# pyadvman 0.1 keywords: into the protocol (old name -> field), into the execution settings, renamed
_PROTOCOL_KEYWORDS = {"steps": "steps", "alpha": "step_size", "restarts": "restarts", "start": "start",
                      "update": "update", "lr": "lr", "keep": "keep", "early_stop": "early_stop",
                      "noise_scale": "noise_scale"}
_RENAMED = {"objective": "loss"}
_NOISES = {"gaussian": "lmc_gaussian", "laplace": "lmc_laplacian"}


def accepts_old_spellings(cls: type) -> type:
    """Lets the dataclass ``cls`` take pyadvman 0.1's keywords for one release, with a DeprecationWarning naming the
    new spelling: the search settings (steps, alpha, restarts, start, update, lr, keep, early_stop, noise,
    noise_scale) go into ``protocol``, compile / check_model / chunk_rows into ``execution``, ``objective`` is
    ``loss``. Keywords that the class has as fields of its own (Square's ``restarts``) stay its own."""
    init = cls.__init__
    own = {f.name for f in fields(cls)}

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        _check_settings_types(cls, args, kwargs)
        moved = {k: kwargs.pop(k) for k in list(kwargs)
                 if k not in own and (k in _PROTOCOL_KEYWORDS or k in OLD_EXECUTION_KEYWORDS or k in _RENAMED
                                      or k in ("noise", "init_std"))}
        if moved:
            kwargs.update(_new_spelling(cls, moved, kwargs))
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


def _check_settings_types(cls: type, args: tuple, kwargs: dict[str, object]) -> None:
    """pyadvman 0.1's positional settings (``PGD(0.3, 40)``) land in ``protocol`` or ``execution`` now: a clear
    TypeError rather than an AttributeError deep in the attack."""
    given = {**dict(zip([f.name for f in fields(cls) if f.init], args)), **kwargs}
    for name, kind in (("protocol", AttackProtocol), ("execution", Execution)):
        if name in given and not isinstance(given[name], kind):
            raise TypeError(f"{cls.__name__}: {name} must be an {kind.__name__}, got {given[name]!r}; pyadvman 0.2 "
                            f"takes the search settings as protocol=AttackProtocol(steps=..., step_size=...) and "
                            "the rest by keyword (CHANGELOG.md)")


def _new_spelling(cls: type, moved: dict[str, object], kwargs: dict[str, object]) -> dict[str, object]:
    if "init_std" in moved:
        raise TypeError(f"{cls.__name__}(init_std=...) was removed: the 'gaussian' start is x + 0.001·N(0, I) "
                        "(pyadvman.attacks.steps.GAUSSIAN_START_STD)")
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    new: dict[str, object] = {}
    protocol = {_PROTOCOL_KEYWORDS[k]: v for k, v in moved.items() if k in _PROTOCOL_KEYWORDS}
    if moved.get("noise") is not None:
        if protocol.get("update", "sign") != "sign":
            raise TypeError(f"{cls.__name__}(update={protocol['update']!r}, noise=...) was removed in pyadvman 0.2: "
                            "LMC noise goes with the signed step, protocol=AttackProtocol(update='lmc_gaussian' or "
                            "'lmc_laplacian', noise_scale=...) (CHANGELOG.md)")
        protocol["update"] = _NOISES[moved["noise"]]
    if protocol:
        if "protocol" not in defaults:
            raise TypeError(f"{cls.__name__} takes no {sorted(protocol)}")
        new["protocol"] = replace(kwargs.get("protocol", defaults["protocol"]), **protocol)
    execution = {k: v for k, v in moved.items() if k in OLD_EXECUTION_KEYWORDS}
    if execution:
        new["execution"] = replace(kwargs.get("execution", defaults.get("execution", Execution())), **execution)
    for old, name in _RENAMED.items():
        if old in moved:
            new[name] = moved[old]
    spelled = ", ".join(["...", *(f"{name}={_spell(value)}" for name, value in new.items())])
    warnings.warn(f"{cls.__name__}({', '.join(f'{k}=...' for k in moved)}) is deprecated and will be removed in "
                  f"pyadvman 0.3: write {cls.__name__}({spelled}) (CHANGELOG.md)", DeprecationWarning,
                  stacklevel=3)
    return new


def _spell(value: object) -> str:
    """A protocol or execution written with the fields that differ from the defaults."""
    if isinstance(value, (AttackProtocol, Execution)):
        default = type(value)()
        changed = [f"{f.name}={getattr(value, f.name)!r}" for f in fields(value)
                   if getattr(value, f.name) is not getattr(default, f.name)
                   and getattr(value, f.name) != getattr(default, f.name)]
        return f"{type(value).__name__}({', '.join(changed)})"
    return repr(value)
