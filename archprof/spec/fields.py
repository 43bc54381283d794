"""Parsers for the values of spec fields. Each takes the raw YAML value and an evaluator for
expressions (strings are arithmetic on parameters) and returns a checked Python value."""
from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import Field, fields
from typing import Any

from archprof.errors import SpecError, short
from archprof.ir.ops import EDGE_PADS, UPSAMPLE_MODES, Op

Evaluate = Callable[[Any], Any]
Parser = Callable[[Any, Evaluate], Any]
MAX_INTEGER = 2**31 - 1     # sizes, strides, counts: beyond this torch overflows (and no CNN needs it)


def _integer(value: Any, ev: Evaluate, what: str) -> int:
    value = ev(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{what} must be a number, got {short(value)}")
    if value != int(value):
        raise SpecError(f"{what} must be a whole number, got {value}")
    if abs(value) > MAX_INTEGER:
        raise SpecError(f"{what} {value:g} is out of range (at most {MAX_INTEGER:,})")
    return int(value)


def positive(value: Any, ev: Evaluate) -> int:
    n = _integer(value, ev, "value")
    if n <= 0:
        raise SpecError(f"value must be positive, got {n}")
    return n


def non_negative(value: Any, ev: Evaluate) -> int:
    n = _integer(value, ev, "value")
    if n < 0:
        raise SpecError(f"value must not be negative, got {n}")
    return n


def _integers(value: Any, ev: Evaluate, item: Parser, sizes: range) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) not in sizes:
        raise SpecError(f"expected a list of {sizes.start} to {sizes.stop - 1} numbers, "
                        f"got {short(value)}")
    return tuple(item(v, ev) for v in value)


def sizes(value: Any, ev: Evaluate) -> int | tuple[int, ...]:
    """A kernel size, stride or dilation: one positive number for every spatial dimension,
    or a list with one per dimension ([h, w])."""
    value = ev(value) if isinstance(value, str) else value
    return _integers(value, ev, positive, range(1, 4)) if isinstance(value, list) \
        else positive(value, ev)


def non_negative_sizes(value: Any, ev: Evaluate) -> int | tuple[int, ...]:
    value = ev(value) if isinstance(value, str) else value
    return _integers(value, ev, non_negative, range(1, 4)) if isinstance(value, list) \
        else non_negative(value, ev)


def padding(value: Any, ev: Evaluate) -> int | tuple[int, ...] | str:
    """Padding: a number for every side, one per spatial dimension ([h, w]), (before, after)
    per dimension ([top, bottom, left, right]), or 'same' (output = ceil(input / stride), the
    extra pixel at the end, as TF does). The op checks the count against its input's rank."""
    if value == "same":
        return "same"
    value = ev(value) if isinstance(value, str) else value
    return _integers(value, ev, non_negative, range(1, 7)) if isinstance(value, list) \
        else non_negative(value, ev)


def integer(value: Any, ev: Evaluate) -> int:
    """A whole number, negative allowed (a dimension counted from the end, a slice bound)."""
    return _integer(value, ev, "value")


def integers(value: Any, ev: Evaluate) -> tuple[int, ...]:
    """A list of whole numbers (dimension indices: permute, transpose)."""
    return _integers(value, ev, integer, range(1, 9))


def shape(value: Any, ev: Evaluate) -> tuple[int, ...]:
    """A per-sample shape: a list of positive sizes, or '197x768'; one size may be -1."""
    if isinstance(value, str) and "x" in value:
        value = value.split("x")
    sizes = _integers(value if isinstance(value, list) else [value], ev, integer, range(1, 9))
    if any(v == 0 or v < -1 for v in sizes):
        raise SpecError(f"sizes must be positive (or -1: inferred), got {list(sizes)}")
    return sizes


def pads(value: Any, ev: Evaluate) -> tuple[int, ...]:
    """F.pad amounts: (before, after) of the last dimension, then of the one before, ..."""
    return _integers(value if isinstance(value, list) else [value, value], ev, non_negative,
                     range(1, 9))


def _mode(modes: Collection[str]) -> Parser:
    """A `mode:` word among `modes`."""
    def parse(value: Any, ev: Evaluate) -> str:
        if value not in modes:
            raise SpecError(f"mode must be one of {', '.join(modes)}, got {short(value)}")
        return str(value)
    return parse


upsample_mode, edge_pad = _mode(UPSAMPLE_MODES), _mode(EDGE_PADS)


def nonlinearity(value: Any, ev: Evaluate) -> str:
    """An RNN's nonlinearity, a word as torch names it: tanh or relu."""
    if value not in ("tanh", "relu"):
        raise SpecError(f"nonlinearity must be tanh or relu, got {short(value)}")
    return str(value)


def boolean(value: Any, ev: Evaluate) -> bool:
    value = ev(value)
    if not isinstance(value, (bool, int)):
        raise SpecError(f"expected true or false, got {short(value)}")
    return bool(value)


def number(value: Any, ev: Evaluate) -> float:
    value = ev(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"expected a number, got {short(value)}")
    return float(value)


def fraction(value: Any, ev: Evaluate) -> float:
    p = number(value, ev)
    if not 0 <= p < 1:
        raise SpecError(f"expected a probability in [0, 1), got {p}")
    return p


PARSERS: dict[str, Parser] = {
    "positive": positive, "non_negative": non_negative, "sizes": sizes,
    "non_negative_sizes": non_negative_sizes, "padding": padding, "boolean": boolean,
    "number": number, "fraction": fraction, "integer": integer, "integers": integers,
    "shape": shape, "pads": pads, "upsample_mode": upsample_mode, "edge_pad": edge_pad,
    "nonlinearity": nonlinearity}


_SPEC_FIELDS: dict[type[Op], list[tuple[Field, str, Parser]]] = {}


def spec_fields(cls: type[Op]) -> list[tuple[Field, str, Parser]]:
    """(dataclass field, spec key, parser) of an op's fields that a spec row can set; the
    op's `head` field takes the row's op key. Computed once per op class."""
    if cls not in _SPEC_FIELDS:
        _SPEC_FIELDS[cls] = [(f, cls.kind if f.name == cls.head else f.name, PARSERS[f.metadata["spec"]])
                             for f in fields(cls) if "spec" in f.metadata]
    return _SPEC_FIELDS[cls]
