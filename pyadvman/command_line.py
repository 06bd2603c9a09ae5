"""Command-line options generated from frozen dataclasses by tyro: every field of a config (TrainConfig, an
experiment's config) or of an attack is an option, with its type, its default (the preset's) and its comment or
docstring entry in ``--help``; nested configs are ``--train-attack.steps``; numbers may be fractions (``8/255``);
dicts are JSON; ``--config RUN/config.json`` starts from a recorded run. The spellings of pyadvman 0.1
(``--train-attack-steps 10``, ``--compile off``, ``--train-sizes 500,2500``) keep working for one release with a
warning naming the new one.

Parsing goes through a mirror of each class without its checks; the class itself is built afterwards, so a wrong
value ends with the class's own message, naming the option (``--train-attack.steps must be an integer >= 0``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import io
import json
import logging
import re
import types
import typing
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any

import torch
import tyro
from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec, PrimitiveTypeInfo

from pyadvman.configs import config_class_of, default_of, field_types, with_changes

logger = logging.getLogger("pyadvman")
REGISTRY = ConstructorRegistry()
_CLI_TYPES = (bool, int, float, str, Path, type(None), dict)


class OptionError(ValueError):
    """A command line that the parser refuses (an unknown option, a value of the wrong type), in one line."""


def number(text: str) -> float:
    """A float written as a number or a fraction ("8/255").

    Raises:
        ValueError: anything else.
    """
    numerator, slash, denominator = text.partition("/")
    try:
        return float(numerator) / float(denominator) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a number or a fraction such as 8/255: {text!r}") from None


@REGISTRY.primitive_rule
def _float_rule(info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
    if info.type is not float:
        return None
    return PrimitiveConstructorSpec(nargs=1, metavar="FLOAT", instance_from_str=lambda args: number(args[0]),
                                    is_instance=lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
                                    str_from_instance=lambda x: [f"{x:g}"])


def integer(text: str) -> int:
    """An integer written in decimal ("1000", "-1").

    Raises:
        ValueError: anything else (``1e3``, ``2.5``).
    """
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be an integer, got {text!r}") from None
    if not -2**63 <= value < 2**63:
        raise ValueError(f"must be an integer of 64 bits (below 2**63 in magnitude), got {text}")
    return value


@REGISTRY.primitive_rule
def _int_rule(info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
    if info.type is not int:
        return None
    return PrimitiveConstructorSpec(nargs=1, metavar="INT", instance_from_str=lambda args: integer(args[0]),
                                    is_instance=lambda x: isinstance(x, int) and not isinstance(x, bool),
                                    str_from_instance=lambda x: [str(x)])


def path(text: str) -> Path:
    """A file or folder path; an empty one (an unset shell variable) would be the current directory.

    Raises:
        ValueError: an empty path.
    """
    if not text.strip():
        raise ValueError("must be a path, got an empty string (an unset shell variable?); write . for the "
                         "current directory")
    return Path(text)


@REGISTRY.primitive_rule
def _path_rule(info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
    if info.type is not Path:
        return None
    return PrimitiveConstructorSpec(nargs=1, metavar="PATH", instance_from_str=lambda args: path(args[0]),
                                    is_instance=lambda x: isinstance(x, Path), str_from_instance=lambda x: [str(x)])


def json_object(text: str) -> dict:
    """The JSON object given to an option such as ``--dataset-options '{"path": "my.npz"}'``.

    Raises:
        ValueError: text that is not a JSON object.
    """
    value, reason = None, ""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        reason = f" ({error})"
    except RecursionError:
        raise ValueError(f"must be a JSON object nested at most a few hundred levels deep, got one of "
                         f"{len(text)} characters nested deeper") from None
    if isinstance(value, dict):
        return value
    raise ValueError(f"must be a dict, as a JSON object such as '{{\"path\": \"my.npz\"}}', got {text!r}{reason}")


@REGISTRY.primitive_rule
def _dict_rule(info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
    if info.type is not dict and typing.get_origin(info.type) is not dict:
        return None
    return PrimitiveConstructorSpec(nargs=1, metavar="JSON", instance_from_str=lambda args: json_object(args[0]),
                                    is_instance=lambda x: isinstance(x, dict),
                                    str_from_instance=lambda x: [json.dumps(x)])


# --- help text ------------------------------------------------------------------------------------------------

@functools.cache
def field_help(cls: type | Callable) -> dict[str, str]:
    """Each field's documentation: its trailing ``# comment`` in the class body (configs) or the comment line
    above it, else its entry in the class docstring's Args section (attacks); a field whose values a registry
    names (the class attribute ``CHOICES``: field -> the registry) lists them."""
    helps: dict[str, str] = {}
    for klass in reversed(getattr(cls, "__mro__", ())):
        with contextlib.suppress(OSError, TypeError):
            above = ""  # a comment on the line above a field documents it too
            for line in inspect.getsource(klass).splitlines():
                code, _, comment = line.partition("  # ")
                name = code.strip().split(":", 1)[0]
                if ":" in code and name.isidentifier() and (comment or above):
                    helps[name] = (comment or above).strip()
                above = line.strip()[2:] if line.strip().startswith("# ") else ""
    doc = inspect.getdoc(cls) or ""
    for entry in re.split(r"\n\s{4}(?=[\w, ]+:)", doc.split("Args:", 1)[1].split("\n\n")[0]) if "Args:" in doc else []:
        names, _, text = entry.partition(":")
        for name in (n.strip() for n in names.split(",")):
            if name.isidentifier():
                helps.setdefault(name, " ".join(text.split()))
    return with_choices(helps, getattr(cls, "CHOICES", {}))


def with_choices(helps: dict[str, str], choices: dict[str, object]) -> dict[str, str]:
    """A copy of ``helps`` with, for each field of ``choices`` (field -> a registry or other iterable of names),
    the names it takes (a copy: :func:`field_help`'s dicts are cached)."""
    return {**helps, **{name: f"{helps.get(name, '')}; one of: {', '.join(names)}".lstrip("; ")
                        for name, names in choices.items()}}


# --- mirrors without checks -------------------------------------------------------------------------------------

def _cli_type(hint: object) -> object | None:
    """The type tyro parses for a field annotated ``hint``; None for fields the command line cannot give (models,
    tensors): a union drops its tensor members (``float | Tensor`` is a float)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not torch.Tensor]
        members = [_cli_type(m) for m in members]
        if any(m is None for m in members) or all(m is type(None) for m in members):
            return None
        return typing.Union[tuple(members)] if len(members) > 1 else members[0]
    if typing.get_origin(hint) in (tuple, typing.Literal, dict) or hint in _CLI_TYPES:
        return hint
    return None


def members(target: type | Callable) -> dict[str, tuple[object, object]]:
    """The settings of a dataclass (its fields) or of a function (its keyword parameters): name -> (resolved
    annotation, default or dataclasses.MISSING)."""
    hints = field_types(target) if is_dataclass(target) else typing.get_type_hints(target)
    if is_dataclass(target):
        return {f.name: (hints[f.name], f.default if f.default is not dataclasses.MISSING else
                         f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
                for f in fields(target)}
    return {p.name: (hints.get(p.name, object), p.default if p.default is not p.empty else dataclasses.MISSING)
            for p in inspect.signature(target).parameters.values()}


def defaults_of(target: type | Callable, **changes: object) -> types.SimpleNamespace:
    """The default settings of ``target`` with ``changes``, as an object whose attributes the mirrors read."""
    return types.SimpleNamespace(**{**{name: default for name, (_, default) in members(target).items()}, **changes})


@functools.cache
def lenient(cls: type | Callable) -> type:
    """A mirror of dataclass (or function) ``cls`` without its checks: the settings the command line can give,
    their help, nested configs mirrored too. Defaults are set per parse (:func:`mirror_of`)."""
    helps = field_help(cls)
    specs = []
    for name, (hint, _) in members(cls).items():
        nested = config_class_of(hint)
        kind = lenient(nested) if nested is not None else _cli_type(hint)
        if kind is None or name in getattr(cls, "NOT_OPTIONS", ()):
            continue
        specs.append((name, Annotated[kind, tyro.conf.arg(help=helps.get(name, ""))]))
    mirror = dataclasses.make_dataclass(f"{cls.__name__}Options", specs)
    mirror.__doc__ = (inspect.getdoc(cls) or "").split("\n\n")[0]
    mirror.original = cls
    return mirror


def mirror_of(cls: type | Callable, value: object) -> type:
    """The mirror of ``cls`` with ``value``'s attributes (a ``cls`` instance, or :func:`defaults_of`) as its
    defaults; a nested config that is None is left out (switch it on with one of its options, off with
    ``--name none``)."""
    base = lenient(cls)
    hints = {name: hint for name, (hint, _) in members(cls).items()}
    specs = []
    for f in fields(base):
        default = getattr(value, f.name)
        nested = config_class_of(hints[f.name])
        if nested is not None:
            if default is None:
                continue
            inner = mirror_of(nested, default)
            kind = Annotated[inner, tyro.conf.arg(help=field_help(cls).get(f.name, ""))]
            specs.append((f.name, kind, dataclasses.field(default_factory=inner)))
        else:
            specs.append((f.name, f.type, _default(default)))
    mirror = dataclasses.make_dataclass(base.__name__, specs)
    mirror.__doc__ = base.__doc__
    return mirror


def _default(value: object) -> dataclasses.Field:
    if isinstance(value, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(value)(value))
    return dataclasses.field(default=value)


def built_fields(cls: type | Callable, parsed: object) -> dict[str, object]:
    """The settings of ``cls`` that the mirror ``parsed`` describes, nested configs built field by field (so that
    their errors name the option) and those left out (None) as None.

    Raises:
        ConfigError: a nested config's own checks.
    """
    settings = members(cls)
    hints = {name: hint for name, (hint, _) in settings.items()}
    values = {}
    for f in fields(parsed):
        value = getattr(parsed, f.name)
        nested = config_class_of(hints[f.name])
        if nested is not None and is_dataclass(value):
            default = settings[f.name][1]
            value = with_changes(default if is_dataclass(default) else None, build_record(value), f.name, nested)
        values[f.name] = value
    for name, hint in hints.items():
        if name not in values and config_class_of(hint) is not None and name in fields_of(lenient(cls)):
            values[name] = None
    return values


def fields_of(mirror: type) -> set[str]:
    return {f.name for f in fields(mirror)}


def build(cls: type | Callable, parsed: object, **given: object) -> object:
    """``cls(**settings)`` for the mirror ``parsed`` (``given``: the settings the command line does not give, such
    as an attack's renderer).

    Raises:
        ConfigError / ValueError / TypeError: the class's own checks.
    """
    return cls(**built_fields(cls, parsed), **given)


def build_record(parsed: object) -> dict:
    """A parsed mirror as a dict (nested mirrors as dicts)."""
    return {f.name: build_record(v) if is_dataclass(v := getattr(parsed, f.name)) else v for f in fields(parsed)}


# --- parsing ----------------------------------------------------------------------------------------------------

def parse(prog: str, options: type, args: list[str], description: str = "") -> object:
    """``args`` parsed into the dataclass ``options`` (mirrors as fields) by tyro; ``--help`` prints and exits 0.

    Raises:
        OptionError: a command line the parser refuses, its message in one line.
    """
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return tyro.cli(options, args=args, prog=prog, description=description, registry=REGISTRY,
                            config=(tyro.conf.AvoidSubcommands,))
    except SystemExit as exit_:
        if exit_.code in (0, None):
            raise
        raise OptionError(_one_line(captured.getvalue())) from None


def _one_line(text: str) -> str:
    """tyro's boxed error message as one line: the message, without the box, its title (the first line) and the
    help hint (boxes are drawn in UTF-8 or, where the output is not UTF-8, in dashes)."""
    message = []
    for line in [line for line in text.splitlines() if line.strip()][1:]:
        line = line.strip().strip("│").strip()
        if not line or set(line) <= set("─-+|╭╮╰╯ "):
            continue
        if line.startswith(("For full helptext", "Argument helptext")):
            break
        message.append(line)
    text = " ".join(" ".join(message).split()) or "the command line could not be parsed"
    head, meant, suggestions = text.partition(" Perhaps you meant: ")
    if meant:  # the options tyro suggests, without their help
        options = dict.fromkeys(re.findall(r"--[\w.-]+", suggestions))
        return f"{head}; perhaps you meant: {', '.join(options)}"
    parsing = re.match(r"Error parsing (--[\w.-]+): (.*)", text)
    if parsing:  # "--epsilon must be ...", "--epochs: invalid literal for int() ..."
        return f"{parsing[1]} {parsing[2]}" if parsing[2].startswith("must ") else f"{parsing[1]}: {parsing[2]}"
    return text


def flattened(name: str, kind: type, help: str = "") -> tuple[str, object, dataclasses.Field]:
    """A field of a command's options whose own options appear without a prefix (``--epochs``, not
    ``--config.epochs``)."""
    return name, Annotated[kind, tyro.conf.arg(name="", help=help)], dataclasses.field(default_factory=kind)


def command_options(name: str, own: type, parts: dict[str, tuple[type, object]] | None = None,
                    choices: dict[str, object] | None = None) -> type:
    """The options of a command: the fields of the dataclass ``own`` (``--out``, ``--resume``, ...), their help
    listing the names that ``choices`` gives a field (e.g. a registry), and, for each part (field name ->
    (class, default instance)), the class's options without a prefix."""
    hints = typing.get_type_hints(own, include_extras=True)
    helps = with_choices(field_help(own), choices or {})
    specs = [(f.name, Annotated[hints[f.name], tyro.conf.arg(help=helps.get(f.name, ""))], f) for f in fields(own)]
    for field_name, (cls, value) in (parts or {}).items():
        specs.append(flattened(field_name, mirror_of(cls, value)))
    return dataclasses.make_dataclass(name, specs)


# --- spellings of pyadvman 0.1 ------------------------------------------------------------------------------------

def option(name: str) -> str:
    """The option of a field path (``train_attack.steps`` -> ``--train-attack.steps``)."""
    return "--" + name.replace("_", "-")


def upgrade_args(args: list[str], classes: list[type | Callable],
                 renamed: dict[str, Callable[[str], list[str]]] | None = None) -> list[str]:
    """``args`` with pyadvman 0.1's spellings written as today's, each with a warning: nested options with a dash
    (``--train-attack-steps`` -> ``--train-attack.steps``), ``renamed`` options (old option -> a function of its
    value giving the new tokens), comma-separated tuples (``--train-sizes 500,2500``), booleans with a value
    (``--epoch-checkpoints true``) and ``none`` for None."""
    renamed = dict(renamed or {})
    kinds: dict[str, object] = {}
    for cls in classes:
        for name, (hint, _) in members(cls).items():
            nested = config_class_of(hint)
            if nested is None:
                kinds[option(name)] = hint
                continue
            for sub, sub_hint in field_types(nested).items():
                kinds[option(f"{name}.{sub}")] = sub_hint
                renamed.setdefault(option(f"{name}_{sub}"), lambda value, new=option(f"{name}.{sub}"): [new, value])
    out, i = [], 0
    while i < len(args):
        token = args[i]
        if token in renamed and i + 1 < len(args):
            new = renamed[token](args[i + 1])
            logger.warning("%s %s is the spelling of pyadvman 0.1 (removed in 0.3): write %s", token, args[i + 1],
                           " ".join(new))
            args = [*args[:i], *new, *args[i + 2:]]
            token = args[i]
        hint = kinds.get(token)
        if hint is not None and i + 1 < len(args):
            value = args[i + 1]
            if hint is bool and value.lower() in ("1", "0", "true", "false", "yes", "no"):
                out.append(token if value.lower() in ("1", "true", "yes") else "--no-" + token[2:])
                i += 2
                continue
            if value.lower() == "none" and "None" in str(hint):
                out += [token, "None"]
                i += 2
                continue
            if "tuple" in str(hint) and "," in value and not value.startswith("["):
                out += [token, *(v.strip() for v in value.split(",") if v.strip())]
                i += 2
                continue
        out.append(token)
        i += 1
    return out


def take_option(args: list[str], name: str, default: Any = None) -> Any:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in args (the last one, as the parser reads them), without
    removing it; ``default`` when absent."""
    value = default
    for i, token in enumerate(args):
        if token == name and i + 1 < len(args):
            value = args[i + 1]
        elif token.startswith(name + "="):
            value = token.split("=", 1)[1]
    return value


def switch_nested(args: list[str], cfg: object) -> tuple[list[str], object]:
    """``--name none`` for a nested config (``--validation-attack none``) sets it to None and is removed from args;
    an option of a nested config that is None (``--validation-attack.steps 5``) starts it from the field's
    default (its class's defaults where that is None too). Returns (args, cfg)."""
    changes, out, i = {}, [], 0
    nested = {option(f.name): (f.name, config_class_of(t)) for f in fields(cfg)
              if config_class_of(t := field_types(type(cfg))[f.name]) is not None}
    while i < len(args):
        if args[i] in nested and i + 1 < len(args) and args[i + 1].lower() == "none":
            changes[nested[args[i]][0]] = None
            i += 2
            continue
        prefix = args[i].split(".", 1)[0]
        if prefix in nested and "." in args[i] and getattr(cfg, nested[prefix][0]) is None:
            name, kind = nested[prefix]
            changes.setdefault(name, default_of(type(cfg), name) or kind())
        out.append(args[i])
        i += 1
    return out, dataclasses.replace(cfg, **changes) if changes else cfg
