"""trace(): a module's recorded forward as a Graph, with the checks around it (input, rows
for unused parameters, the op sequence at a second input size)."""
from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import replace

import torch
from torch import nn

from archprof.errors import SpecError
from archprof.ir import ops
from archprof.ir.graph import INPUT, Graph, Node, counts
from archprof.ir.ops import Shape, dims
from archprof.spec import memo
from archprof.spec.load import Spec
from archprof.trace import dispatch
from archprof.trace.dispatch import DynamicControlFlow, Recorder, Tensor

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float64": torch.float64}


def trace(module: nn.Module, input: tuple[int, ...] = (3, 224, 224), *,
          dtype: str = "float32", export: bool = False, name: str | None = None) -> Graph:
    """The module's forward at inference (eval mode) on one `input`-shaped sample, as IR
    nodes named by module path. Shapes are per sample (a batch scales the counts:
    archprof.analyze); params equal `numel`."""
    if not isinstance(module, nn.Module):
        raise SpecError(f"expected a torch.nn.Module, got {type(module).__name__}")
    shape = tuple(input)
    if not shape or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                            for v in shape):
        raise SpecError(f"input must be positive integers (C,H,W), got {shape}")
    if dtype not in DTYPES:
        raise SpecError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype}")
    spec = Spec(name=name or type(module).__name__, file="", family="traced",
                title=type(module).__name__, paper="", year=None, input=list(shape), params={},
                layers=[], blocks={})
    run = _Runner(module, DTYPES[dtype])
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        failure = run.export(shape) if export else None
        recorder = run(shape)
        _compare_sizes(run, shape, recorder)
    finally:
        for m, training in flags:
            m.training = training
    if failure is not None:
        data_dependent, why = failure
        path = recorder.value_reads[0] if recorder.value_reads else "(top level)"
        warnings.warn(f"{path}: torch.export failed"
                      f"{' on data-dependent control flow' if data_dependent else ''}: {why}",
                      DynamicControlFlow if data_dependent else UserWarning, stacklevel=2)
    graph = Graph(spec, shape, {}, constant_work=dict(sorted(recorder.constant_work.items())))
    _add_nodes(graph, recorder)
    _add_unused(graph, recorder)
    if not graph.nodes:
        raise SpecError(f"{spec.name}: the forward ran no op on its input")
    return graph


class _Runner:
    """Runs the module's forward on a batch of one sample, with meta stand-ins of its
    parameters and buffers (floating ones in `dtype`), recording what it does."""

    def __init__(self, module: nn.Module, dtype: torch.dtype) -> None:
        self.module, self.dtype = module, dtype
        self.names = {id(m): path for path, m in module.named_modules()}
        self.stand_ins: dict[str, torch.Tensor] = {}
        self.params: dict[int, Tensor] = {}
        named = [(n, t, False) for n, t in module.named_parameters()] + \
                [(n, t, True) for n, t in module.named_buffers()]
        for path, t, buffer in named:
            meta = torch.empty(t.shape, dtype=dtype if t.is_floating_point() else t.dtype,
                               device="meta")
            if not buffer:          # torch.export wants parameters to be Parameters
                meta = nn.Parameter(meta, requires_grad=False)
            self.stand_ins[path] = meta
            self.params[id(meta)] = Tensor(path, tuple(t.shape), t.numel(), buffer)

    def export(self, shape: Shape) -> tuple[bool, str] | None:
        """torch.export of the forward on meta stand-ins: None, or why it failed."""
        from archprof.trace.export import export_failure
        x = torch.empty(1, *shape, dtype=self.dtype, device="meta")
        with torch.nn.utils.stateless._reparametrize_module(self.module, self.stand_ins):
            return export_failure(self.module, x)

    def __call__(self, shape: Shape, signature_only: bool = False) -> Recorder:
        x = torch.empty(1, *shape, dtype=self.dtype, device="meta")
        try:
            return dispatch.record(self.module, self.names, x, self.stand_ins,
                                   self.params, signature_only)
        except SpecError:
            raise
        except Exception as err:    # noqa: BLE001 - the model's own error, said in one line
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SpecError(f"the forward failed on input 1x{dims(shape)}: {text}",
                            path=type(self.module).__name__) from None


