"""Registries: the datasets, models, training objectives, attacks and experiments of pyadvman by name, each
registered once with its builder, its label for reports and what else it declares (``extras``). A registry reads
like the dict of builders it replaces (``MODELS["standard"]``, ``"npz" in DATASETS``, ``sorted(OBJECTIVES)``);
adding an entry is one ``register`` call, and every list of names (command-line choices, config checks, error
messages) is read from it.

>>> from pyadvman.registry import Registry
>>> SHAPES = Registry("shape")
>>> @SHAPES.register("square", label="a square")
... def square(side: float) -> float:
...     return side * side
>>> SHAPES["square"](3.0), SHAPES.label("square"), list(SHAPES)
(9.0, 'a square', ['square'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pyadvman.errors import ConfigError

Builder = TypeVar("Builder", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[Builder]):
    """One registered name: its builder (a function or class), the label reports give it, a one-line
    description, and the facts it declares (e.g. an objective's ``needs_manifold``)."""

    name: str
    builder: Builder
    label: str
    description: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


class Registry(Mapping[str, Builder]):
    """Builders by name, in registration order; ``registry[name]`` is the builder."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # what the names name ("model", "dataset", ...), for error messages
        self._entries: dict[str, Entry[Builder]] = {}

    def register(self, name: str, builder: Builder | None = None, *, label: str | None = None,
                 description: str = "", **extras: Any):
        """Registers ``builder`` as ``name`` (label: ``name`` unless given); without a builder, a decorator.

        Raises:
            ValueError: ``name`` is taken.
        """
        def add(function: Builder) -> Builder:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered already")
            self._entries[name] = Entry(name, function, label or name, description, dict(extras))
            return function
        return add if builder is None else add(builder)

    def entry(self, name: str) -> Entry[Builder]:
        """The entry of ``name``.

        Raises:
            ConfigError: an unknown name, listing the registered ones.
        """
        self.check(name)
        return self._entries[name]

    def check(self, name: object, field: str | None = None) -> None:
        """Raises ConfigError (naming ``field``, default the kind) unless ``name`` is registered."""
        if not isinstance(name, str) or name not in self._entries:
            raise ConfigError(field or self.kind, f"one of {sorted(self._entries)}", name)

    def label(self, name: str) -> str:
        """The label reports give ``name`` (the name itself when it is not registered)."""
        return self._entries[name].label if name in self._entries else name

    def with_extra(self, key: str, value: Any = True) -> tuple[str, ...]:
        """The names whose entry declares ``key`` = ``value``."""
        return tuple(name for name, e in self._entries.items() if e.extras.get(key) == value)

    def __getitem__(self, name: str) -> Builder:
        if name not in self._entries:
            raise KeyError(f"{self.kind} must be one of {sorted(self._entries)}, got {name!r}")
        return self._entries[name].builder

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
