"""Static analysis of an expanded graph: per-op shapes, parameters, MACs, other ops,
activation memory and receptive field; totals, peak live memory, breakdowns. No weights are
allocated and torch is not imported.

Definitions (also in README.md):
- MACs: multiply-accumulates of conv and linear layers; 1 MAC = one multiply and one add.
  conv = Cout*Hout*Wout*(Cin/groups)*kh*kw, linear = in*out. Everything else (bias adds, BN,
  activations, pooling, residual adds) is counted apart, as "other ops".
- params: what sum(p.numel() for p in model.parameters()) gives; buffers (BN running stats)
  are counted apart.
- activations: elements of every tensor an op materialises, plus the input; ops that return a
  view of their input or overwrite it in place (flatten, dropout at inference, in-place ReLU)
  add nothing. peak_activations: the most elements alive at once when each tensor is freed
  after its last reader, running the ops in spec order.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from archprof.errors import SpecError
from archprof.ir.graph import INPUT, Cost, Graph, liveness
from archprof.ir.ops import GLOBAL, Shape, Uncounted, dims, numel
from archprof.spec.expand import MAX_ELEMENTS, expand
from archprof.spec.load import Spec

if TYPE_CHECKING:        # pandas is imported when a table is asked for, not for totals
    import pandas as pd

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}
COUNTS = ["params", "weights", "buffers", "macs", "other_ops", "activations"]
TRAIN_COUNTS = ["backward_macs", "saved", "saved_bytes"]     # columns of analyze(train=True)
OUTPUT = itemgetter(5)     # a node's counts (archprof.ir.graph.counts): its output's elements


@dataclass
class Analysis:
    """The numbers of one graph for a batch: `totals` at once, `counts` (one tuple per node in
    COUNTS order, MACs, other ops and activations for the whole batch) and `layers` when asked."""
    graph: Graph
    batch: int
    totals: dict[str, Any]

    @property
    def spec(self) -> Spec:
        return self.graph.spec

    @cached_property
    def counts(self) -> list[tuple[int, ...]]:
        return node_counts(self.graph, self.batch)

    @cached_property
    def layers(self) -> pd.DataFrame:
        """One row per op: name, type, layer label, output shape, the counts, receptive field
        and jump, spec line, and shares of the totals."""
        import pandas as pd
        return pd.DataFrame(self.columns)

    @cached_property
    def columns(self) -> dict[str, list[Any]]:
        """`layers` as plain columns (what a text table needs, without pandas); without the
        training columns that `analyze(train=True)` adds to `layers`."""
        return _shares(self._columns(), self.totals)

    def table(self) -> pd.DataFrame:
        """`layers` without the shares of the totals."""
        import pandas as pd
        return pd.DataFrame(self._columns())

    def _columns(self) -> dict[str, list[Any]]:
        nodes = self.graph.nodes
        columns: dict[str, list[Any]] = {
            "name": [n.name for n in nodes], "type": [n.op.kind for n in nodes],
            "layer": [n.op.describe(n.ins) for n in nodes], "shape": [dims(n.out) for n in nodes]}
        for k, key in enumerate(COUNTS):
            columns[key] = [c[k] for c in self.counts]
        fields = _receptive_fields(self.graph)
        columns["rf"] = [fields[n.name][0] for n in nodes]
        columns["jump"] = [fields[n.name][1] for n in nodes]
        columns["line"] = [n.line for n in nodes]
        return columns

    def collapsed(self, depth: int) -> pd.DataFrame:
        """Rows merged to the first `depth` levels of their names (blocks summed)."""
        if depth < 1:
            raise ValueError("depth must be at least 1")
        df = self.layers.copy()
        df["group"] = df["name"].str.split(".").str[:depth].str.join(".")
        sums = [c for c in COUNTS + TRAIN_COUNTS if c in df]
        agg: dict[str, Any] = {c: "sum" for c in sums} | {"shape": "last", "rf": "last", "jump": "last",
                                            "type": _group_type}
        out = df.groupby("group", sort=False).agg(agg).reset_index().rename(columns={"group": "name"})
        return _shares(out, self.totals)

    def by_type(self) -> pd.DataFrame:
        """One row per layer type (e.g. 'conv 1x1', 'conv 3x3 dw', 'fc'): count, params,
        weights (params without biases/BN), MACs and their shares of the totals."""
        out = (self.layers.groupby("layer", sort=False)
               .agg(count=("name", "size"), params=("params", "sum"), weights=("weights", "sum"),
                    macs=("macs", "sum"),
                    other_ops=("other_ops", "sum"), activations=("activations", "sum"))
               .reset_index().rename(columns={"layer": "type"}))
        return _shares(out, self.totals).sort_values("macs", ascending=False, kind="stable")

    # a prompt or notebook shows a summary, not the whole spec and graph (tens of kB)
    def __repr__(self) -> str:
        from archprof.figures.render import render
        head, rest = _preview(self.layers)
        lines = [_title(self), *_total_lines(self.totals), "", render(head, _columns(), "text")]
        if rest:
            lines.append(f"... {rest} more rows")
        lines.append(f"(.layers: every row as a DataFrame; .totals: every total; "
                     f"`archprof table {self.spec.name}` prints them all)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        from archprof.figures.render import cells
        head, rest = _preview(self.layers)
        columns = _columns()
        th = "".join(f"<th>{escape(c.header)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
                       for row in cells(head, columns))
        more = (f"<tr><td colspan='{len(columns)}'>... {rest} more rows (.layers)</td></tr>"
                if rest else "")
        totals = "<br>".join(escape(line) for line in _total_lines(self.totals))
        return (f"<div><b>{escape(_title(self))}</b><br><small>{totals}</small>"
                "<table style='font-size:smaller;text-align:right'>"
                f"<thead><tr>{th}</tr></thead><tbody>{body}{more}</tbody></table></div>")


PREVIEW_ROWS = 8       # the first rows shown by repr (a network's stem and first block)


def _columns() -> list[Any]:
    from archprof.figures.render import Column
    return [Column("name", "name"), Column("layer", "layer"), Column("shape", "output"),
            Column("params", "params", "int"), Column("macs", "MACs", "int"),
            Column("rf", "rf", "num")]


def _preview(layers: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    return layers.head(PREVIEW_ROWS), max(len(layers) - PREVIEW_ROWS, 0)


def _title(a: Analysis) -> str:
    t, s = a.totals, a.spec
    return (f"{s.name} ({s.title}): input {t['input']}, batch {t['batch']}, {t['dtype']}, "
            f"{len(a.layers)} ops")


def _total_lines(t: dict[str, Any]) -> list[str]:
    from archprof.units import human, human_bytes
    return [f"params {t['params']:,} ({human(t['params'])}), buffers {t['buffers']:,}",
            f"MACs {t['macs']:,} ({human(t['macs'])}), other ops {t['other_ops']:,}",
            f"activations {t['activations']:,} elements, peak live {t['peak_activations']:,} "
            f"({human_bytes(t['peak_bytes'])})"]


def analyze(spec: Any, input: Shape | None = None, params: dict[str, Any] | None = None,
            batch: int = 1, dtype: str = "float32", train: bool = False,
            optimizer: str = "adam", freeze: str | None = None,
            strict: bool = False) -> Analysis:
    """Analyse a spec (by name, path or object), an already expanded graph, or a
    torch.nn.Module (traced by archprof.trace; `input` defaults to 3x224x224). `train`: add
    the cost of a training step with `optimizer`, layers matching `freeze` frozen
    (archprof.training: backward_macs per layer, train_* totals). Ops that no rule counts are
    listed in totals['uncounted_ops']; `strict` makes them an error."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if _is_module(spec):
        from archprof.trace import trace  # imports torch: only for a module
        graph = trace(spec, tuple(input or (3, 224, 224)),     # one sample; `batch` scales
                      dtype=dtype if dtype in ("float32", "float16", "bfloat16", "float64")
                      else "float32")
    else:
        graph = spec if isinstance(spec, Graph) else expand(spec, params, input)
    # Per sample, over all nodes: params, weights, buffers, MACs, other ops and the elements
    # every node outputs, less those of in-place and view outputs (no memory of their own).
    ops, costs, inplace, runs = graph.columns()
    if batch > 1 and batch > batch_limit(costs):
        raise SpecError(f"batch {batch:,} makes tensors of more than {MAX_ELEMENTS:,} elements "
                        f"(the largest output here has {max(map(OUTPUT, costs)):,} per sample)",
                        path=graph.spec.name)
    sums: list[int] = list(map(sum, zip(*costs))) if costs else [0] * len(COUNTS)
    shared = sum(map(OUTPUT, compress(costs, inplace)))
    count = len(costs)
    for run in runs:        # copies folded onto a run's nodes count as often (Run)
        part, more = costs[run.start:run.stop], run.more
        sums = [total + more * extra for total, extra in zip(sums, map(sum, zip(*part)))]
        shared += more * sum(map(OUTPUT, compress(part, inplace[run.start:run.stop])))
        count += more * len(part)
    input_elems = numel(graph.input) * batch
    totals: dict[str, Any] = dict(zip(COUNTS, sums))
    totals["macs"] *= batch
    totals["other_ops"] *= batch
    totals["activations"] = (totals["activations"] - shared) * batch + input_elems
    width = DTYPE_BYTES[dtype]
    totals.update(input=dims(graph.input), batch=batch, dtype=dtype, input_elems=input_elems,
                  peak_activations=_peak(graph, costs, inplace) * batch, ops=count,
                  param_bytes=totals["params"] * width)
    totals["activation_bytes"] = totals["activations"] * width
    totals["peak_bytes"] = totals["peak_activations"] * width
    uncounted: dict[str, int] = {}
    why: dict[str, set[str]] = {}
    if Uncounted in set(map(type, ops)):     # a C loop first: most graphs have none
        times = [1] * len(ops)
        for run in runs:
            times[run.start:run.stop] = [1 + run.more] * (run.stop - run.start)
        for op, n in zip(ops, times):
            if isinstance(op, Uncounted):
                uncounted[op.aten] = uncounted.get(op.aten, 0) + n
                if op.why:
                    why.setdefault(op.aten, set()).add(op.why)
    totals["uncounted_ops"] = dict(sorted(uncounted.items()))
    # why an op that has rules has none for the arguments it got here (a mean over the batch)
    totals["uncounted_why"] = {aten: "; ".join(sorted(why[aten])) for aten in sorted(why)}
    totals["constant_work"] = dict(graph.constant_work)
    if strict and uncounted:
        raise SpecError(f"no rule counts {sum(uncounted.values())} op(s): "
                        + uncounted_text(totals), path=graph.spec.name)
    analysis = Analysis(graph, batch, totals)
    if train:       # the training columns join the layer table now, the train_* totals too
        from archprof.training import annotate
        table = analysis.table()
        annotate(table, totals, graph, batch, dtype, optimizer, freeze)
        analysis.layers = _shares(table, totals)
    return analysis


