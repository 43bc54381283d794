"""Parsers for the values of spec fields. Each takes the raw YAML value and an evaluator for
expressions (strings are arithmetic on parameters) and returns a checked Python value."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import Field, fields
from typing import TYPE_CHECKING, Any

from archprof.errors import SpecError, short

if TYPE_CHECKING:
    from archprof.ir.ops import Op

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


def _tuple(value: Any, ev: Evaluate, item: Parser, sizes: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        if len(value) not in sizes:
            raise SpecError(f"expected {' or '.join(map(str, sizes))} numbers, got {short(value)}")
        return tuple(item(v, ev) for v in value)
    return (item(value, ev),) * sizes[0]


def pair(value: Any, ev: Evaluate) -> tuple[int, int]:
    """A size or stride: one positive number for both dimensions, or [h, w]."""
    h, w = _tuple(value, ev, positive, (2,))
    return h, w


def padding(value: Any, ev: Evaluate) -> tuple[int, int, int, int] | str:
    """Padding as (top, bottom, left, right): a number, [h, w], [top, bottom, left, right],
    or 'same' (output = ceil(input / stride), the extra pixel at the bottom/right, as TF does)."""
    if value == "same":
        return "same"
    pads = _tuple(value, ev, non_negative, (2, 4))
    return pads if len(pads) == 4 else (pads[0], pads[0], pads[1], pads[1])


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


PARSERS: dict[str, Parser] = {"positive": positive, "non_negative": non_negative, "pair": pair,
                              "padding": padding, "boolean": boolean, "number": number,
                              "fraction": fraction}


_SPEC_FIELDS: dict[type[Op], list[tuple[Field, str, Parser]]] = {}


def spec_fields(cls: type[Op]) -> list[tuple[Field, str, Parser]]:
    """(dataclass field, spec key, parser) of an op's fields that a spec row can set; the
    op's `head` field takes the row's op key. Computed once per op class."""
    if cls not in _SPEC_FIELDS:
        _SPEC_FIELDS[cls] = [(f, cls.kind if f.name == cls.head else f.name, PARSERS[f.metadata["spec"]])
                             for f in fields(cls) if "spec" in f.metadata]
    return _SPEC_FIELDS[cls]
