"""Command-line options generated from a frozen config dataclass: one ``--field-name`` per field, with the
field's type, default and comment in ``--help``; values parsed back to the field's type."""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import types
import typing
from dataclasses import MISSING, fields
from functools import cache

from pyadvman._presets import nested_config_fields


@cache
def _field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field in the class body (the fields' documentation)."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            code, _, comment = line.partition("  # ")
            name = code.strip().split(":", 1)[0]
            if comment and ":" in code and name.isidentifier():
                comments[name] = comment.strip()
    return comments


def add_config_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type) -> None:
    """Adds ``--<field>`` (underscores as dashes, default None = the preset's value) for every field of cls;
    the help text is the field's comment, its type and default, and the values listed in the class attribute
    ``OPTION_CHOICES`` (a dict field name -> allowed values), if any. A field that is itself a config (an
    AttackProtocol) gives one ``--<field>-<subfield>`` per field of it (``--train-attack-steps``)."""
    nested = nested_config_fields(cls)
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        if f.name in nested:
            for sub in fields(nested[f.name]):
                _add_option(parser, nested[f.name], sub.name, getattr(default, sub.name), prefix=f"{f.name}.",
                            context=f"{f.name.replace('_', ' ')}: ")
        else:
            _add_option(parser, cls, f.name, default)


def _add_option(parser, cls: type, name: str, default: object, prefix: str = "", context: str = "") -> None:
    hint = _hints(cls)[name]
    note = _field_comments(cls).get(name, "")
    choices = getattr(cls, "OPTION_CHOICES", {})
    if name in choices:
        note = f"{note}; one or more of: {', '.join(choices[name])}" if "tuple" in str(hint) \
            else f"{note}; one of: {', '.join(choices[name])}"
    note = context + note
    parser.add_argument(_option(prefix + name), dest=prefix + name, default=None, metavar="VALUE",
                        help=f"{note + '. ' if note else ''}[{_type_name(hint)}, default "
                             f"{default!r}; the preset may change it]".replace("%", "%%"))


@cache
def _hints(cls: type) -> dict[str, object]:
    """The field annotations of a config class, resolved once (the command line reads them per option)."""
    return typing.get_type_hints(cls)


def _option(dest: str) -> str:
    """The command-line option of a field (``train_attack.steps`` -> ``--train-attack-steps``)."""
    return "--" + dest.replace(".", "-").replace("_", "-")


def _type_name(hint: object) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def parse_value(cls: type, name: str, text: str, option: str | None = None) -> object:
    """``text`` converted to the type of field ``name`` of cls: JSON (or comma-separated) for dicts and tuples,
    ``none`` for optional fields, numbers and booleans by type.

    Raises:
        ValueError: text that is not a valid value of the field's type (the message names the option,
            ``option`` or ``--<name>``).
    """
    hint = str(typing.get_type_hints(cls)[name])
    option = option or _option(name)
    if text.lower() == "none" and ("None" in hint or "Optional" in hint):
        return None
    if "dict" in hint:
        return parse_json_object(option, text)
    try:
        if "tuple" in hint:
            stripped = text.strip()
            value = json.loads(stripped) if stripped.startswith("[") else [ast.literal_eval(v.strip()) if
                                                                          _is_literal(v) else v.strip()
                                                                          for v in stripped.split(",") if v.strip()]
            return tuple(_check_elements(typing.get_type_hints(cls)[name], value))
        if "bool" in hint:
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError("not a boolean")
            return text.lower() in ("1", "true", "yes")
        if "int" in hint and "float" not in hint:
            return int(text)
        if "float" in hint:
            return float(text)
    except ValueError as error:
        raise ValueError(f"{option} must be a {_type_name(typing.get_type_hints(cls)[name])}, got {text!r} "
                         f"({error})") from None
    return text


def parse_json_object(option: str, text: str) -> dict:
    """The JSON object given to an option such as ``--dataset-options '{"path": "my.npz"}'``.

    Raises:
        ValueError: text that is not a JSON object (the message names the option).
    """
    value, reason = None, ""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        reason = f" ({error})"
    if isinstance(value, dict):
        return value
    raise ValueError(f"{option} must be a dict, as a JSON object such as '{{\"path\": \"my.npz\"}}', got "
                     f"{text!r}{reason}")


def _check_elements(hint: object, values: list) -> list:
    """values checked against a tuple type: tuple[int, ...] (any length) or tuple[float, float] (that many)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    args = typing.get_args(args[0]) if args and typing.get_origin(args[0]) is tuple else args
    if len(args) == 2 and args[1] is Ellipsis:
        element_types = [args[0]] * len(values)
    else:
        if len(values) != len(args):
            raise ValueError(f"{len(args)} comma-separated values, not {len(values)}")
        element_types = list(args)
    for value, kind in zip(values, element_types):
        if not _accepts(kind, value):
            raise ValueError(f"{value!r} is not a {kind.__name__}")
    return [float(v) if kind is float else v for v, kind in zip(values, element_types)]


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
        return True
    except (ValueError, SyntaxError):
        return False


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, object]:
    """The fields given on the command line, parsed to their types; a nested config's fields as a dict of the
    fields given (``{"train_attack": {"steps": 10}}``), applied by ``config_from_preset``."""
    overrides: dict[str, object] = {}
    nested = nested_config_fields(cls)
    for f in fields(cls):
        if f.name in nested:
            given = {sub.name: parse_value(nested[f.name], sub.name, getattr(args, f"{f.name}.{sub.name}"),
                                           _option(f"{f.name}.{sub.name}"))
                     for sub in fields(nested[f.name]) if getattr(args, f"{f.name}.{sub.name}", None) is not None}
            if given:
                overrides[f.name] = given
        elif getattr(args, f.name, None) is not None:
            overrides[f.name] = parse_value(cls, f.name, getattr(args, f.name))
    return overrides


def _accepts(hint: object, value: object) -> bool:
    """Whether value is of the annotated type (unions, Optional, tuple/list and dict by their container)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(hint))
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


def check_option_types(owner: str, options: dict, hints: dict[str, object]) -> None:
    """Checks keyword options given as JSON (``--dataset-options``, ``--model-options``) against the annotations
    ``hints`` of the function or class that takes them, before it runs on a value of the wrong kind.

    Raises:
        ValueError: an option of the wrong type, naming ``owner``, the option, the expected type and the value.
    """
    for name, value in options.items():
        if name in hints and not _accepts(hints[name], value):
            raise ValueError(f"{owner} option {name!r} must be a {_type_name(hints[name])}, got "
                             f"{type(value).__name__} {value!r}")
