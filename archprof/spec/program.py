"""A spec's expansion compiled for other input shapes: the flat op list it made, replayed.

Expanding a spec interprets its rows: expressions, blocks, names, sugar. With the parameters
fixed, what that produces depends on the input shape only through a few decisions, each
recorded as a guard while expanding: a row that reads its input's shape (`cin`, `hin`, ...)
read those values, and a residual `add` with `proj:` found its inputs' shapes equal or not
(and the projection's stride). Another input shape that takes every decision the same way
yields the same ops on the same wiring, so the program only runs each op's shape rule on the
new shapes (the op rules are the same objects, asked the same questions). A guard that fails,
or a rule that refuses a shape, sends the caller back to a full expansion, which also reports
any error with its file, line and layer path.

Work in blocks, not ops: the copies of a block (same recording: same ops, wiring and guards)
make the same shapes and counts on inputs of the same shapes, so each block is worked out
once per input shapes and its copies reuse that. A replay makes what an analysis's totals
read (per node: op, counts, in-place flag); the Node objects are made when first asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from archprof.errors import SpecError
from archprof.ir.graph import INPUT, Cost, Expectation, Graph, Liveness, Node, counts, liveness
from archprof.ir.ops import Op, Shape, dims, numel
from archprof.spec import memo

if TYPE_CHECKING:
    from archprof.spec.load import Spec

SHAPE_VARS = frozenset({"cin", "din", "hin", "win", "fin"})


def shape_vars(s: Shape) -> dict[str, int]:
    """What a row's expressions see of its (first) input: cin = the first size, din, hin,
    win = the spatial sizes of a (C, D, H, W) / (C, H, W) / (C, W) map (1 where absent),
    fin = the last size (a linear row's in_features)."""
    return {"cin": s[0], "din": s[-3] if len(s) >= 4 else 1,
            "hin": s[-2] if len(s) >= 3 else 1, "win": s[-1] if len(s) >= 2 else 1,
            "fin": s[-1]}


def projection_stride(shape: Shape, target: Shape) -> tuple[int, int] | None:
    """The smallest stride s with ceil(size / s) == target size in both dimensions, if any."""
    if len(shape) != 3 or len(target) != 3:
        return None
    strides = tuple(-(-size // out) for size, out in zip(shape[1:], target[1:]))
    if any(-(-size // s) != out for size, out, s in zip(shape[1:], target[1:], strides)):
        return None
    return strides[0], strides[1]


def projection(shape: Shape, target: Shape) -> tuple[Any, ...]:
    """What a `proj:` shortcut decides from its input's and the branch's shapes."""
    if shape == target:
        return True, None, target[0]
    return False, projection_stride(shape, target), target[0]


# A decision made before the node at `position` was emitted: `kind` "vars" read the shape
# variables `what` of node `names[0]`; "proj" projected `names[0]` onto `names[1]`'s shape.
Guard = tuple[int, str, tuple[str, ...], tuple[str, ...], tuple[Any, ...]]


def decide(kind: str, what: tuple[str, ...], shapes: list[Shape]) -> tuple[Any, ...]:
    """The outcome of a guard's decision on these shapes (its names' shapes, in order)."""
    if kind == "vars":
        return tuple(map(shape_vars(shapes[0]).__getitem__, what))
    return projection(shapes[0], shapes[1])


# A block the expansion made: its nodes [start, end), the recording every copy of it shares
# (same ops, same wiring, its own guards: archprof.spec.expand) and the names of its inputs.
Instance = tuple[int, int, Any, tuple[str, ...]]


@dataclass(frozen=True)
class Segment:
    """Nodes [start, stop) that copy a block made more than once: on inputs of the same
    shapes every copy makes the same shapes and counts. `exports`: its nodes (position from
    start, name) that something after it reads."""
    stop: int
    recording: Any = field(repr=False)
    sources: tuple[str, ...]
    exports: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Program:
    """The expansion of one spec with the parameters its rows read: nodes as (name, op,
    inputs, line, inplace flag, `inplace: true` as written), the guards checked before each
    node (and after the last), expectations, and segments (see `Segment`), each worked out
    once per input shapes: ResNet-152's 35 identical bottlenecks in a stage are one, then 34
    copies. A replay makes the columns an analysis needs; the nodes when first asked for."""
    spec: Spec
    nodes: tuple[tuple[str, Op, list[str], int | None, bool, bool], ...]
    checks: dict[int, list[Guard]]
    expectations: tuple[Expectation, ...]
    max_elements: int
    liveness: Liveness        # the same wiring and in-place flags in every replay
    instances: list[Instance]     # the blocks and guards `pieces` is found from
    guards: list[Guard]

    @cached_property
    def ops(self) -> tuple[Op, ...]:
        """A column every replay shares (archprof.ir.graph.Columns)."""
        return tuple(node[1] for node in self.nodes)

    @cached_property
    def inplace(self) -> tuple[bool, ...]:
        """A column every replay shares: each output a view or an in-place result."""
        return tuple(node[4] for node in self.nodes)

    @cached_property
    def pieces(self) -> tuple[tuple[int, int, Segment | None], ...]:
        """The nodes in order as runs [start, stop): a segment, or nodes between segments.
        Found when first replayed (in a sweep of many parameter values most programs never
        are)."""
        pieces: list[tuple[int, int, Segment | None]] = []
        k = 0
        for start, segment in sorted(_segments(self.nodes, self.instances, self.guards).items()):
            if start > k:
                pieces.append((k, start, None))
            pieces.append((start, segment.stop, segment))
            k = segment.stop
        if k < len(self.nodes):
            pieces.append((k, len(self.nodes), None))
        return tuple(pieces)

    @cached_property
    def steps(self) -> tuple[tuple[str, int, Op, list[str], bool, list[Guard] | None], ...]:
        """What the replay loop reads per node: its name, its op's identity (the rule table's
        key) and op, its inputs, `inplace: true` as written, and the guards checked before it."""
        return tuple((name, id(op), op, inputs, written, self.checks.get(k))
                     for k, (name, op, inputs, _, _, written) in enumerate(self.nodes))

    @classmethod
    def of(cls, graph: Graph, guards: list[Guard], written: dict[str, bool],
           instances: list[Instance], max_elements: int) -> Program:
        checks: dict[int, list[Guard]] = {}
        for guard in guards:
            checks.setdefault(guard[0], []).append(guard)
        return cls(graph.spec,
                   tuple((n.name, n.op, n.inputs, n.line, n.inplace, written.get(n.name, False))
                         for n in graph.nodes),
                   checks, tuple(graph.expectations), max_elements, liveness(graph), instances,
                   guards)

    def run(self, input: Shape, params: dict[str, Any]) -> Graph | None:
        """The graph for another input shape (and parameters the rows do not read), or None
        where a decision or a rule differs."""
        shapes: dict[str, Shape] = {INPUT: input}
        checks = self.checks
        costs: list[Cost] = []
        made: list[tuple[Shape, ...]] = []       # per node: its input shapes, then its output
        for start, stop, segment in self.pieces:
            if segment is None:
                if not self._steps(start, stop, shapes, costs, made):
                    return None
                continue
            if start in checks and not _hold(checks[start], shapes):
                return None
            key = (id(segment.recording), *map(shapes.__getitem__, segment.sources))
            hit = memo.SEGMENTS.get(key)
            if hit is None:
                if not self._steps(start, stop, shapes, costs, made):
                    return None
                hit = (tuple(costs[start:]), tuple(made[start:]))
                memo.SEGMENTS.put(key, segment.recording, hit)
            else:       # a copy on inputs seen before: its guards hold, its nodes are known
                costs.extend(hit[0])
                made.extend(hit[1])
                for at, name in segment.exports:
                    shapes[name] = hit[1][at][-1]
        end = len(self.nodes)
        if end in checks and not _hold(checks[end], shapes):   # a final row switched off
            return None
        graph = Graph(self.spec, input, params)
        graph.expectations = list(self.expectations)
        graph.liveness = self.liveness
        graph.defer((self.ops, costs, self.inplace), lambda: [
            Node(name, op, inputs, list(m[:-1]), m[-1], line, inplace, cost)
            for (name, op, inputs, line, inplace, _), m, cost in zip(self.nodes, made, costs)])
        return graph

    def _steps(self, start: int, stop: int, shapes: dict[str, Shape], costs: list[Cost],
               made: list[tuple[Shape, ...]]) -> bool:
        """Nodes start..stop-1 by their rules; False where a decision or a rule differs. The
        hot loop of a replay: the rule table is read directly (a program runs only while
        memoisation is on)."""
        rules, shape_of = memo.RULES.entries, shapes.__getitem__
        for name, key, op, inputs, written, guards in self.steps[start:stop]:
            if guards is not None and not _hold(guards, shapes):
                return False
            ins = list(map(shape_of, inputs))
            hit = rules.get((key, *ins))
            if hit is not None:
                out, cost = hit[1]
            else:
                try:        # a refusal: the full expansion says why, with the row's line
                    out, cost = _work(op, ins, self.max_elements)
                except SpecError:
                    return False
            if written and numel(out) != numel(ins[0]):
                return False
            shapes[name] = out
            costs.append(cost)
            made.append((*ins, out))
        return True


def _segments(nodes: tuple[tuple[str, Op, list[str], int | None, bool, bool], ...],
              instances: list[Instance], guards: list[Guard]) -> dict[int, Segment]:
    """The largest blocks of which the program has two copies or more, none overlapping
    another (a stage made once holds bottlenecks made 35 times)."""
    copies: dict[int, int] = {}
    for _, _, recording, _ in instances:
        copies[id(recording)] = copies.get(id(recording), 0) + 1
    chosen, reached = [], 0
    for start, stop, recording, sources in sorted(instances, key=lambda i: (i[0], -i[1])):
        if start >= reached and copies[id(recording)] > 1 and stop > start:
            chosen.append((start, stop, recording, sources))
            reached = stop
    # what is read after each node: by later nodes' inputs and by the guards of later rows
    last_read: dict[str, int] = {}
    for k, (_, _, inputs, _, _, _) in enumerate(nodes):
        for name in inputs:
            last_read[name] = k
    for at, _, _, names, _ in guards:
        for name in names:
            last_read[name] = max(last_read.get(name, -1), at)
    segments = {}
    for start, stop, recording, sources in chosen:
        exports = tuple((k - start, nodes[k][0]) for k in range(start, stop)
                        if last_read.get(nodes[k][0], -1) >= stop)
        segments[start] = Segment(stop, recording, sources, exports)
    return segments


def _hold(guards: list[Guard], shapes: dict[str, Shape]) -> bool:
    for _, kind, what, names, expected in guards:
        if decide(kind, what, list(map(shapes.__getitem__, names))) != expected:
            return False
    return True


def rule(op: Op, ins: list[Shape], limit: int) -> tuple[Shape, Cost]:
    """The op's output shape and counts on these inputs: from the rule table, else worked out
    and kept there (every producer of a spec's nodes asks here: a full expansion and a
    replay); a SpecError where the rule refuses them or they exceed `limit` elements."""
    hit = memo.RULES.get((id(op), *ins))
    return hit if hit is not None else _work(op, ins, limit)


def _work(op: Op, ins: list[Shape], limit: int) -> tuple[Shape, Cost]:
    """`rule` on inputs the table does not hold."""
    out = op.shape(ins)
    cost = counts(op, ins, out)
    if cost[5] > limit or cost[0] > limit:      # output elements, parameters
        raise SpecError(f"{op.kind} output {dims(out)} or its parameters exceed {limit:,} "
                        "elements")
    memo.RULES.put((id(op), *ins), op, (out, cost))
    return out, cost