def uncounted_text(totals: dict[str, Any]) -> str:
    """The ops no rule counts, as `totals` list them: 'aten.cumsum x1, aten.mean x2 (why)'."""
    why = totals["uncounted_why"]
    return ", ".join(f"{op} x{n}" + (f" ({why[op]})" if op in why else "")
                     for op, n in totals["uncounted_ops"].items())


def batch_limit(costs: Sequence[Cost]) -> int:
    """The largest batch whose every tensor (per-sample outputs in `costs`, Node.counts) stays
    within MAX_ELEMENTS, as one sample's must."""
    return MAX_ELEMENTS // max(map(OUTPUT, costs), default=1)


def node_counts(graph: Graph, batch: int = 1) -> list[tuple[int, ...]]:
    """Each node's numbers in COUNTS order for the batch (an in-place or view output
    materialises no activations)."""
    counts: list[tuple[int, ...]] = []
    for node in graph.nodes:
        params, weights, buffers, macs, other, made = node.counts()
        counts.append((params, weights, buffers, macs * batch, other * batch,
                       0 if node.inplace else made * batch))
    return counts


def _is_module(obj: Any) -> bool:
    """A torch.nn.Module, told without importing torch (a spec never needs it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _group_type(types: pd.Series) -> str:
    """'conv' for one op, 'conv+bn+relu' for a short chain, 'block (9 ops)' otherwise."""
    return "+".join(types) if len(types) <= 3 else f"block ({len(types)} ops)"


RF = tuple[tuple[Fraction, ...], tuple[Fraction, ...]] | None     # None: global


def _receptive_fields(graph: Graph) -> dict[str, tuple[str, str]]:
    """(rf, jump) of each node as printed: the size of the input window one output element
    sees and the input step between neighbouring outputs, per spatial dimension, through
    conv/pool chains; 'global' once an op mixes every position (attention, global pooling, a
    linear layer on a flat vector). Merged branches take the widest view and coarsest step;
    where an op's window has another rank than the input's, the widest dimension stands for all."""
    rank = max(len(graph.input) - 1, 1)
    state: dict[str, RF] = {INPUT: ((Fraction(1),) * rank, (Fraction(1),) * rank)}
    out = {}
    for node in graph.nodes:
        ins = [state[name] for name in node.inputs]
        rf = None if any(s is None for s in ins) else _widest(ins)   # type: ignore[arg-type]
        window = node.op.window(node.ins)
        if isinstance(window, str):     # GLOBAL
            rf = None
        elif rf is not None and window is not None:
            kernel, stride, dilation = window
            size, jump = rf
            if len(size) != len(kernel):
                size, jump = (max(size),) * len(kernel), (max(jump),) * len(kernel)
            rf = (tuple(r + d * (k - 1) * j for r, k, d, j in zip(size, kernel, dilation, jump)),
                  tuple(j * s for j, s in zip(jump, stride)))
        state[node.name] = rf
        out[node.name] = (GLOBAL, GLOBAL) if rf is None else (_sizes(rf[0]), _sizes(rf[1]))
    return out


def _widest(rfs: list[tuple[tuple[Fraction, ...], tuple[Fraction, ...]]]) -> RF:
    if len({len(size) for size, _ in rfs}) > 1:
        return (max(max(s) for s, _ in rfs),), (max(max(j) for _, j in rfs),)
    return (tuple(map(max, zip(*(s for s, _ in rfs)))), tuple(map(max, zip(*(j for _, j in rfs)))))


def _sizes(values: tuple[Fraction, ...]) -> str:
    """'7', '1x7', '1/2' (after upsampling a step is a fraction of an input position)."""
    text = [str(v.numerator) if v.denominator == 1 else str(v) for v in map(Fraction, values)]
    return text[0] if len(set(text)) == 1 else "x".join(text)


T = TypeVar("T", "pd.DataFrame", dict[str, list[Any]])


def _shares(table: T, totals: dict[str, Any]) -> T:
    """Each row's percentage of the total params, weights (where a column; paper tables such
    as MobileNet's Table 2 often count kernel weights only) and MACs, as new columns of a
    DataFrame or of plain columns alike."""
    for key in ("params", "weights", "macs"):
        if key in table:
            whole = max(totals[key], 1)
            table[f"pct_{key}"] = [100 * v / whole for v in table[key]]
    return table


def _peak(graph: Graph, costs: Sequence[Cost], inplace: Sequence[bool]) -> int:
    """Most activation elements alive at once (per sample), running the ops in order and
    freeing each tensor as `liveness` says (copies folded onto a run's nodes peak as they do:
    archprof.ir.graph.Run)."""
    plan = graph.liveness or liveness(graph)
    made = list(map(OUTPUT, costs))
    made.append(numel(graph.input))           # index -1: the input
    live = peak = made[-1]
    for view, size, freed in zip(inplace, made, plan):
        if not view:
            live += size
            if live > peak:
                peak = live
        for tensor in freed:
            live -= made[tensor]
    return peak
