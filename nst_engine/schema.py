"""How a declared setting is read, checked, shown and described: the machinery behind settings.py.

A setting is declared once, as a dataclass field made with `setting(...)` whose annotation is its
type. `read_specs` completes each field's `Spec` from that type; `check` validates a value against it
(types before ranges, NaN and infinities refused, one message saying what is accepted);
`json_property` and `argparse_options` describe it to the service's clients and to the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType, Union, get_args, get_origin, get_type_hints

from nst_engine.errors import SettingsError
from nst_engine.gatys.layers import LAYER_NAMES

Layer = NewType("Layer", str)  # a VGG-19 layer name (gatys/layers.py)

SCOPES = ("job", "server")


@dataclass(frozen=True)
class Spec:
    """One setting's declaration; `kind`, `optional` and `default` are read from the dataclass field.

    `low`/`high` bound the value, or each element of a list/mapping/pair. `zero_ok`: 0 is allowed
    below `low` (size 0 = the content's size). `nonzero`: a list or mapping must not sum to zero.
    `flag`: whether the CLI gets a flag for it. Scope "server": set by `nst-engine serve`, never per job.
    """

    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    scope: str = "job"
    zero_ok: bool = False
    nonzero: bool = False
    flag: bool = True
    unit: str = ""  # "bytes": the CLI also reads sizes such as 300MiB, 6GiB, 1.5GB
    name: str = ""
    kind: str = ""
    optional: bool = False
    default: Any = None


def setting(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field carrying its `Spec` (mutable defaults are copied per instance)."""
    meta = {"spec": Spec(help, **spec)}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _kind(hint: Any) -> tuple[str, bool]:
    """('int'|'number'|'bool'|'choice'|'layer'|'numbers'|'layer_weights'|'int_pair', optional) of a type."""
    optional = False
    if get_origin(hint) is Union or type(hint).__name__ == "UnionType":
        members = [arg for arg in get_args(hint) if arg is not type(None)]
        optional, hint = True, members[0]
    origin, args = get_origin(hint), get_args(hint)
    if origin is list and args == (float,):
        return "numbers", optional
    if origin is dict and args == (Layer, float):
        return "layer_weights", optional
    if origin is tuple and args == (int, int):
        return "int_pair", optional
    simple = {bool: "bool", int: "int", float: "number", str: "choice", Layer: "layer"}
    return simple[hint], optional


def read_specs(cls: type) -> dict[str, Spec]:
    """The Specs of a dataclass whose fields were made with `setting`, completed from their types."""
    hints = get_type_hints(cls)
    specs: dict[str, Spec] = {}
    for f in dataclasses.fields(cls):
        kind, optional = _kind(hints[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        spec = dataclasses.replace(f.metadata["spec"], name=f.name, kind=kind, optional=optional, default=default)
        assert spec.scope in SCOPES and (kind != "choice" or spec.choices), f.name
        specs[f.name] = spec
    return specs


def expected(spec: Spec) -> str:
    """What a setting accepts, in words: the core of every error message and of the CLI's help."""
    span = _span(spec)
    items = "finite non-negative numbers" if spec.low == 0 and spec.high is None else f"finite numbers {span}"
    nonzero = ", not all zero" if spec.nonzero else ""
    words = {
        "int": f"an integer {span}",
        "number": f"a number {span}",
        "bool": "true or false",
        "choice": f"one of {', '.join(spec.choices)}",
        "layer": "a VGG-19 layer name such as conv4_2 or relu3_1",
        "numbers": f"a list of {items}{nonzero} (e.g. [0.7, 0.3])",
        "layer_weights": f"an object mapping VGG-19 layer names to {items}{nonzero} "
                         '(e.g. {"conv1_1": 0.5, "conv4_1": 0.5})',
        "int_pair": f"[width, height], two integers {span}",
    }[spec.kind]
    return f"0 or {words}" if spec.kind == "int" and spec.zero_ok else words


def _span(spec: Spec) -> str:
    def number(x: float) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    if spec.low is not None and spec.high is not None:
        return f"from {number(spec.low)} to {number(spec.high)}"
    return f"of at least {number(spec.low)}" if spec.low is not None else ""


def show(value: Any) -> str:
    """A value as JSON (how the service's clients wrote it), shortened."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check(spec: Spec, value: Any) -> Any:
    """The value, normalised (ints, floats, tuples), or SettingsError saying what `spec` accepts."""
    if value is None and spec.optional:
        return None
    problem = _problem(spec, value)
    if problem is not None:
        detail = f" ({problem})" if problem else ""
        raise SettingsError(f"{spec.name} must be {expected(spec)}, not {show(value)}{detail}.")
    if spec.kind == "number":
        return float(value)
    if spec.kind == "int":
        return int(value)
    if spec.kind == "numbers":
        return [float(v) for v in value]
    if spec.kind == "layer_weights":
        return {str(k): float(v) for k, v in value.items()}
    if spec.kind == "int_pair":
        return (int(value[0]), int(value[1]))
    return value


def _problem(spec: Spec, value: Any) -> str | None:
    """None when `value` is fine; else '' or a note on which part is wrong. Types before ranges."""
    kind = spec.kind
    if kind == "bool":
        return None if isinstance(value, bool) else ""
    if kind in ("choice", "layer"):
        allowed = spec.choices if kind == "choice" else LAYER_NAMES
        return None if isinstance(value, str) and value in allowed else ""
    if kind in ("int", "number"):
        return _scalar_problem(spec, value, integer=kind == "int")
    if kind == "numbers":
        if not isinstance(value, (list, tuple)) or not value:
            return ""
        items = [(f"item {i + 1}", v) for i, v in enumerate(value)]
    elif kind == "layer_weights":
        if not isinstance(value, Mapping) or not value:
            return ""
        names = LAYER_NAMES
        for key in value:
            if not isinstance(key, str) or key not in names:
                return f"{show(key)} is not a VGG-19 layer name"
        items = [(show(k), v) for k, v in value.items()]
    else:  # int_pair
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            return ""
        items = [("width", value[0]), ("height", value[1])]
    for where, item in items:
        problem = _scalar_problem(spec, item, integer=kind == "int_pair")
        if problem is not None:
            return f"{where} is {show(item)}"
    if spec.nonzero and sum(float(v) for _, v in items) <= 0:
        return "all are zero"
    return None


def _scalar_problem(spec: Spec, value: Any, integer: bool) -> str | None:
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        return ""
    try:
        if not math.isfinite(float(value)):
            return ""
    except OverflowError:  # an integer beyond any float
        return ""
    if spec.zero_ok and value == 0:
        return None
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        return ""
    return None


def json_property(spec: Spec) -> dict[str, Any]:
    bounds = {k: v for k, v in (("minimum", spec.low), ("maximum", spec.high)) if v is not None}
    scalar = {"type": "integer" if spec.kind in ("int", "int_pair") else "number", **bounds}
    prop: dict[str, Any] = {
        "int": scalar,
        "number": scalar,
        "bool": {"type": "boolean"},
        "choice": {"type": "string", "enum": list(spec.choices)},
        "layer": {"type": "string", "enum": list(LAYER_NAMES)},
        "numbers": {"type": "array", "items": scalar, "minItems": 1},
        "layer_weights": {"type": "object", "propertyNames": {"enum": list(LAYER_NAMES)},
                          "additionalProperties": scalar, "minProperties": 1},
        "int_pair": {"type": "array", "items": scalar, "minItems": 2, "maxItems": 2},
    }[spec.kind]
    if spec.kind == "int" and spec.zero_ok:
        prop = {"anyOf": [{"const": 0}, prop]}
    if spec.optional:
        prop = {"anyOf": [prop, {"type": "null"}]} if "type" not in prop else {
            **prop, "type": [prop["type"], "null"]}
    default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
    return {**prop, "description": f"{spec.help[0].upper()}{spec.help[1:]}.", "default": default}


def argparse_options(spec: Spec) -> dict[str, Any]:
    """`add_argument` options that parse what `spec` accepts (validation itself stays with `check`)."""
    if spec.kind == "bool":
        return {"action": argparse.BooleanOptionalAction}
    if spec.kind == "choice":
        return {"choices": spec.choices}
    if spec.unit == "bytes":
        return {"type": byte_size, "metavar": "SIZE"}
    return {
        "int": {"type": int, "metavar": "N"},
        "number": {"type": float, "metavar": "X"},
        "layer": {"metavar": "LAYER"},
        "numbers": {"type": float, "nargs": "+", "metavar": "W"},
        "layer_weights": {"type": layer_weight, "nargs": "+", "metavar": "LAYER=W"},
        "int_pair": {"type": int, "nargs": 2, "metavar": ("WIDTH", "HEIGHT")},
    }[spec.kind]


def layer_weight(text: str) -> tuple[str, float]:
    name, sep, weight = text.partition("=")
    try:
        if not sep:
            raise ValueError(text)
        return name.strip(), float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAYER=WEIGHT (e.g. conv1_1=0.2)") from None


def byte_size(text: str) -> int:
    """A CLI size: "300MiB", "6GiB", "1.5GB" or plain bytes (memory.parse_size's rules)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKmMgGtT]i?[bB]?|[bB])?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 300MiB, 6GiB, 1.5GB or a number of bytes")
    unit = (match.group(2) or "b").lower()
    factor = 1 if unit == "b" else (1024 if "i" in unit else 1000) ** ("kmgt".index(unit[0]) + 1)
    return int(float(match.group(1)) * factor)
