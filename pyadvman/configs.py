"""Frozen config dataclasses (TrainConfig, the experiment configs, the attack protocols nested in them): their
JSON record (config.json), how a record and a named preset become a config again, and the checks of options given
as JSON. The command line is generated from the same classes (pyadvman/command_line.py).

A field may itself be a frozen config (an :class:`pyadvman.attacks.AttackProtocol`, an
:class:`pyadvman.execution.Execution`), or a config or None: a preset, an override or a record gives it as such an
object, or as a dict of the fields it changes (``{"train_attack": {"steps": 10}}``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import types
import typing
from collections.abc import Callable
from dataclasses import asdict, fields, is_dataclass, replace
from functools import cache
from typing import TypeVar

from pyadvman._compat import deprecated
from pyadvman.errors import ConfigError

Config = TypeVar("Config")


def config_record(cfg: object) -> dict:
    """cfg (a config dataclass) as JSON-compatible data (tuples become lists), the form stored in config.json."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


@cache
def field_types(cls: type) -> dict[str, object]:
    """The resolved annotations of a config class's fields."""
    return typing.get_type_hints(cls)


def config_class_of(hint: object) -> type | None:
    """The config dataclass a field annotation names, also inside ``X | None``; None for other types."""
    if isinstance(hint, type) and is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        classes = [a for a in typing.get_args(hint) if isinstance(a, type) and is_dataclass(a)]
        return classes[0] if len(classes) == 1 else None
    return None


@cache
def nested_config_fields(cls: type) -> dict[str, type]:
    """The fields of config class ``cls`` whose type is itself a config dataclass (or one or None): {name:
    that class}."""
    hints = field_types(cls)
    return {f.name: nested for f in fields(cls) if (nested := config_class_of(hints[f.name])) is not None}


def check_literal_fields(config: object) -> None:
    """Raises ConfigError for the first field of ``config`` whose annotation is a Literal and whose value is not
    one of its values (the message lists them)."""
    for name, hint in field_types(type(config)).items():
        if typing.get_origin(hint) is typing.Literal and getattr(config, name) not in typing.get_args(hint):
            raise ConfigError(name, f"one of {typing.get_args(hint)}", getattr(config, name))


