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

from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from archprof.errors import SpecError
from archprof.ir.graph import INPUT, Cost, Expectation, Graph, Liveness, Node, Run, counts
from archprof.ir.ops import OPS, Op, Shape, dims, numel
from archprof.spec import memo

if TYPE_CHECKING:
    from archprof.spec.load import Spec

# What a row's expressions see of its (first) input, by name: the size at `index` where the
# input has at least `rank` dimensions, else 1. cin = the first size; din, hin, win = the
# spatial sizes of a (C, D, H, W) / (C, H, W) / (C, W) map; fin = the last size (a linear
# row's in_features).
SHAPE_VARS: dict[str, tuple[int, int]] = {
    "cin": (0, 1), "din": (-3, 4), "hin": (-2, 3), "win": (-1, 2), "fin": (-1, 1)}


def shape_vars(s: Shape) -> dict[str, int]:
    """Every shape variable of an input of shape `s` (what a row's expressions see)."""
    return dict(zip(SHAPE_VARS, shape_values(s, tuple(SHAPE_VARS))))


def shape_values(s: Shape, names: tuple[str, ...]) -> tuple[int, ...]:
    """The values of these shape variables of an input of shape `s` (`shape_vars`' rule)."""
    return tuple([s[index] if len(s) >= rank else 1
                  for index, rank in map(SHAPE_VARS.__getitem__, names)])


