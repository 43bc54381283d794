"""Memoisation of expansion, keyed by exactly what a result depends on.

Process-wide tables, all filled by the ordinary expansion code:
- the ops a layer row makes depend on the row and the values of the names its fields read,
  and ops of equal value are one object (`canonical`);
- the nodes a block makes depend on the block, the values of the names its rows (and the
  blocks it uses) read, and the shapes of its inputs. ResNet-152 has 30 identical bottlenecks
  in one stage: the first is expanded, the others are copies under their own names; a block
  call (its row, the values of the names it and its blocks read in the calling scope, its
  inputs' shapes) leads to the same copy without evaluating its arguments and let again;
- a spec's whole expansion with given parameters, compiled for other input shapes
  (archprof.spec.program; a draft for the latest variants, until a second input shape
  asks), the shape and counts of each op on each input shape it met (read and filled by
  full expansions and replays alike), and those of each block's nodes on each input shape
  a copy of the block met;
- an expanded graph's in-place flags and liveness depend on its wiring alone (names, inputs,
  each op's in-place kind, `inplace:` rows), which variants differing in widths share; a
  block's nodes stand in that key as one number for its wiring (`token`), its first name and
  its inputs.

A key holds the values' types as well (True, 1 and 1.0 are equal but parse differently), and
each entry keeps its row or block definition alive, so that the `id()` in its key cannot be
reused by another object while the entry exists. `enabled(False)` turns every table off (the
tests compare both ways for every network).
"""
from __future__ import annotations

import dataclasses
import functools
import gc
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
T = TypeVar("T")
LIMIT = 50_000          # entries per table; a full table is emptied (sweeps of many variants)


_TABLES: list[Table] = []


class Table:
    def __init__(self, limit: int = LIMIT) -> None:
        self.entries: dict[tuple, tuple[Any, Any]] = {}
        self.limit = limit
        _TABLES.append(self)    # `clear` empties every table

    def get(self, key: tuple) -> Any:
        if not _on:
            return None
        try:
            hit = self.entries.get(key)
        except TypeError:       # a value that cannot be hashed (a nested list): not memoised
            return None
        return None if hit is None else hit[1]

    def put(self, key: tuple, owner: Any, value: Any) -> None:
        if not _on:
            return
        if len(self.entries) >= self.limit:
            self.entries.clear()
        try:
            self.entries[key] = (owner, value)
        except TypeError:
            pass

    def drop(self, key: tuple) -> None:
        if not _on:
            return
        try:
            self.entries.pop(key, None)
        except TypeError:
            pass


