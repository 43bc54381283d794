"""The IR: a flat, named DAG of primitive ops with their input and output shapes.

Producers build it (archprof.spec expands a YAML spec; a tracer records a torch module);
consumers read it (analysis, model building, checks, figures). It knows nothing of how it was
produced: `source` describes the network (name, title, paper, accuracy, ...) for display.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


# Per node, in order: the op, its counts (Node.counts) and whether its output is a view or an
# in-place result; all that totals and the peak need, without the Node objects.
Columns = tuple[Sequence[Op], Sequence[Cost], Sequence[bool]]


@dataclass
class Graph:
    spec: Spec   # what the graph describes: a spec, or a stand-in naming a traced module
    input: Shape
    params: dict[str, Any]
    expectations: list[Expectation] = field(default_factory=list)
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
        # a replayed program's nodes, made when first asked for: the totals of an analysis
        # need only its columns (archprof.spec.program)
        self._deferred: tuple[Columns, Callable[[], list[Node]]] | None = None

    @property
    def nodes(self) -> list[Node]:
        if self._deferred is not None:
            self._make()
        return self._nodes

    def _make(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self.extend(deferred[1]())

    def defer(self, columns: Columns, make: Callable[[], list[Node]]) -> None:
        """The nodes are `make()`, called on first use; `columns` are theirs already."""
        self._deferred = (columns, make)

    def columns(self) -> Columns:
        """What totals and the peak read, per node (a replay has them before its nodes)."""
        if self._deferred is not None:
            return self._deferred[0]
        nodes = self._nodes
        return [n.op for n in nodes], [n.counts() for n in nodes], [n.inplace for n in nodes]

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
        if self._deferred is not None:
            self._make()
        return self._index[name]

    def add(self, node: Node) -> None:
        if self._deferred is not None:
            self._make()
        self._nodes.append(node)
        self._index[node.name] = node

    def extend(self, nodes: list[Node]) -> None:
        if self._deferred is not None:
            self._make()
        self._nodes.extend(nodes)
        self._index.update((node.name, node) for node in nodes)

    def __contains__(self, name: str) -> bool:
        if self._deferred is not None:
            self._make()
        return name in self._index


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


def mark_inplace(graph: Graph, given: dict[str, bool] | None = None) -> None:
    """Views always share memory. An op that overwrites its input does so only when nothing
    else reads that memory: every tensor along the chain of views up to the memory's owner has
    a single reader, and the owner is not the network input (which belongs to the caller).
    `given` sets some nodes' flags as they were seen (a spec's `inplace:` rows)."""
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
                alone = readers[source] == 1
                owner = graph.node(source)
                if not owner.inplace:
                    break
                source = owner.inputs[0]
            node.inplace = alone and source != INPUT
