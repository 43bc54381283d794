"""A tiny, safe evaluator for arithmetic on spec parameters (never Python's eval).

Accepted: numbers, parameter names, + - * / // %, unary -, comparisons, and/or/not,
`a if cond else b`, and calls to round, int, min, max, abs. Anything else (attributes,
subscripts, other calls, strings, lambdas, power) is rejected before evaluation.
"""
from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from archprof.errors import SpecError, did_you_mean, short

MAX_LENGTH = 200
MAX_MAGNITUDE = 10**15

Number = int | float | bool

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "round": round, "int": int, "min": min, "max": max, "abs": abs}


def evaluate(text: str, names: Mapping[str, object]) -> Number:
    """Evaluate `text` with `names` bound; raise SpecError on anything outside the whitelist."""
    if len(text) > MAX_LENGTH:
        raise SpecError(f"expression longer than {MAX_LENGTH} characters")
    try:
        value = _eval(_parse(text), names, text)
    except (ZeroDivisionError, TypeError, ValueError, OverflowError) as err:
        raise SpecError(f"expression '{text}': {err}") from None
    if isinstance(value, (int, float)) and abs(value) > MAX_MAGNITUDE:
        raise SpecError(f"expression '{text}' gives {value}, larger than {MAX_MAGNITUDE:.0e}")
    return value


@lru_cache(maxsize=4096)
def _parse(text: str) -> ast.AST:
    """Specs repeat the same few expressions in every block: parse each once."""
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise SpecError(f"cannot parse expression '{text}'") from None


def _eval(node: ast.AST, names: Mapping[str, object], text: str) -> Number:
    match node:
        case ast.Constant(value=value) if isinstance(value, (int, float)):
            return value
        case ast.Name(id=name):
            if name in ("True", "False"):
                return name == "True"
            if name not in names:
                raise SpecError(f"unknown name '{name}' in expression '{text}'",
                                hint=did_you_mean(name, names))
            bound = names[name]
            if not isinstance(bound, (int, float)):
                raise SpecError(f"'{name}' is {short(bound)}, not a number, in expression '{text}'")
            return bound
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_eval(operand, names, text)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, names, text)
        case ast.BinOp(op=op, left=left, right=right) if type(op) in _BINARY:
            return _BINARY[type(op)](_eval(left, names, text), _eval(right, names, text))
        case ast.BoolOp(op=op, values=values):
            results = (_eval(v, names, text) for v in values)
            return all(results) if isinstance(op, ast.And) else any(results)
        case ast.Compare(left=left, ops=ops, comparators=rights):
            current, ok = _eval(left, names, text), True
            for cmp, right_node in zip(ops, rights):
                if type(cmp) not in _COMPARE:
                    break
                rhs = _eval(right_node, names, text)
                ok, current = ok and _COMPARE[type(cmp)](current, rhs), rhs
            else:
                return ok
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body if _eval(test, names, text) else orelse, names, text)
        case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]) if fname in _FUNCTIONS:
            return _FUNCTIONS[fname](*(_eval(a, names, text) for a in args))
    raise SpecError(f"'{ast.unparse(node)}' is not allowed in expression '{text}' "
                    "(only numbers, parameter names, + - * / // %, comparisons, and/or/not, "
                    "'a if c else b', round/int/min/max/abs)")