def _compare_sizes(run: _Runner, shape: Shape, recorder: Recorder) -> None:
    """Trace again with the spatial (or sequence) sizes doubled: a model whose op sequence
    changes with the input size has control flow on it, and one path is not the model."""
    if len(shape) < 2:
        return
    other = (shape[0], *(2 * s for s in shape[1:]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            second = run(other, signature_only=True)
    except SpecError:
        return      # the model takes one input size only: nothing to compare
    first = recorder.signature
    if second.signature == first:
        return
    at = next((i for i, (a, b) in enumerate(zip(first, second.signature)) if a != b),
              min(len(first), len(second.signature)))
    # the module running when the two diverge (the inner one, if they differ)
    paths = [s[at][0] for s in (first, second.signature) if at < len(s)]
    path = max(paths, key=len) or "(top level)"
    warnings.warn(f"{path}: the forward runs other ops at input {dims(other)} than at "
                  f"{dims(shape)} (control flow on the input size); the analysis is of "
                  f"{dims(shape)} only", DynamicControlFlow, stacklevel=3)


def _add_nodes(graph: Graph, recorder: Recorder) -> None:
    records = recorder.records
    for r in _used(recorder):
        inputs = [INPUT if i == dispatch.INPUT else records[i].name for i in r.inputs]
        op = r.op   # a param row's shape: the operand it stands for (set once it was known)
        if isinstance(op, ops.Param) and r.out != r.ins[0]:
            op = replace(op, tensor=r.out)
        op = memo.canonical(op)     # equal ops one object: copies of a block count once
        cost = None
        params, buffers, whole, holder = r.before
        if params and holder >= 0:      # its weight gradients add into that op's
            graph.shares[r.name] = records[holder].name
        if params or buffers:   # parameters an earlier op counted: not counted again
            p, w, b, macs, other, made = counts(op, r.ins, r.out)
            cost = (0, 0, 0, macs, other, made) if whole else (
                max(p - params, 0), max(w - params, 0), max(b - buffers, 0), macs, other, made)
        graph.add(Node(r.name, op, inputs, r.ins, r.out, inplace=r.inplace, cost=cost))


def _used(recorder: Recorder) -> list[dispatch.Record]:
    """The records but views that nothing reads and the forward does not return (torch's
    matmul makes some it leaves unused): as outputs they would keep memory alive to the end."""
    records, needed = recorder.records, set(recorder.returned)
    keep = [True] * len(records)
    for i in range(len(records) - 1, -1, -1):
        r = records[i]
        if i not in needed and r.inplace and type(r.op).inplace == "view" \
                and not r.op.params(r.ins, r.out):
            keep[i] = False
            continue
        needed.update(r.inputs)
    return [r for r, kept in zip(records, keep) if kept]


def _add_unused(graph: Graph, recorder: Recorder) -> None:
    """Parameters the forward never read (an auxiliary head in eval mode): one row per
    outermost module holding only such parameters, after the last op."""
    unused = [p for pid, p in recorder.params.items()
              if not p.buffer and pid not in recorder.attributed]
    if not unused or not graph.nodes:
        return
    used = {p.path.rpartition(".")[0] for pid, p in recorder.params.items()
            if not p.buffer and pid in recorder.attributed}
    owners: dict[str, int] = defaultdict(int)
    for p in unused:
        parts = p.path.split(".")
        owner = p.path          # the outermost module none of whose parameters were read
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if not any(u == prefix or u.startswith(prefix + ".") for u in used):
                owner = prefix
                break
        owners[owner] += p.numel
    last = graph.nodes[-1]
    for owner, count in owners.items():
        graph.add(Node(recorder.unique(owner), ops.Param(count=count, used=False,
                                                         tensor=(count,)), [last.name],
                       [last.out], (count,), inplace=True))
