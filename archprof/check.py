"""Cross-checks of a spec: the paper's figures (expect rows, reference totals) and the static
numbers against the real model (parameters by numel, shapes by a meta-device forward, MACs by
fvcore's counter)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from archprof.analysis import Analysis, analyze
from archprof.errors import SpecError
from archprof.ir.ops import dims
from archprof.spec.load import Spec
from archprof.units import count, human, parse_quantity

MAC_OPERATORS = {"conv", "linear", "addmm", "matmul", "bmm", "einsum"}
# Ops fvcore's JIT counter has no rule for (it counts them as 0): their MACs are compared with
# torch.utils.flop_counter.FlopCounterMode / 2 (2 FLOPs per MAC) on the op's module instead.
FVCORE_BLIND = {"sdpa", "lstm", "gru", "rnn"}


@dataclass
class Report:
    name: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def record(self, ok: bool, text: str) -> None:
        (self.passed if ok else self.failed).append(text)


def _close(actual: float, value: Any, tol: float, source: str) -> tuple[bool, str]:
    """Whether `actual` is `value` (as written: 25.5M is read at its precision) within `tol`;
    the comparison as text, each side named (`source`: where `value` comes from)."""
    expected, half = parse_quantity(value)
    slack = max(half, abs(expected) * tol)
    ok = abs(actual - expected) <= slack
    delta = f" ({(actual - expected) / expected:+.1%})" if expected and (tol or not ok) else ""
    shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
    return ok, f"static {actual:,.0f} vs {source} {shown}{delta}"


def check_expectations(analysis: Analysis, report: Report) -> None:
    layers = analysis.layers
    for exp in analysis.graph.expectations:
        rows = layers.iloc[exp.nodes.start:exp.nodes.stop]
        where = f"{exp.path} (line {exp.line})" if exp.line else exp.path
        tol = float(exp.values.get("tol", 0))
        for key, value in exp.values.items():
            if key == "tol":
                continue
            if key == "shape":
                want = dims(_shape(value))
                got = rows["shape"].iloc[-1] if len(rows) else "-"
                report.record(got == want, f"expect {where} shape: static {got} vs written {want}")
            else:
                ok, text = _close(int(rows[key].sum()), value, tol, "written")
                report.record(ok, f"expect {where} {key}: {text}")


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    if isinstance(value, list):
        return tuple(int(v) for v in value)
    try:
        return tuple(int(v) for v in str(value).split("x"))
    except ValueError:
        raise SpecError(f"cannot read shape {value!r} (write CxHxW, e.g. 96x55x55)") from None


def check_reference(analysis: Analysis, report: Report) -> None:
    ref = analysis.spec.reference
    tol = ref.get("tol", 0.0)
    for key in ("params", "macs"):
        if key in ref:
            t = tol.get(key, 0.0) if isinstance(tol, dict) else float(tol)
            ok, text = _close(analysis.totals[key], ref[key], t, "published")
            report.record(ok, f"reference {key}: {text}, tolerance {t:.2%}")


def check_model(analysis: Analysis, report: Report, fvcore: bool = True) -> None:
    """Parameters, buffers and every output shape against the built model on the meta device;
    then MACs against fvcore on CPU (it traces with real tensors; weights are left unset)."""
    import torch

    from archprof.model.network import build

    graph = analysis.graph
    model = build(graph, device="meta")
    totals = analysis.totals
    for what, tensors in (("params", model.parameters()), ("buffers", model.buffers())):
        real = sum(t.numel() for t in tensors)
        report.record(real == totals[what],
                      f"{what}: static {totals[what]:,} vs model {real:,}")
    seen: dict[str, tuple[int, ...]] = {}
    hooks = [model.get_submodule(node.name).register_forward_hook(
        lambda m, i, o, name=node.name: seen.__setitem__(name, tuple(o.shape[1:])))
        for node in graph.nodes]
    with torch.inference_mode():
        model(torch.zeros((1, *graph.input), device="meta"))   # hooks record every output
    for h in hooks:
        h.remove()
    wrong = [f"{n.name} {dims(n.out)} vs {dims(seen.get(n.name, ()))}"
             for n in graph.nodes if seen.get(n.name) != n.out]
    report.record(not wrong, f"shapes: {len(graph.nodes) - len(wrong)}/{len(graph.nodes)} "
                             "match the meta forward" + (": " + "; ".join(wrong[:5]) if wrong else ""))
    if fvcore:
        check_fvcore(analysis, model, report)


def check_fvcore(analysis: Analysis, model: Any, report: Report) -> None:
    import torch
    from fvcore.nn import FlopCountAnalysis

    graph = analysis.graph
    model = model.to_empty(device="cpu")
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        counter = FlopCountAnalysis(model, torch.zeros((1, *graph.input)))
        counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        counter.tracer_warnings("none")
        per_module = counter.by_module_and_operator()
    static = dict(zip(analysis.layers["name"], analysis.layers["macs"]))
    wrong, total, blind, kinds = [], 0, 0, set()
    for node in graph.nodes:
        if node.op.kind in FVCORE_BLIND:
            counted = _flop_counter_macs(model.get_submodule(node.name), node.ins)
            blind += counted
            kinds.add(node.op.kind)
        else:
            counted = sum(v for k, v in per_module.get(node.name, {}).items() if k in MAC_OPERATORS)
        total += counted
        if counted != static[node.name]:
            wrong.append(f"{node.name} {static[node.name]:,} vs {counted:,}")
    mine = analysis.totals["macs"]
    also = f" (of which {blind:,} by FlopCounterMode/2: {', '.join(sorted(kinds))})" \
        if blind else ""
    report.record(not wrong and total == mine,
                  f"MACs: static {mine:,} ({human(mine)}) vs fvcore {total:,}{also}"
                  + (": " + "; ".join(wrong[:5]) if wrong else ""))


def _flop_counter_macs(module: Any, ins: list[tuple[int, ...]]) -> int:
    """MACs of one module by FlopCounterMode (FLOPs / 2), on meta inputs of batch 1: a meta
    copy of it (on the CPU, oneDNN's LSTM kernel is one op FlopCounterMode has no rule for;
    on meta torch runs its products step by step)."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    on_meta = copy.deepcopy(module).to("meta")
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        on_meta(*(torch.zeros((1, *shape), device="meta") for shape in ins))
    return counter.get_total_flops() // 2


