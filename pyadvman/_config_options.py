"""Command-line options generated from a frozen config dataclass: one ``--field-name`` per field, with the
field's type, default and comment in ``--help``; values parsed back to the field's type."""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import typing
from dataclasses import MISSING, fields


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
    ``OPTION_CHOICES`` (a dict field name -> allowed values), if any."""
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    choices = getattr(cls, "OPTION_CHOICES", {})
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        note = comments.get(f.name, "")
        if f.name in choices:
            note = f"{note}; one or more of: {', '.join(choices[f.name])}" if "tuple" in str(hints[f.name]) \
                else f"{note}; one of: {', '.join(choices[f.name])}"
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None, metavar="VALUE",
                            help=f"{note + '. ' if note else ''}[{_type_name(hints[f.name])}, default "
                                 f"{default!r}; the preset may change it]".replace("%", "%%"))


def _type_name(hint: object) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def parse_value(cls: type, name: str, text: str) -> object:
    """``text`` converted to the type of field ``name`` of cls: JSON (or comma-separated) for dicts and tuples,
    ``none`` for optional fields, numbers and booleans by type.

    Raises:
        ValueError: text that is not a valid value of the field's type (the message names the option).
    """
    hint = str(typing.get_type_hints(cls)[name])
    option = f"--{name.replace('_', '-')}"
    try:
        if text.lower() == "none" and ("None" in hint or "Optional" in hint):
            return None
        if "dict" in hint:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            return value
        if "tuple" in hint:
            stripped = text.strip()
            value = json.loads(stripped) if stripped.startswith("[") else [ast.literal_eval(v.strip()) if
                                                                          _is_literal(v) else v.strip()
                                                                          for v in stripped.split(",") if v.strip()]
            return tuple(value)
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


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
        return True
    except (ValueError, SyntaxError):
        return False


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, object]:
    """The fields given on the command line, parsed to their types."""
    return {f.name: parse_value(cls, f.name, getattr(args, f.name)) for f in fields(cls)
            if getattr(args, f.name, None) is not None}
