"""Named presets of a frozen config dataclass (TrainConfig, the experiment configs): a preset is a dict of field
values applied to the class defaults, then the caller's overrides."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import TypeVar

Config = TypeVar("Config")


def config_from_preset(cls: type[Config], presets: dict[str, dict], preset: str, **overrides: object) -> Config:
    """cls() with the preset's values, then ``overrides``, applied.

    Raises:
        ValueError: an unknown preset or field (the message lists the valid ones), or an invalid value.
    """
    if preset not in presets:
        raise ValueError(f"preset must be one of {sorted(presets)}, got {preset!r}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {sorted(names)}")
    return replace(cls(), **{**presets[preset], **overrides})
