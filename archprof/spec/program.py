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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archprof.errors import SpecError
from archprof.ir.graph import INPUT, Cost, Expectation, Graph, Liveness, Node, liveness
from archprof.ir.ops import Op, Shape, numel
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
        seen = shape_vars(shapes[0])
        return tuple(seen[v] for v in what)
    return projection(shapes[0], shapes[1])


@dataclass(frozen=True)
class Program:
    """The expansion of one spec with the parameters its rows read: nodes as (name, op,
    inputs, line, inplace flag, `inplace: true` as written), the guards checked before each
    node (and after the last), expectations."""
    spec: Spec
    nodes: tuple[tuple[str, Op, list[str], int | None, bool, bool], ...]
    checks: dict[int, list[Guard]]
    expectations: tuple[Expectation, ...]
    max_elements: int
    liveness: Liveness        # the same wiring and in-place flags in every replay

    @classmethod
    def of(cls, graph: Graph, guards: list[Guard], written: dict[str, bool],
           max_elements: int) -> Program:
        checks: dict[int, list[Guard]] = {}
        for guard in guards:
            checks.setdefault(guard[0], []).append(guard)
        return cls(graph.spec,
                   tuple((n.name, n.op, n.inputs, n.line, n.inplace, written.get(n.name, False))
                         for n in graph.nodes),
                   checks, tuple(graph.expectations), max_elements, liveness(graph))

    def run(self, input: Shape, params: dict[str, Any]) -> Graph | None:
        """The graph for another input shape (and parameters the rows do not read), or None
        where a decision or a rule differs."""
        shapes: dict[str, Shape] = {INPUT: input}
        checks, nodes = self.checks, []
        for k, (name, op, inputs, line, inplace, written) in enumerate(self.nodes):
            if k in checks and not _hold(checks[k], shapes):
                return None
            ins = [shapes[i] for i in inputs]
            made = _rule(op, ins, self.max_elements)
            if made is None or (written and numel(made[0]) != numel(ins[0])):
                return None
            shapes[name] = made[0]
            nodes.append(Node(name, op, inputs, ins, made[0], line, inplace, made[1]))
        end = len(self.nodes)       # a decision after the last node (a final row switched off)
        if end in checks and not _hold(checks[end], shapes):
            return None
        graph = Graph(self.spec, input, params)
        graph.extend(nodes)
        graph.expectations = [Expectation(e.path, e.line, e.nodes, dict(e.values))
                              for e in self.expectations]
        graph.liveness = self.liveness
        return graph


def _hold(guards: list[Guard], shapes: dict[str, Shape]) -> bool:
    return all(decide(kind, what, [shapes[n] for n in names]) == expected
               for _, kind, what, names, expected in guards)


def _rule(op: Op, ins: list[Shape], limit: int) -> tuple[Shape, Cost] | None:
    """The op's output shape and counts on these inputs; None where the rule refuses them or
    they exceed the size limit (the full expansion then says why)."""
    key = (id(op), *ins)
    hit = memo.RULES.get(key)
    if hit is not None:
        return hit
    try:
        out = op.shape(ins)
    except SpecError:
        return None
    node = Node("", op, [], ins, out)
    cost = node.counts()
    if numel(out) > limit or cost[0] > limit:
        return None
    memo.RULES.put(key, op, (out, cost))
    return out, cost