def projection_stride(shape: Shape, target: Shape) -> tuple[int, ...] | None:
    """The smallest stride s with ceil(size / s) == target size in every spatial dimension of
    a (C, ...) map (1 to 3 of them), if any."""
    if len(shape) != len(target) or not 2 <= len(shape) <= 4:
        return None
    strides = tuple(-(-size // out) for size, out in zip(shape[1:], target[1:]))
    if any(-(-size // s) != out for size, out, s in zip(shape[1:], target[1:], strides)):
        return None
    return strides


def projection(shape: Shape, target: Shape) -> tuple[Any, ...]:
    """What a `proj:` shortcut decides from its input's and the branch's shapes."""
    if shape == target:
        return True, None, target[0]
    return False, projection_stride(shape, target), target[0]


# A decision made before the node at `position` was emitted: `kind` "vars" read the shape
# variables `what` of node `names[0]`; "proj" projected `names[0]` onto `names[1]`'s shape.
Guard = tuple[int, str, tuple[str, ...], tuple[str, ...], tuple[Any, ...]]
# The same decision in a program: kind, what, the places of those nodes' shapes in a replay
# (0: the network input, k + 1: node k) and the outcome.
Check = tuple[str, tuple[str, ...], tuple[int, ...], tuple[Any, ...]]
# The checks made at one position as a replay tests them, without a call per check: each
# shape variable read as (place, index, rank, value) (see SHAPE_VARS), each projection as
# (place, target's place, outcome).
Tests = tuple[tuple[tuple[int, int, int, int], ...], tuple[tuple[int, int, tuple[Any, ...]], ...]]


def _tests(checks: list[Check]) -> Tests:
    sizes: dict[tuple[int, int, int, int], None] = {}       # a dict: each test once, in order
    projections: dict[tuple[int, int, tuple[Any, ...]], None] = {}
    for kind, what, places, outcome in checks:
        if kind == "vars":
            for name, value in zip(what, outcome):
                index, rank = SHAPE_VARS[name]
                sizes[(places[0], index, rank, value)] = None
        else:
            projections[(places[0], places[1], outcome)] = None
    return tuple(sizes), tuple(projections)


# A top-level `repeat:` of a block row written as an expression, which a program replays for
# other parameter values: the expression, the count it gave and, where every copy after the
# first is made alike (the block compares `i` with 0 alone), the run (archprof.ir.graph.Run)
# of its last copies: the one folded, or one of none where the next copy would fold onto the
# last. Another count makes the same nodes, that run standing for more or fewer copies (none:
# no run); a row without it must give the same count.
Repeat = tuple[Any, int, Run | None]

# A block the expansion made: its nodes [start, end), the recording every copy of it shares
# (same ops, same wiring, its own guards: archprof.spec.expand) and the names of its inputs.
Instance = tuple[int, int, Any, tuple[str, ...]]


class Segment(NamedTuple):
    """A run of nodes (a piece of a program) that copies a block made more than once: on
    inputs of the same shapes every copy makes the same shapes and counts. `block`: one
    object that all copies share (their recording); `sources`: the places of its inputs."""
    block: object
    sources: tuple[int, ...]


@dataclass(frozen=True)
class Draft:
    """What a full expansion leaves for its program: the program is made from it when another
    input shape first asks for one (most variants of a parameter sweep never do). The nodes
    as expanded and their expectations, the expansion's guards, `inplace:` rows (node ->
    flag as written) and blocks made, the graph's liveness (the analysis needed it) and the
    copies folded onto its nodes, and the top-level repeats of blocks (`Repeat`)."""
    nodes: list[Node]
    expectations: list[Expectation]
    guards: list[Guard]
    written: dict[str, bool]
    instances: list[Instance]
    liveness: Liveness
    runs: tuple[Run, ...]
    repeats: tuple[Repeat, ...]
    max_elements: int


@dataclass(frozen=True)
class Program:
    """The expansion of one spec with the parameters its rows read, by position: per node its
    name, spec line, op and the places of its inputs in a replay's shapes (0: the network
    input, k + 1: node k), whether its output is a view or in-place result, the nodes written
    `inplace: true`, the checks made before each node (and after the last), the runs of nodes
    in order (`pieces`: a segment, see `Segment`, or nodes between segments), expectations,
    and the copies of blocks folded onto its nodes (archprof.ir.graph.Run: ResNet-152's 35
    identical bottlenecks in a stage are two, the second standing for 34), each replayed
    only where its nodes keep their input's shape, for as many copies as its top-level
    `repeat:` rows ask (`Repeat`: WRN's depths share one program). A replay makes the columns
    an analysis needs; the nodes when first asked for. Nothing in it depends on the process:
    archprof.spec.cache keeps it on disk (`portable`)."""
    names: tuple[str, ...]
    lines: tuple[int | None, ...]
    ops: tuple[Op, ...]
    inputs: tuple[tuple[int, ...], ...]
    inplace: tuple[bool, ...]
    written: frozenset[int]
    checks: dict[int, Tests]
    pieces: tuple[tuple[int, int, Segment | None], ...]
    expectations: tuple[Expectation, ...]
    liveness: Liveness        # the same wiring and in-place flags in every replay
    runs: tuple[Run, ...]
    repeats: tuple[Repeat, ...]
    max_elements: int

    @cached_property
    def flags(self) -> tuple[list[int], list[bool], list[Tests | None], dict[str, int]]:
        """What the replay loop reads per node beside its op and inputs: the op's id (its key
        in the rule table), `inplace: true` as written, and the checks made before it (and,
        last, those after the last node); then each node's place by name (a run's input)."""
        count = len(self.ops)
        written = [False] * count
        for k in self.written:
            written[k] = True
        tests: list[Tests | None] = [None] * (count + 1)
        for k, found in self.checks.items():
            tests[k] = found
        place = {INPUT: 0} | {name: k + 1 for k, name in enumerate(self.names)}
        return list(map(id, self.ops)), written, tests, place

    @classmethod
    def of(cls, draft: Draft) -> Program:
        nodes = draft.nodes
        place = {INPUT: 0} | {node.name: k + 1 for k, node in enumerate(nodes)}
        place_of = place.__getitem__
        checks: dict[int, list[Check]] = {}
        for at, kind, what, names, value in draft.guards:
            checks.setdefault(at, []).append((kind, what, tuple(map(place_of, names)), value))
        # list comprehensions, not generator expressions: cheaper
        return cls(tuple([n.name for n in nodes]), tuple([n.line for n in nodes]),
                   tuple([n.op for n in nodes]),
                   tuple([tuple(map(place_of, n.inputs)) for n in nodes]),
                   tuple([n.inplace for n in nodes]),
                   frozenset(place[name] - 1 for name, flag in draft.written.items() if flag),
                   {at: _tests(found) for at, found in checks.items()},
                   _pieces(len(nodes), draft.instances, place), tuple(draft.expectations),
                   draft.liveness, draft.runs, draft.repeats, draft.max_elements)

    def portable(self) -> tuple[Any, ...]:
        """The program as plain data, what archprof.spec.cache keeps on disk: each distinct op
        as its kind and fields and each node's op by number, a segment's block by number, an
        expectation's nodes as start and stop."""
        blocks: dict[int, int] = {}
        pieces = tuple((start, stop, None if s is None else (
            blocks.setdefault(id(s.block), len(blocks)), s.sources))
            for start, stop, s in self.pieces)
        expectations = tuple((e.path, e.line, e.nodes.start, e.nodes.stop, e.values)
                             for e in self.expectations)
        number: dict[int, int] = {}
        index = tuple(number.setdefault(id(op), len(number)) for op in self.ops)
        first = {id(op): op for op in self.ops}         # in the order they were numbered
        ops = tuple((op.kind, {f.name: getattr(op, f.name) for f in fields(op) if f.init})
                    for op in first.values())
        return (self.names, self.lines, (ops, index), self.inputs, self.inplace, self.written,
                self.checks, pieces, expectations, self.liveness, tuple(map(tuple, self.runs)),
                tuple((raw, count, tail and tuple(tail)) for raw, count, tail in self.repeats),
                self.max_elements)

    @classmethod
    def restore(cls, data: tuple[Any, ...]) -> Program:
        """The program `portable` gave (its ops made again by their registered classes, and
        made the process's canonical ones; each block a new object that its copies share); a
        ValueError, TypeError, KeyError or SpecError where the parts do not fit."""
        names, lines, (made, index), inputs, inplace, written, checks, pieces, expectations, \
            live, runs, repeats, limit = data
        count = len(names)
        if not count or any(len(column) != count
                            for column in (lines, index, inputs, inplace, live)):
            raise ValueError("a kept program's columns differ in length")
        if any(not 0 <= at <= count for at in checks):
            raise ValueError("a kept program checks past its end")
        folded = tuple(Run(*run) for run in runs)
        repeated = tuple((raw, n, tail and Run(*tail)) for raw, n, tail in repeats)
        if any(not 0 <= run.start < run.stop <= count or run.source not in (INPUT, *names)
               for run in (*folded, *(tail for _, _, tail in repeated if tail))):
            raise ValueError("a kept program folds copies past its end")
        ops = [memo.canonical(OPS[kind](**values)) for kind, values in made]
        blocks: dict[int, object] = {}
        return cls(names, lines, tuple(map(ops.__getitem__, index)), inputs, inplace, written,
                   checks, tuple((start, stop, None if s is None else Segment(
                       blocks.setdefault(s[0], object()), s[1]))
                       for start, stop, s in pieces),
                   tuple(Expectation(path, line, range(first, stop), values)
                         for path, line, first, stop, values in expectations),
                   live, folded, repeated, limit)

    def recounted(self, counts: list[int | None], limit: int) -> tuple[Run, ...] | None:
        """The runs for the counts its `repeats` give with other parameter values (None: not
        a count; the expansion says why), or None where the nodes would differ or exceed
        `limit`, counting folded ones."""
        if all(new == count for (_, count, _), new in zip(self.repeats, counts)):
            return self.runs
        runs = list(self.runs)
        for (_, count, tail), new in zip(self.repeats, counts):
            if new == count:
                continue
            if new is None or tail is None or tail.more + new - count < 0:
                return None
            if tail.more:
                runs.remove(tail)
            if tail.more + new - count:
                runs.append(tail._replace(more=tail.more + new - count))
        if len(self.names) + sum(r.more * (r.stop - r.start) for r in runs) > limit:
            return None
        return tuple(sorted(runs))      # in order of their nodes, as the expansion's

    def run(self, spec: Spec, input: Shape, params: dict[str, Any], runs: tuple[Run, ...]
            ) -> Graph | None:
        """The graph for another input shape and parameters the rows do not read, but for top-
        level repeat counts (`runs`: see `recounted`), or None where a decision or a rule
        differs."""
        shapes: list[Shape] = [input]       # the network input's, then each node's output's
        costs: list[Cost] = []
        tests = self.flags[2]
        for start, stop, segment in self.pieces:
            if segment is None:
                if not self._steps(start, stop, shapes, costs):
                    return None
                continue
            found = tests[start]
            if found is not None and not _hold(found, shapes):
                return None
            key = (id(segment.block), *map(shapes.__getitem__, segment.sources))
            hit = memo.SEGMENTS.get(key)
            if hit is None:
                if not self._steps(start, stop, shapes, costs):
                    return None
                memo.SEGMENTS.put(key, segment.block,
                                  (tuple(costs[start:]), tuple(shapes[start + 1:])))
            else:       # a copy on inputs seen before: its checks hold, its nodes are known
                costs.extend(hit[0])
                shapes.extend(hit[1])
        end = tests[-1]
        if end is not None and not _hold(end, shapes):     # a final row switched off
            return None
        place = self.flags[3]
        for run in runs:        # copies that keep their shapes
            if shapes[place[run.source]] != shapes[run.stop]:
                return None
        graph = Graph(spec, input, params)
        graph.expectations = list(self.expectations)
        graph.liveness = self.liveness
        graph.defer((self.ops, costs, self.inplace, runs), lambda: self._nodes(shapes, costs))
        graph.fold(runs)
        return graph

    def _nodes(self, shapes: list[Shape], costs: list[Cost]) -> list[Node]:
        names = (INPUT, *self.names)
        return [Node(name, op, [names[p] for p in places], [shapes[p] for p in places], out,
                     line, inplace, cost)
                for name, line, op, places, inplace, out, cost in zip(
                    self.names, self.lines, self.ops, self.inputs, self.inplace, shapes[1:],
                    costs)]

    def _steps(self, start: int, stop: int, shapes: list[Shape], costs: list[Cost]) -> bool:
        """Nodes start..stop-1 by their rules; False where a decision or a rule differs. The
        hot loop of a replay: the rule table is read directly (a program runs only while
        memoisation is on)."""
        rules, shape_at = memo.RULES.entries, shapes.__getitem__
        ids, flagged, tested, _ = self.flags
        for op, key, places, written, tests in zip(
                self.ops[start:stop], ids[start:stop], self.inputs[start:stop],
                flagged[start:stop], tested[start:stop]):
            if tests is not None and not _hold(tests, shapes):
                return False
            # `rule`'s key, made without a list of the inputs for an op of one input (most)
            hit = rules.get((key, shapes[places[0]]) if len(places) == 1
                            else (key, *map(shape_at, places)))
            if hit is not None:
                out, cost = hit[1]
            else:
                try:        # a refusal: the full expansion says why, with the row's line
                    out, cost = _work(op, list(map(shape_at, places)), self.max_elements)
                except SpecError:
                    return False
            if written and numel(out) != numel(shapes[places[0]]):
                return False
            shapes.append(out)
            costs.append(cost)
        return True


def _pieces(count: int, instances: list[Instance], place: dict[str, int]
            ) -> tuple[tuple[int, int, Segment | None], ...]:
    """Nodes 0..count-1 as runs: the largest blocks of which the program has two copies or
    more, none overlapping another (a stage made once holds bottlenecks made 35 times), and
    the nodes between them."""
    copies: dict[int, int] = {}
    for _, _, recording, _ in instances:
        copies[id(recording)] = copies.get(id(recording), 0) + 1
    pieces: list[tuple[int, int, Segment | None]] = []
    k = 0
    for start, stop, recording, sources in sorted(instances, key=lambda i: (i[0], -i[1])):
        if start >= k and copies[id(recording)] > 1 and stop > start:
            if start > k:
                pieces.append((k, start, None))
            pieces.append((start, stop, Segment(recording,
                                                tuple(map(place.__getitem__, sources)))))
            k = stop
    if k < count:
        pieces.append((k, count, None))
    return tuple(pieces)


def _hold(tests: Tests, shapes: list[Shape]) -> bool:
    """Whether these shapes take the decisions a program's checks recorded (`Tests`)."""
    sizes, projections = tests
    for place, index, rank, value in sizes:
        s = shapes[place]
        if (s[index] if len(s) >= rank else 1) != value:     # shape_vars' rule, inline
            return False
    for place, target, outcome in projections:
        if projection(shapes[place], shapes[target]) != outcome:
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