class PerObject(Generic[T]):
    """What is worked out from one object of a spec (a row, a block definition), once while
    the object lives: keyed by its id, each entry keeps the object alive so that its id
    cannot be reused by another. Derived forms, not results: kept whether memoisation is on."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[Any, T]] = {}

    def get(self, owner: Any) -> T | None:
        hit = self.entries.get(id(owner))
        return hit[1] if hit is not None and hit[0] is owner else None

    def put(self, owner: Any, value: T) -> T:
        if len(self.entries) >= LIMIT:
            self.entries.clear()
        self.entries[id(owner)] = (owner, value)
        return value


ROW_OPS = Table()
BLOCKS = Table()
CALLS = Table()         # (block row, values its names have, input shapes) -> what BLOCKS gave
PROGRAMS = Table(512)   # archprof.spec.program: a spec's expansion for other input shapes
                        # (a whole network each: fewer of them)
DRAFTS = Table(16)      # the latest variants' Drafts, from which a second input shape makes a
                        # Program: each holds its graph's nodes, which a sweep over parameters
                        # (few second shapes) would otherwise keep by the hundred, for the
                        # collector to walk once it runs again
RULES = Table()         # (op, input shapes) -> (output shape, counts): program.rule
OPS = Table()           # an op's value -> the one op object of that value (`canonical`)
WIRINGS = Table(512)    # an expanded graph's wiring -> its in-place flags and liveness
                        # (archprof.spec.expand: a whole network each)
SEGMENTS = Table(4096)  # (block recording, input shapes) -> its nodes' shapes and counts
                        # (kilobytes each; a sweep reuses them within a variant, seldom across)
TOKENS = Table()        # a value -> its number (`token`)
_NAMES: PerObject[tuple[str, ...]] = PerObject()
_BLOCK_NAMES: PerObject[tuple[str, ...]] = PerObject()
_on = True


@contextmanager
def enabled(on: bool) -> Iterator[None]:
    """Turn memoisation on or off within a `with` block."""
    global _on
    before, _on = _on, on
    try:
        yield
    finally:
        _on = before


def active() -> bool:
    """Whether memoisation is on (see `enabled`)."""
    return _on


def clear() -> None:
    for table in _TABLES:
        table.entries.clear()
    _NAMES.entries.clear()
    _BLOCK_NAMES.entries.clear()


def canonical(op: T) -> T:
    """The one op object of this value (type and fields, with the fields' types). Equal ops
    are then the same object, so the rule table, keyed on an op's identity, serves all of
    them: every ReLU, VGG-16's conv5_1 to conv5_3, a DenseNet's identical BatchNorms."""
    kind: type = type(op)
    values = [getattr(op, name) for name in _fields(kind)]
    key = (kind, *map(type, values), *values)
    hit = OPS.get(key)
    if hit is not None:
        return hit
    OPS.put(key, op, op)
    return op


@functools.cache
def _fields(cls: type) -> tuple[str, ...]:
    """The fields that make an op's value (those its `==` compares)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.compare)


_COUNT = itertools.count()


def token(value: tuple) -> int:
    """A number that equal values share: a short stand-in for a long value in other keys
    (a block's wiring in a whole network's). Never given to another value: a cleared table
    costs a miss, not a wrong hit."""
    hit = TOKENS.get(value)
    if hit is None:
        hit = next(_COUNT)
        TOKENS.put(value, None, hit)
    return hit


def names_in(value: Any) -> tuple[str, ...]:
    """Every identifier in every string value inside `value` (a row, a block definition): the
    names an expression in it could read, a superset that is safe to key on. Cached per object."""
    hit = _NAMES.get(value)
    if hit is not None:
        return hit
    found: set[str] = set()
    for text in strings_in(value):
        found.update(IDENTIFIER.findall(text))
    return _NAMES.put(value, tuple(sorted(found)))


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside `value`, each list or mapping walked once: YAML aliases share them,
    and an alias bomb (a list of nine references to a list of nine references to ...) is then
    walked in linear time."""
    todo: list[Any] = [value]
    seen: set[int] = set()
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, (dict, list)) and id(item) not in seen:
            seen.add(id(item))
            todo.extend(item.values() if isinstance(item, dict) else item)


def block_names(blocks: dict[str, Any], definition: dict[str, Any]) -> tuple[str, ...]:
    """The names a block's rows read from its scope: those in its layers and out, and all of
    those of every block they use (whose args and let are evaluated inside this block)."""
    return _reads(blocks, definition, (definition.get("layers"), definition.get("out")))


def network_names(blocks: dict[str, Any], layers: list[Any]) -> tuple[str, ...]:
    """The names a network's rows read (its parameters among them), with every block's: what
    its program is keyed on. But for the `repeat:` of a block row at the top, which the
    program reads itself (archprof.spec.program.Repeat): a name read there alone may change
    and the program still serve."""
    hit = _BLOCK_NAMES.get(layers)
    if hit is not None:
        return hit
    rows = [{k: v for k, v in row.items() if k != "repeat"}
            if isinstance(row, dict) and "block" in row else row
            for row in layers] if isinstance(layers, list) else layers
    return _reads(blocks, layers, (rows,))


def _reads(blocks: dict[str, Any], owner: Any, parts: tuple[Any, ...]) -> tuple[str, ...]:
    hit = _BLOCK_NAMES.get(owner)
    if hit is not None:
        return hit
    names = {name for part in parts for name in names_in(part)}
    seen: set[str] = set()
    todo = [n for n in names if n in blocks]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            inner = names_in(blocks[name])
            names.update(inner)
            todo.extend(n for n in inner if n in blocks)
    return _BLOCK_NAMES.put(owner, tuple(sorted(names)))


def env_key(names: tuple[str, ...], env: dict[str, Any]) -> tuple:
    """The values, with their types, of those of `names` that `env` binds (lists as tuples)."""
    key = []
    for name in names:      # a loop: a third cheaper than a generator expression
        if name in env:
            value = env[name]
            key.append((name, type(value), tuple(value) if isinstance(value, list) else value))
    return tuple(key)


class collector_paused:  # noqa: N801 - used as a function: `with collector_paused():`
    """The cyclic garbage collector off while specs are expanded and analysed: its passes walk
    these tables' long-lived objects (10^4-10^5 of them) again and again, a fifth of the time
    of a MobileNet sweep or of the zoo's first expansion, and expansion and analysis make
    almost no cycles (24 objects in 200 analyses), which the next pass afterwards collects.
    Reference counting frees all the rest. Restores the collector as it found it. A class, not
    a generator: entered once per expansion, a sweep's variant among them."""

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()
