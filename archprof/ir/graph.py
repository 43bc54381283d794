"""The IR: a flat, named DAG of primitive ops with their input and output shapes.

Producers build it (archprof.spec expands a YAML spec; a tracer records a torch module);
consumers read it (analysis, model building, checks, figures). It knows nothing of how it was
produced: `source` describes the network (name, title, paper, accuracy, ...) for display.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from archprof.ir.ops import Op, Shape, numel

if TYPE_CHECKING:
    from archprof.spec.load import Spec

INPUT = "input"


Cost = tuple[int, int, int, int, int, int]
# per node, the nodes whose memory is freed once it has run (-1: the network input)
Liveness = tuple[tuple[int, ...], ...]


@dataclass(slots=True)
class Node:
    name: str
    op: Op
    inputs: list[str]
    ins: list[Shape]           # the inputs' shapes; a traced op then lists its other operands'
                               # (parameters, buffers, scalars as ()) that its cost depends on
    out: Shape
    line: int | None = None
    inplace: bool = False      # the output shares memory with inputs[0] (view or in-place op)
    cost: Cost | None = None   # see counts(); the copies of a repeated block share one

    def counts(self) -> Cost:
        """See `counts`, asked of the op's rule once."""
        if self.cost is None:
            self.cost = counts(self.op, self.ins, self.out)
        return self.cost


def counts(op: Op, ins: list[Shape], out: Shape) -> Cost:
    """An op's params, weights, buffers, MACs, other ops and output elements per sample on
    these shapes (an in-place or view output allocates none of those elements: the analysis
    reads the node's `inplace` for that)."""
    return (op.params(ins, out), op.weights(ins, out), op.buffers(ins, out), op.macs(ins, out),
            op.other(ins, out), numel(out))


@dataclass(frozen=True)
class Expectation:
    """Figures a spec row copies from the paper, checked against the nodes the row made
    (never changed once made: every replay of a spec shares its program's)."""
    path: str
    line: int | None
    nodes: range
    values: dict[str, Any]


class Run(NamedTuple):
    """Copies of a block folded onto one of them: the nodes [start, stop) of a folded graph
    stand for themselves and `more` copies after them, each reading the one before (the first
    reads the nodes' output), named as they are with their copy's number: `prefix` + `unit` +
    its 1-based number + the rest of the name, the nodes being copy number `first`. Folded
    where the copies are one block on inputs of one shape, which it keeps (a stage's 35
    identical bottlenecks): each copy then has the same shapes, counts and in-place flags,
    starts with as much memory alive and frees what it made but its output, so the copies
    add to the totals `more` times the nodes' and leave the peak as it is. `source`: the name
    the nodes read from before them."""
    start: int
    stop: int
    more: int
    prefix: str
    unit: str
    first: int
    source: str


# Per node, in order: the op, its counts (Node.counts) and whether its output is a view or an
# in-place result; then the runs of nodes that stand for more copies (`Run`): all that totals
# and the peak need, without the Node objects.
Columns = tuple[Sequence[Op], Sequence[Cost], Sequence[bool], tuple[Run, ...]]