def check(spec: Spec | str, params: dict[str, Any] | None = None, fvcore: bool = True,
          input: tuple[int, ...] | None = None) -> Report:
    analysis = analyze(spec, params=params, input=input)
    report = Report(analysis.spec.name)
    if not params and input is None:   # the paper's figures describe the default network
        check_expectations(analysis, report)
        check_reference(analysis, report)
    check_model(analysis, report, fvcore=fvcore)
    return report


# --- a spec against a user's implementation ------------------------------------------------------
@dataclass
class Against:
    """`archprof check SPEC --against MODULE:CALLABLE`: the two graphs' weighted layers (those
    with parameters or MACs: conv, linear, norms, ...) compared in execution order, so that
    names do not matter; `first` is the first position where they differ."""
    spec: Analysis
    other: Analysis
    pairs: int = 0                 # weighted layers compared
    first: int | None = None       # index of the first divergence
    why: str = ""

    @property
    def ok(self) -> bool:
        return self.first is None


AGAINST_KEYS = (("shape", "output shape"), ("params", "params"), ("macs", "MACs"))


def weighted(analysis: Analysis) -> Any:
    layers = analysis.layers
    return layers[(layers["params"] > 0) | (layers["macs"] > 0)].reset_index(drop=True)


def check_against(spec: Analysis, other: Analysis) -> Against:
    mine, theirs = weighted(spec), weighted(other)
    result = Against(spec, other, pairs=min(len(mine), len(theirs)))
    for k in range(result.pairs):
        a, b = mine.iloc[k], theirs.iloc[k]
        differ = [what for key, what in AGAINST_KEYS if a[key] != b[key]]
        if a["layer"] != b["layer"]:
            differ.insert(0, "layer type")
        if differ:
            result.first, result.why = k, ", ".join(differ)
            return result
    if len(mine) != len(theirs):
        result.first = result.pairs
        result.why = f"{len(mine)} weighted layers in the spec, {len(theirs)} in the module"
    return result