def default_of(cls: type, name: str) -> object:
    """The default value of field ``name`` of ``cls``."""
    field = next(f for f in fields(cls) if f.name == name)
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def with_changes(value: object, changes: object, name: str, nested: type) -> object:
    """The nested config ``value`` (of class ``nested``, or None) with ``changes`` (a dict of its fields, a whole
    config, or None) applied; changes to None are ``nested(**changes)``.

    Raises:
        ConfigError: an unknown field or an invalid value, named as ``<name>.<field>`` (``train_attack.steps``).
    """
    if not isinstance(changes, dict):
        return changes
    names = {f.name for f in fields(nested)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ConfigError(name, f"a {nested.__name__} with fields {sorted(names)} (unknown: {unknown})", changes)
    try:
        return replace(value, **changes) if value is not None else nested(**changes)
    except ConfigError as error:
        raise ConfigError(f"{name}.{error.field}", error.expected, error.got) from None


def coerce_nested(config: object) -> None:
    """Turns dicts in the nested config fields of a frozen ``config`` (as read back from config.json, or given
    as changes such as ``TrainConfig(train_attack={"steps": 10})``) into their config class, in place, applied
    to the field's default; call it first in ``__post_init__``."""
    for name, nested in nested_config_fields(type(config)).items():
        value = getattr(config, name)
        if isinstance(value, dict):
            object.__setattr__(config, name, with_changes(default_of(type(config), name), value, name, nested))


def config_from_preset(cls: type[Config], presets: dict[str, dict], preset: str, **overrides: object) -> Config:
    """cls() with the preset's values, then ``overrides``, applied (nested configs field by field).

    Raises:
        ValueError: an unknown preset or field (the message lists the valid ones), or an invalid value.
    """
    if preset not in presets:
        raise ValueError(f"preset must be one of {sorted(presets)}, got {preset!r}")
    names = {f.name for f in fields(cls)}
    overrides = _upgraded(cls, overrides, f"{cls.__name__} override", presets[preset])
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {sorted(names)}")
    nested = nested_config_fields(cls)
    values: dict[str, object] = {}
    for changes in (presets[preset], overrides):
        for name, value in changes.items():
            if name in nested:
                value = with_changes(values.get(name, default_of(cls, name)), value, name, nested[name])
            values[name] = value
    return replace(cls(), **values)


# A config field that moved: old record key -> (new field, its sub-field, or None for a renamed field, and a
# function of the old value that gives the new one)
Moved = dict[str, tuple[str, str | None, Callable[[object], object]]]


def move_fields(record: dict, moved: Moved) -> dict:
    """``record`` with the keys of ``moved`` (spellings of an earlier release) written as their new fields."""
    record = dict(record)
    for old, (new, sub, convert) in moved.items():
        if old in record:
            value = convert(record.pop(old))
            if sub is None:
                record[new] = value
            else:
                current = record.get(new)
                record[new] = {**(asdict(current) if is_dataclass(current) else current or {}), sub: value}
    return record


def _upgraded(cls: type, values: dict, what: str, context: dict | None = None) -> dict:
    """``values`` (fields of ``cls``) with the spellings of pyadvman 0.1 that ``cls.upgrade_record`` knows written
    as today's, with a DeprecationWarning naming them; an old field that depends on others (the validation
    attack's steps on eval_attack) reads them from ``context`` (a preset's values) where ``values`` lacks them."""
    names = {f.name for f in fields(cls)}
    old = sorted(set(values) - names)
    upgrade = getattr(cls, "upgrade_record", None)
    if not old or upgrade is None:
        return values
    context = context or {}
    upgraded = upgrade({**context, **values})
    upgraded = {k: v for k, v in upgraded.items() if k in values or k not in context or v is not context[k]}
    if set(upgraded) - names:  # not (only) old spellings: the caller's own error names them
        return values
    new = sorted(k for k in upgraded if k not in values or upgraded[k] is not values[k])
    deprecated(f"{what} {', '.join(old)}", f"{', '.join(new)} ({cls.__name__}.upgrade_record maps them)", 4)
    return upgraded


def accepts_old_fields(cls: type) -> type:
    """Lets the config dataclass ``cls`` take the fields of pyadvman 0.1 (``TrainConfig(compile="off")``) for one
    release, with a DeprecationWarning naming the new ones: ``cls.upgrade_record`` maps them."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **_upgraded(cls, kwargs, f"{cls.__name__}("))

    cls.__init__ = __init__
    return cls


def config_from_record(cls: type[Config], record: dict) -> Config:
    """The config stored as ``record`` (config.json): nested configs from their dicts (missing fields take their
    defaults, so records of earlier releases load), lists as tuples.

    Raises:
        ConfigError: a field that is not valid now. ValueError: a field cls does not have.
    """
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(record) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {sorted(names)}")
    hints = field_types(cls)
    values = {}
    for name, value in record.items():
        if isinstance(value, list) and "tuple" in str(hints[name]):
            value = tuple(value)
        values[name] = value
    return cls(**values)


def accepts(hint: object, value: object) -> bool:
    """Whether value is of the annotated type (unions, Optional, Literal, tuple/list and dict by their container)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(accepts(arg, value) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (tuple, list) or hint in (tuple, list):
        return isinstance(value, (tuple, list))
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is os.PathLike or (isinstance(hint, type) and issubclass(hint, os.PathLike)):
        return isinstance(value, (str, os.PathLike))
    return not isinstance(hint, type) or isinstance(value, hint)


def type_name(hint: object) -> str:
    """An annotation as a reader writes it (``tuple[float, float]``, ``str | None``)."""
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def check_option_types(owner: str, options: dict, hints: dict[str, object]) -> None:
    """Checks keyword options given as JSON (``--dataset-options``, ``--model-options``) against the annotations
    ``hints`` of the function or class that takes them, before it runs on a value of the wrong kind.

    Raises:
        ValueError: an option of the wrong type, naming ``owner``, the option, the expected type and the value.
    """
    for name, value in options.items():
        if name in hints and not accepts(hints[name], value):
            raise ValueError(f"{owner} option {name!r} must be a {type_name(hints[name])}, got "
                             f"{type(value).__name__} {value!r}")