@dataclass
class Graph:
    spec: Spec   # what the graph describes: a spec, or a stand-in naming a traced module
    input: Shape
    params: dict[str, Any]
    # a traced forward's ops with MACs on parameters and buffers alone (a position-bias MLP):
    # work done once per forward whatever the batch, listed apart from the per-sample counts
    constant_work: dict[str, int] = field(default_factory=dict)
    # a traced node reading parameters an earlier node counted (a module called again, a tied
    # weight) -> that node: in training their weight gradients are summed into one
    shares: dict[str, str] = field(default_factory=dict)
    # when each tensor dies (`liveness`): it depends on the wiring and the
    # in-place flags only, so a spec's program computes it once for all its replays
    liveness: Liveness | None = None

    def __post_init__(self) -> None:
        self._nodes: list[Node] = []
        self._index: dict[str, Node] = {}
        self._expectations: list[Expectation] = []
        # a replayed program's nodes, made when first asked for: the totals of an analysis
        # need only its columns (archprof.spec.program)
        self._deferred: tuple[Columns, Callable[[], list[Node]]] | None = None
        # copies of blocks folded onto the nodes (`Run`), unfolded when the nodes are asked for
        self._runs: tuple[Run, ...] = ()

    @property
    def nodes(self) -> list[Node]:
        if self._deferred is not None or self._runs:
            self._make()
        return self._nodes

    @property
    def expectations(self) -> list[Expectation]:
        if self._deferred is not None or self._runs:
            self._make()
        return self._expectations

    @expectations.setter
    def expectations(self, value: list[Expectation]) -> None:
        self._expectations = value

    def _make(self) -> None:
        self.folded()
        runs, self._runs = self._runs, ()
        if runs:
            self._nodes, self._expectations = unfold(self._nodes, self._expectations, runs)
            self._index = {node.name: node for node in self._nodes}
            self.liveness = None    # the folded nodes': worked out again when asked for

    def defer(self, columns: Columns, make: Callable[[], list[Node]]) -> None:
        """The nodes are `make()`, called on first use; `columns` are theirs already."""
        self._deferred = (columns, make)

    def fold(self, runs: tuple[Run, ...]) -> None:
        """The nodes made so far (or deferred) stand for more copies of blocks (`Run`)."""
        self._runs = runs

    def folded(self) -> tuple[list[Node], list[Expectation], tuple[Run, ...]]:
        """The nodes and expectations as made, copies folded, and the runs that unfold them."""
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self._append(deferred[1]())
        return self._nodes, self._expectations, self._runs

    def columns(self) -> Columns:
        """What totals and the peak read, per node (a replay has them before its nodes), copies
        of blocks still folded."""
        if self._deferred is not None:
            return self._deferred[0]
        nodes = self._nodes
        return ([n.op for n in nodes], _counted(nodes), [n.inplace for n in nodes], self._runs)

    @property
    def output(self) -> str:
        return self.nodes[-1].name

    @property
    def outputs(self) -> list[str]:
        """The last node, then every other node nothing reads (e.g. auxiliary heads)."""
        readers = self.readers()
        return [self.output] + [n.name for n in self.nodes[:-1] if n.name not in readers]

    def readers(self) -> dict[str, int]:
        """How many times each node (or the input) is read."""
        readers: dict[str, int] = {}
        get = readers.get
        for node in self.nodes:
            for name in node.inputs:
                readers[name] = get(name, 0) + 1
        return readers

    def shape_of(self, name: str) -> Shape:
        return self.input if name == INPUT else self.node(name).out

    def node(self, name: str) -> Node:
        if self._deferred is not None or self._runs:
            self._make()
        return self._index[name]

    def add(self, node: Node) -> None:
        if self._deferred is not None or self._runs:
            self._make()
        self._nodes.append(node)
        self._index[node.name] = node

    def extend(self, nodes: list[Node]) -> None:
        if self._deferred is not None or self._runs:
            self._make()
        self._append(nodes)

    def _append(self, nodes: list[Node]) -> None:
        self._nodes.extend(nodes)
        self._index.update((node.name, node) for node in nodes)

    def __contains__(self, name: str) -> bool:
        if self._deferred is not None or self._runs:
            self._make()
        return name in self._index


def _counted(nodes: list[Node]) -> list[Cost]:
    """Each node's counts (`Node.counts`), worked out once per op on the same shapes: the
    copies of a block in a traced graph (its equal ops are one object: memo.canonical) count
    as the first did."""
    seen: dict[tuple, Cost] = {}
    costs: list[Cost] = []
    for node in nodes:
        cost = node.cost
        if cost is None:
            key = (id(node.op), node.out, *node.ins)
            cost = seen.get(key)
            if cost is None:
                cost = seen[key] = counts(node.op, node.ins, node.out)
            node.cost = cost
        costs.append(cost)
    return costs


