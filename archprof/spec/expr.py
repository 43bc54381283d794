"""A tiny, safe evaluator for arithmetic on spec parameters (never Python's eval).

Accepted: numbers, parameter names, + - * / // %, unary -, comparisons, and/or/not,
`a if cond else b`, and calls to round, int, min, max, abs. Anything else (attributes,
subscripts, other calls, strings, lambdas, power) is rejected before evaluation.

Each expression text is parsed and compiled once into a tree of closures (specs repeat the
same few expressions in every block and every variant); evaluating it is then one call.
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
Names = Mapping[str, object]
Compiled = Callable[[Names], Number]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "round": round, "int": int, "min": min, "max": max, "abs": abs}


def evaluate(text: str, names: Names) -> Number:
    """Evaluate `text` with `names` bound; raise SpecError on anything outside the whitelist."""
    if len(text) > MAX_LENGTH:
        raise SpecError(f"expression longer than {MAX_LENGTH} characters")
    try:
        value = compiled(text)(names)
    except (ZeroDivisionError, TypeError, ValueError, OverflowError) as err:
        raise SpecError(f"expression '{text}': {err}") from None
    if isinstance(value, (int, float)) and abs(value) > MAX_MAGNITUDE:
        raise SpecError(f"expression '{text}' gives {value}, larger than {MAX_MAGNITUDE:.0e}")
    return value


@lru_cache(maxsize=4096)
def compiled(text: str) -> Compiled:
    """The expression as a function of the names it reads (parsed and compiled once)."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise SpecError(f"cannot parse expression '{text}'") from None
    return _compile(tree, text)


def first_apart(text: str, name: str) -> bool:
    """Whether `text` reads `name` (a repeat index, from 0) only compared with 0 (`i == 0`,
    `i > 0`): then it has one value for the first copy and one for every copy after it."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return False
    compared: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            pair = (node.left, node.comparators[0])
            if any(isinstance(a, ast.Name) and a.id == name and isinstance(b, ast.Constant)
                   and b.value == 0 and type(b.value) is int for a, b in (pair, pair[::-1])):
                compared.update(id(side) for side in pair)
    return all(id(node) in compared for node in ast.walk(tree)
               if isinstance(node, ast.Name) and node.id == name)


def _compile(node: ast.AST, text: str) -> Compiled:
    """One closure per syntax node. A node outside the whitelist compiles to a closure that
    raises, so that (as before compiling) only the branches actually evaluated can fail."""
    match node:
        case ast.Constant(value=value) if isinstance(value, (int, float)):
            return lambda names: value
        case ast.Name(id=name):
            return _name(name, text)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            inner = _compile(operand, text)
            return lambda names: -inner(names)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            inner = _compile(operand, text)
            return lambda names: not inner(names)
        case ast.BinOp(op=op, left=left, right=right) if type(op) in _BINARY:
            fn, lhs, rhs = _BINARY[type(op)], _compile(left, text), _compile(right, text)
            return lambda names: fn(lhs(names), rhs(names))
        case ast.BoolOp(op=op, values=values):
            parts = [_compile(v, text) for v in values]
            join = all if isinstance(op, ast.And) else any
            return lambda names: join(p(names) for p in parts)
        case ast.Compare(left=left, ops=ops, comparators=rights) if all(
                type(op) in _COMPARE for op in ops):
            return _compare(_compile(left, text),
                            [(_COMPARE[type(op)], _compile(r, text)) for op, r in zip(ops, rights)])
        case ast.IfExp(test=test, body=body, orelse=orelse):
            cond, yes, no = _compile(test, text), _compile(body, text), _compile(orelse, text)
            return lambda names: yes(names) if cond(names) else no(names)
        case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]) if fname in _FUNCTIONS:
            fn, parts = _FUNCTIONS[fname], [_compile(a, text) for a in args]
            return lambda names: fn(*(p(names) for p in parts))
    message = (f"'{ast.unparse(node)}' is not allowed in expression '{text}' "
               "(only numbers, parameter names, + - * / // %, comparisons, and/or/not, "
               "'a if c else b', round/int/min/max/abs)")

    def rejected(names: Names) -> Number:
        raise SpecError(message)
    return rejected


def _name(name: str, text: str) -> Compiled:
    def lookup(names: Names) -> Number:
        if name not in names:
            raise SpecError(f"unknown name '{name}' in expression '{text}'",
                            hint=did_you_mean(name, names))
        value = names[name]
        if not isinstance(value, (int, float)):
            raise SpecError(f"'{name}' is {short(value)}, not a number, in expression '{text}'")
        return value
    return lookup


def _compare(left: Compiled, pairs: list[tuple[Callable[[object, object], bool], Compiled]]
             ) -> Compiled:
    """A chain `a < b <= c`: every operand is evaluated, as the chain reads."""
    def chain(names: Names) -> Number:
        value, ok = left(names), True
        for op, right in pairs:
            rhs = right(names)
            ok, value = ok and op(value, rhs), rhs
        return ok
    return chain