def describe_against(result: Against, spec_name: str, other_name: str) -> list[str]:
    """The report: one line when they match; else the divergence with both sides' numbers."""
    mine, theirs = weighted(result.spec), weighted(result.other)
    t = result.spec.totals
    if result.ok:
        return [f"ok   {spec_name} matches {other_name}: {len(mine)} weighted layers in order "
                f"(output shape, params, MACs); params {t['params']:,}, MACs {t['macs']:,}"]
    k = result.first
    assert k is not None
    lines = [f"FAIL {spec_name} vs {other_name}: weighted layer {k + 1} differs ({result.why})"]
    rows = [(side, table.iloc[k]) for side, table in (("spec", mine), ("module", theirs))
            if k < len(table)]
    width = max(len(str(row["name"])) for _, row in rows)
    for side, row in rows:
        lines.append(f"     {side:<6}  {str(row['name']):<{width}}  {row['layer']:<12} out "
                     f"{row['shape']:<12} params {row['params']:>11,}  MACs {row['macs']:>15,}")
    if k:
        lines.append(f"     the {count(k, 'weighted layer')} before it match (the last: "
                     f"{mine.iloc[k - 1]['name']} = {theirs.iloc[k - 1]['name']})")
    else:
        lines.append("     (the very first weighted layer)")
    if len(mine) != len(theirs) and k < result.pairs:     # a layer missing or extra earlier
        lines.append(f"     the spec has {count(len(mine), 'weighted layer')}, the module "
                     f"{len(theirs):,}")
    return lines


# --- a user's module, traced, against itself run by torch -----------------------------------------
def check_module(ref: str, params: dict[str, Any] | None = None,
                 input: tuple[int, ...] | None = None) -> Report:
    """MODULE:CALLABLE traced at `input` (default 3x224x224): the traced numbers against the
    module itself: params and buffers by numel, every output shape of a module called once by
    a forward hook on the meta device, and MACs by torch's FlopCounterMode (2 FLOPs per MAC)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from archprof.source import DEFAULT_INPUT, load_module, trace_module

    module = load_module(ref, params).to("meta").eval()
    analysis = analyze(trace_module(module, ref, input or DEFAULT_INPUT))
    report = Report(ref)
    totals = analysis.totals
    for what, tensors in (("params", module.parameters()), ("buffers", module.buffers())):
        real = sum(t.numel() for t in tensors)
        report.record(real == totals[what], f"{what}: static {totals[what]:,} vs module {real:,}")
    seen: dict[str, list[tuple[int, ...]]] = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: seen.setdefault(name, []).append(
        tuple(o.shape[1:]) if isinstance(o, torch.Tensor) else
        # a recurrent layer's (output, final states): its row is the output's
        tuple(o[0].shape[1:]) if isinstance(o, tuple) and o and isinstance(o[0], torch.Tensor)
        else ()))
        for name, m in module.named_modules() if name]
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        module(torch.zeros((1, *analysis.graph.input), device="meta"))
    for h in hooks:
        h.remove()
    nodes = [n for n in analysis.graph.nodes if len(seen.get(n.name, [])) == 1]
    wrong = [f"{n.name} {dims(n.out)} vs {dims(seen[n.name][0])}" for n in nodes
             if seen[n.name][0] != n.out]
    report.record(not wrong, f"shapes: {len(nodes) - len(wrong)}/{len(nodes)} modules called "
                             "once match the forward" + (": " + "; ".join(wrong[:5]) if wrong else ""))
    flops = counter.get_total_flops()
    report.record(flops == 2 * totals["macs"], f"MACs: static {totals['macs']:,} vs "
                                               f"FlopCounterMode {flops:,} / 2 = {flops // 2:,}")
    return report