def unfold(nodes: list[Node], expectations: list[Expectation], runs: tuple[Run, ...]
           ) -> tuple[list[Node], list[Expectation]]:
    """The nodes and expectations with every run's copies made (`Run`): after a run's nodes,
    its copies, each reading the one before; later nodes read the last copy. An expectation on
    a run's nodes holds for each copy; one on rows around them (the `repeat:` row's) covers the
    copies too. Nodes are new objects: the folded ones are left as they are."""
    out: list[Node] = []
    renamed: dict[str, str] = {}        # a run's output -> its last copy's
    copies: list[Expectation] = []
    k = 0
    for run in runs:
        out.extend(_reading(node, renamed) for node in nodes[k:run.stop])
        k = run.stop
        rep = nodes[run.start:run.stop]
        head = _head(run, run.first)
        last = rep[-1].name
        inner = [e for e in expectations
                 if run.start <= e.nodes.start and e.nodes.stop <= run.stop]
        for number in range(run.first + 1, run.first + run.more + 1):
            other = _head(run, number)
            local = {node.name: other + node.name[len(head):] for node in rep}
            local[run.source] = _head(run, number - 1) + last[len(head):]
            at = len(out) - run.start
            out.extend(Node(local[n.name], n.op, [local.get(i, i) for i in n.inputs],
                            list(n.ins), n.out, n.line, n.inplace, n.cost) for n in rep)
            copies.extend(Expectation(other + e.path[len(head):], e.line,
                                      range(at + e.nodes.start, at + e.nodes.stop), e.values)
                          for e in inner)
        renamed[last] = _head(run, run.first + run.more) + last[len(head):]
    out.extend(_reading(node, renamed) for node in nodes[k:])
    moved = [Expectation(e.path, e.line, _moved(e.nodes, runs), e.values) for e in expectations]
    # in the order an expansion appends them: as each row ends, inner rows first
    return out, sorted(moved + copies, key=lambda e: (e.nodes.stop, -e.nodes.start))


def _head(run: Run, number: int) -> str:
    return f"{run.prefix}{run.unit}{number}."


def _moved(nodes: range, runs: tuple[Run, ...]) -> range:
    """Where a range of nodes lies once the runs' copies are made: past the copies of every
    run before it; its end past those of a run it holds (the range of the `repeat:` row)."""
    start, stop = nodes.start, nodes.stop
    return range(start + sum(r.more * (r.stop - r.start) for r in runs if r.stop <= start),
                 stop + sum(r.more * (r.stop - r.start) for r in runs
                            if r.stop < stop or (r.stop == stop and start < r.start)))


def _reading(node: Node, renamed: dict[str, str]) -> Node:
    """The node, or a copy reading the last copies where it read a run's output."""
    if not any(i in renamed for i in node.inputs):
        return node
    return Node(node.name, node.op, [renamed.get(i, i) for i in node.inputs], node.ins,
                node.out, node.line, node.inplace, node.cost)


def liveness(graph: Graph) -> Liveness:
    """For each node, the nodes (-1: the network input) whose memory is freed once it has run:
    a tensor's memory lives from the op that makes it until the last reader of it or of any
    view or in-place result of it; the network input lives from the start, the outputs
    (auxiliary heads too) to the end."""
    nodes = graph.nodes
    owner: dict[str, int] = {INPUT: -1}     # whose memory each tensor is (-1: the input's)
    last_read: dict[int, int] = {}
    read: set[str] = set()
    for t, node in enumerate(nodes):
        ins = node.inputs
        for name in ins:
            last_read[owner[name]] = t  # t only grows: the last write is the last read
        read.update(ins)
        owner[node.name] = owner[ins[0]] if node.inplace else t
    for out in [nodes[-1].name] + [n.name for n in nodes[:-1] if n.name not in read]:
        last_read.pop(owner[out], None)     # an output lives to the end
    freed: list[list[int]] = [[] for _ in nodes]
    for tensor, t in last_read.items():
        freed[t].append(tensor)
    return tuple(map(tuple, freed))


def memory_kind(op: Op) -> tuple[str | None, bool, bool]:
    """What `mark_inplace` reads of an op: its in-place kind, and whether it keeps its output
    for its backward out of place and in place."""
    return op.inplace, op.keeps_output(False), op.keeps_output(True)


def mark_inplace(graph: Graph, given: dict[str, bool] | None = None) -> None:
    """Views always share memory. An op that overwrites its input does so only when nothing
    else reads that memory: every tensor along the chain of views up to the memory's owner has
    a single reader, none of the ops that made them keeps its output for its backward (relu,
    sigmoid: overwritten, the built model could not train), and the owner is not the network
    input (which belongs to the caller). `given` sets some nodes' flags as they were seen (a
    spec's `inplace:` rows)."""
    readers = graph.readers()
    given = given or {}
    for node in graph.nodes:
        kind = node.op.inplace
        if node.name in given:
            node.inplace = given[node.name]
        elif kind == "view":
            node.inplace = True
        elif kind == "mutate":
            source, alone = node.inputs[0], True
            while source != INPUT and alone:
                owner = graph.node(source)
                alone = readers[source] == 1 and not owner.op.keeps_output(owner.inplace)
                if not owner.inplace:
                    break
                source = owner.inputs[0]
            node.inplace = alone and source != INPUT
