"""Named presets of a frozen config dataclass (TrainConfig, the experiment configs): a preset is a dict of field
values applied to the class defaults, then the caller's overrides.

A field may itself be a frozen config (an :class:`pyadvman.attacks.AttackProtocol`): a preset or an override gives
it either as such an object or as a dict of the fields it changes, e.g. ``{"train_attack": {"steps": 10}}``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import fields, is_dataclass, replace
from functools import cache
from typing import TypeVar

from pyadvman.errors import ConfigError

Config = TypeVar("Config")


@cache
def nested_config_fields(cls: type) -> dict[str, type]:
    """The fields of config class ``cls`` whose type is itself a config dataclass: {name: that class}."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if isinstance(hints[f.name], type)
            and is_dataclass(hints[f.name])}


def with_changes(value: object, changes: object, name: str) -> object:
    """The nested config ``value`` with ``changes`` (a dict of its fields, or a whole config) applied.

    Raises:
        ConfigError: an unknown field or an invalid value, named as ``<name>_<field>`` (``train_attack_steps``),
            the command-line option ``--train-attack-steps``.
    """
    if not isinstance(changes, dict):
        return changes
    names = {f.name for f in fields(value)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ConfigError(name, f"a {type(value).__name__} with fields {sorted(names)} (unknown: {unknown})",
                          changes)
    try:
        return replace(value, **changes)
    except ConfigError as error:
        raise ConfigError(f"{name}_{error.field}", error.expected, error.got) from None


def coerce_nested(config: object) -> None:
    """Turns dicts in the nested config fields of a frozen ``config`` (as read back from config.json, or given
    as changes such as ``TrainConfig(train_attack={"steps": 10})``) into their config class, in place, applied
    to the field's default; call it first in ``__post_init__``."""
    for name in nested_config_fields(type(config)):
        value = getattr(config, name)
        if isinstance(value, dict):
            object.__setattr__(config, name, with_changes(_default(type(config), name), value, name))


def config_from_preset(cls: type[Config], presets: dict[str, dict], preset: str, **overrides: object) -> Config:
    """cls() with the preset's values, then ``overrides``, applied (nested configs field by field).

    Raises:
        ValueError: an unknown preset or field (the message lists the valid ones), or an invalid value.
    """
    if preset not in presets:
        raise ValueError(f"preset must be one of {sorted(presets)}, got {preset!r}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {sorted(names)}")
    nested = nested_config_fields(cls)
    values: dict[str, object] = {}
    for changes in (presets[preset], overrides):
        for name, value in changes.items():
            if name in nested:
                value = with_changes(values.get(name, _default(cls, name)), value, name)
            values[name] = value
    return replace(cls(), **values)


def _default(cls: type, name: str) -> object:
    field = next(f for f in fields(cls) if f.name == name)
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()
