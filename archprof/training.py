"""Training cost of a graph, statically: backward MACs per op, and the memory of one optimizer
step (weights, gradients, optimizer state, the activations autograd saves, the peak).

The step modelled is the steady state of `opt.zero_grad(); loss = cross_entropy(model(x), y);
loss.backward(); opt.step()` with the model in training mode and the optimizer state already
allocated (after the first step). Gradients are set to None by zero_grad, so they grow during
the backward as each layer's weight gradients are made.

Memory is tracked as tensors, not elements: an op that returns a view or overwrites its input
in place shares its input's memory, and a tensor that several ops save is counted once. During
the forward a tensor lives until its last reader, or, when saved, until the backward of the
last op that saved it; during the backward each activation gradient lives from the op that
makes it until the op that consumes it (the gradients of add, concat and flatten are views of
their output's gradient: no new memory). Every amount is affine in the batch size (a fixed
part and a part per sample), so the peak at any batch, and the largest batch that fits a
budget, follow from one pass over the graph.

Precision: `float32` keeps everything in 4 bytes; `float16`/`bfloat16` is mixed precision with
float32 master weights (weights, gradients and activations in 2 bytes; the optimizer keeps a
float32 copy of the weights and float32 state: Adam 2 + 2 + 4 + 8 = 16 bytes per parameter).
The optimizer step is the foreach implementation PyTorch uses on GPUs: Adam computes
sqrt(v) for every parameter at once (one float32 copy of the parameters, freed after the step).
"""
from __future__ import annotations

import fnmatch
import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from archprof.errors import SpecError, did_you_mean
from archprof.ir.graph import INPUT, Graph
from archprof.ir.ops import Own, Saved, dims, numel

# optimizer -> float32 state tensors per parameter, and float32 temporaries per parameter
# during its (foreach) step
OPTIMIZERS = {"sgd": (0, 0), "momentum": (1, 0), "adam": (2, 1), "adamw": (2, 1)}
WIDTH = {"float32": 4, "float16": 2, "bfloat16": 2}
OWN_WIDTH = {"float32": 4, "int64": 8, "bool": 1}
LABEL_BYTES = 8        # one int64 class index per sample


@dataclass(frozen=True)
class Lin:
    """An amount of bytes affine in the batch size: fixed + per_sample * batch."""
    fixed: int = 0
    per_sample: int = 0

    def __add__(self, other: Lin) -> Lin:
        return Lin(self.fixed + other.fixed, self.per_sample + other.per_sample)

    def __sub__(self, other: Lin) -> Lin:
        return Lin(self.fixed - other.fixed, self.per_sample - other.per_sample)

    def at(self, batch: int) -> int:
        return self.fixed + self.per_sample * batch


@dataclass
class LayerCost:
    """One op's share of the training step (per sample where batch-dependent)."""
    name: str
    backward_macs: int = 0
    saved: Lin = Lin()             # elements kept for the backward, new at this op
    saved_bytes: Lin = Lin()
    grads: tuple[bool, bool] | None = None    # (input, weight) gradients; None: no backward
    kept: Saved | None = None      # what autograd keeps for it


@dataclass
class Plan:
    """The training step of one graph, for any batch size."""
    graph: Graph
    dtype: str
    optimizer: str
    frozen: list[str]                       # layers whose weights get no gradient
    trainable_params: int
    params: Lin                             # weights and buffers
    grads: Lin
    optimizer_state: Lin
    inputs: Lin                             # the batch and its labels
    saved: Lin                              # everything autograd keeps from the forward
    moments: list[tuple[str, Lin]] = field(default_factory=list)   # live activations/grads
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def static(self) -> Lin:
        return self.params + self.optimizer_state + self.inputs

    def peak(self, batch: int) -> tuple[int, str]:
        """(bytes, when) of the most memory in use at once at this batch size."""
        when, live = max(self.moments, key=lambda m: m[1].at(batch))
        return self.static.at(batch) + live.at(batch), when

    def largest_batch(self, budget: int) -> int:
        """The largest batch whose peak fits `budget` bytes (0: not even one sample)."""
        best = math.inf
        for _, live in self.moments:
            room = budget - self.static.fixed - live.fixed
            per = self.static.per_sample + live.per_sample
            if room < per:
                return 0
            best = min(best, room // per)
        return int(best)

    def totals(self, batch: int) -> dict[str, object]:
        peak, when = self.peak(batch)
        return {"optimizer": self.optimizer, "frozen_layers": len(self.frozen),
                "trainable_params": self.trainable_params,
                "train_params_bytes": self.params.at(batch),
                "train_grads_bytes": self.grads.at(batch),
                "train_optimizer_bytes": self.optimizer_state.at(batch),
                "train_input_bytes": self.inputs.at(batch),
                "train_saved_bytes": self.saved.at(batch),
                "train_peak_bytes": peak, "train_peak_at": when}


def plan(graph: Graph, dtype: str = "float32", optimizer: str = "adam",
         freeze: str | None = None) -> Plan:
    """Backward MACs and the memory timeline of one training step (see the module docstring).
    `freeze`: a glob over layer names (e.g. 'conv1*,layer1.*'); matching layers get no weight
    gradient and no optimizer state."""
    if optimizer not in OPTIMIZERS:
        raise SpecError(f"unknown optimizer '{optimizer}' (use {', '.join(OPTIMIZERS)})",
                        hint=did_you_mean(optimizer, OPTIMIZERS))
    if dtype not in WIDTH:
        raise SpecError(f"training in {dtype} is not modelled (use {', '.join(WIDTH)})")
    width = WIDTH[dtype]
    patterns = [p.strip() for p in freeze.split(",")] if freeze is not None else []
    if "" in patterns:
        raise SpecError(f"--freeze '{freeze}' has an empty pattern (name globs, comma-separated)")
    nodes = graph.nodes
    weighted = [n.name for n in nodes if n.op.params(n.ins, n.out)]
    frozen = [name for name in weighted
              if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    if weighted and len(frozen) == len(weighted):
        raise SpecError(f"--freeze '{freeze}' freezes every layer with weights: the step would "
                        "train nothing (torch's backward refuses a loss that needs no gradient)")
    # the parameters each op trains (every use of a shared weight computes its gradient) and
    # those whose memory it holds (a traced module's shared weight: the first use only); a
    # traced op whose weight holds no parameter (a buffer, a constant) trains none
    learns = {n.name: 0 if n.name in frozen or not (n.counts()[0] or n.name in graph.shares)
              else n.op.trained_params(n.ins, n.out) for n in nodes}
    trainable = {n.name: min(learns[n.name], n.counts()[0]) for n in nodes}
    requires: dict[str, bool] = {INPUT: False}
    for n in nodes:
        requires[n.name] = bool(learns[n.name]) or any(requires[i] for i in n.inputs)

    all_params = sum(n.counts()[0] for n in nodes)
    buffers = sum(n.counts()[2] for n in nodes)
    n_trainable = sum(trainable.values())
    states, temps = OPTIMIZERS[optimizer]
    master = 4 if width < 4 else 0           # mixed precision: float32 copy of the weights
    result = Plan(graph, dtype, optimizer, frozen, n_trainable,
                  params=Lin((all_params + buffers) * width),
                  grads=Lin(n_trainable * width),
                  optimizer_state=Lin(n_trainable * (master + 4 * states)),
                  inputs=Lin(0, numel(graph.input) * width + LABEL_BYTES),
                  saved=Lin())
    _timeline(result, requires, learns, trainable, width, n_trainable * 4 * temps)
    return result


def _running(graph: Graph, name: str) -> str:
    """The op whose result `name` is, looking through rows that do not run."""
    while name != INPUT and not graph.node(name).op.runs():
        name = graph.node(name).inputs[0]
    return name


def _own_bytes(own: Own, width: int) -> Lin:
    size = own.elements * (width if own.dtype == "act" else OWN_WIDTH[own.dtype])
    return Lin(0, size) if own.per_sample else Lin(size, 0)


def _timeline(p: Plan, requires: dict[str, bool], learns: dict[str, int],
              trainable: dict[str, int], width: int, step_temps: int) -> None:
    graph, nodes = p.graph, p.graph.nodes
    # --- which memory each tensor lives in, and what autograd keeps of it -----------------
    owner = {INPUT: INPUT}
    for n in nodes:
        shares = n.inplace and not type(n.op).train_allocates
        owner[n.name] = owner[n.inputs[0]] if shares else n.name
    size = {n.name: Lin(0, numel(n.out) * width) for n in nodes}
    nodes_by = {n.name: n for n in nodes}
    savers: dict[str, list[int]] = {}       # memory -> the ops that save it
    saved_by: dict[int, set[str]] = {}      # op -> the memory it saves
    own: dict[int, Lin] = {}
    counted: set[str] = set()
    for t, n in enumerate(nodes):
        row = LayerCost(n.name)
        p.layers.append(row)
        if not requires[n.name] or not n.op.runs():
            continue                    # no autograd record: nothing saved, no backward
        input_grad = any(requires[i] for i in n.inputs)
        row.grads = (input_grad, bool(learns[n.name]))
        row.backward_macs = n.op.backward_macs(n.ins, n.out, *row.grads)
        saved = n.op.saved(n.ins, n.out, n.inplace)
        if not row.grads[1] and saved.for_weights:      # no weight gradient: not kept for it
            saved = replace(saved, inputs=tuple(i for i in saved.inputs
                                                if i not in saved.for_weights))
        row.kept = saved
        refs = {owner[n.inputs[i]] for i in saved.inputs} | ({owner[n.name]} if saved.output else set())
        refs.discard(INPUT)             # the batch is counted apart, alive all step
        saved_by[t] = refs
        for ref in refs:
            savers.setdefault(ref, []).append(t)
        own[t] = sum((_own_bytes(o, width) for o in saved.own), Lin())
        new_refs = refs - counted
        counted |= refs
        row.saved = sum((Lin(0, o.elements) if o.per_sample else Lin(o.elements)
                         for o in saved.own), Lin(0, sum(numel(nodes_by[r].out) for r in new_refs)))
        row.saved_bytes = own[t] + sum((size[r] for r in new_refs), Lin())
        p.saved += row.saved_bytes

    # --- forward: each tensor freed after its last reader unless saved -----------------------
    outputs = list(dict.fromkeys(_running(graph, o) for o in graph.outputs))
    last_read = {owner[o]: math.inf for o in outputs}
    for t, n in enumerate(nodes):
        for i in n.inputs:
            last_read[owner[i]] = max(last_read.get(owner[i], -1), t)
    live = Lin()
    for t, n in enumerate(nodes):
        if owner[n.name] == n.name:
            live += size[n.name]
        live += own.get(t, Lin())
        p.moments.append((f"forward, {n.name}", live))
        for i in {owner[i] for i in n.inputs}:
            if i != INPUT and last_read.get(i) == t and i not in savers:
                live -= size[i]
                last_read[i] = -1
    # cross-entropy keeps log_softmax of each output for its backward
    losses = sum((size[o] for o in outputs if requires[o]), Lin())
    live += losses
    p.moments.append(("loss", live))

    # --- backward: ops in reverse order; gradients as reference-counted memory -------------
    grad_mem: dict[int, list] = {}          # id -> [bytes, references]
    grad_of: dict[str, int] = {}
    keys = itertools.count()

    def new_grad(amount: Lin) -> int:
        key = next(keys)
        grad_mem[key] = [amount, 1]
        return key

    def release(key: int) -> Lin:
        grad_mem[key][1] -= 1
        if grad_mem[key][1] == 0:
            return grad_mem.pop(key)[0]
        return Lin()

    for o in outputs:
        if requires[o]:
            grad_of[o] = new_grad(size[o])
            live += size[o]
    live -= losses
    param_grads = Lin()
    # a shared parameter's gradient (graph.shares): each later use's weight gradient (the
    # first met here) is summed out of place into one tensor, as autograd's input buffer
    # does, until the op holding the parameter adds its own and it becomes .grad
    summed: dict[str, Lin] = {}             # holder -> the running sum of the later uses'
    remaining = {ref: len(ts) for ref, ts in savers.items()}
    for t in range(len(nodes) - 1, -1, -1):
        n = nodes[t]
        if n.name not in grad_of:
            continue                    # no gradient reaches it (frozen stem, unused head)
        made = Lin(trainable[n.name] * width)
        holder = graph.shares.get(n.name)
        shared = Lin((learns[n.name] - trainable[n.name]) * width) if holder else Lin()
        incoming: list[tuple[str, int]] = []
        for name, shape in zip(n.inputs, n.ins):
            if not requires[name]:
                continue
            if type(n.op).grad_view:
                grad_mem[grad_of[n.name]][1] += 1
                incoming.append((name, grad_of[n.name]))
            else:
                amount = Lin(0, numel(shape) * width)
                made += amount
                incoming.append((name, new_grad(amount)))
        p.moments.append((f"backward, {n.name}", live + param_grads + made + shared))
        if holder is not None and holder in summed:     # the sum, a new tensor
            p.moments.append((f"backward, {n.name}",
                              live + param_grads + made + shared + summed[holder]))
        elif holder is not None:
            summed[holder] = shared
            live += shared
        total = summed.pop(n.name, None)
        if total is not None:           # the holder: its own gradient added to the sum
            p.moments.append((f"backward, {n.name}", live + param_grads + made + total))
            live -= total
        live += made - Lin(trainable[n.name] * width)
        param_grads += Lin(trainable[n.name] * width)
        live -= release(grad_of.pop(n.name))
        live -= own.get(t, Lin())
        for ref in saved_by.get(t, ()):
            remaining[ref] -= 1
            if remaining[ref] == 0:
                live -= size[ref]
        for name, key in incoming:
            if name not in grad_of:
                grad_of[name] = key
                continue
            old = grad_of[name]
            if grad_mem[old][1] == 1 and grad_mem[key][1] == 1:
                live -= release(key)     # summed into the existing gradient in place
            else:                        # shared: the sum is a new tensor
                amount = size[name]
                p.moments.append((f"backward, {n.name}", live + param_grads + amount))
                live += amount - release(key) - release(old)
                grad_of[name] = new_grad(amount)
    p.moments.append(("optimizer step", live + param_grads + Lin(step_temps)))


def layer_rows(p: Plan, batch: int) -> list[dict]:
    """Per node: backward MACs, saved elements and bytes at this batch size (each saved
    tensor counted at the first op that keeps it, so that the columns sum to the totals)."""
    return [{"name": r.name, "backward_macs": r.backward_macs * batch,
             "saved": r.saved.at(batch), "saved_bytes": r.saved_bytes.at(batch)}
            for r in p.layers]


def explain(p: Plan, index: int, batch: int = 1) -> str:
    """The backward MACs of one op (per sample, and for the batch) and what autograd keeps for
    it, with the numbers."""
    n, row = p.graph.nodes[index], p.layers[index]
    if row.grads is None or row.kept is None:
        return "backward: none (no gradient flows through it: frozen or before any weight)"
    macs = n.op.backward_text(n.ins, n.out, *row.grads)
    saved = row.kept
    kept = [f"input {dims(n.ins[i])}" if n.inputs[i] != INPUT else f"input {dims(n.ins[i])} (the batch)"
            for i in saved.inputs]
    kept += [f"output {dims(n.out)}"] * saved.output
    kept += [f"{o.what} {o.elements:,}" + ("" if o.dtype == "act" else f" {o.dtype}")
             + ("" if o.per_sample else " per batch") for o in saved.own]
    new = row.saved
    fixed = f" + {new.fixed:,} per batch" if new.fixed else ""
    batch_only = not saved.output and not saved.own and all(n.inputs[i] == INPUT
                                                            for i in saved.inputs)
    counted = (f": {new.per_sample:,} new elements per sample{fixed}" if new.per_sample or fixed
               else " (counted apart: alive the whole step)" if kept and batch_only
               else " (kept by an earlier op already)" if kept else "")
    scaled = (f" per sample, x {batch} = {row.backward_macs * batch:,}"
              if batch > 1 and row.backward_macs else "")
    return f"backward MACs = {macs}{scaled}; saves {', '.join(kept) or 'nothing'}{counted}"


def annotate(layers: pd.DataFrame, totals: dict[str, Any], graph: Graph, batch: int, dtype: str,
             optimizer: str, freeze: str | None) -> Plan:
    """Add the training columns (backward_macs, saved, saved_bytes) and train_* totals to an
    analysis' layers and totals."""
    p = plan(graph, dtype, optimizer, freeze)
    rows = pd.DataFrame(layer_rows(p, batch))
    for column in ("backward_macs", "saved", "saved_bytes"):
        layers[column] = rows[column].to_numpy()
    backward = int(rows["backward_macs"].sum())
    totals.update(p.totals(batch), backward_macs=backward, train_macs=totals["macs"] + backward,
                  train_ratio=(totals["macs"] + backward) / max(totals["macs"], 1),
                  frozen=p.frozen)
    return p


@dataclass
class Fit:
    batch: int                       # the largest batch that fits; 0: none
    peak_bytes: int                  # the static peak at that batch
    next_peak_bytes: int             # ... and at batch + 1
    breakdown: dict[str, Any]


def fit(graph: Graph, budget: int, optimizer: str = "adam", dtype: str = "float32",
        infer: bool = False, freeze: str | None = None) -> Fit:
    """The largest batch whose static peak fits `budget` bytes: a training step (default) or
    inference (weights, buffers and the peak of live activations). SpecError when none fits."""
    from archprof.analysis import DTYPE_BYTES, analyze, batch_limit
    most = batch_limit(graph.columns()[1])      # a larger batch is refused (--batch too)
    breakdown: dict[str, Any]
    if infer:
        one = analyze(graph, dtype=dtype).totals
        width = DTYPE_BYTES[dtype]
        curve = Lin((one["params"] + one["buffers"]) * width, one["peak_activations"] * width)
        batch = min(max((budget - curve.fixed) // curve.per_sample, 0), most)
        breakdown = {"mode": "inference", "weights_bytes": curve.fixed}
        fixed, what = curve.fixed, "the weights alone"
    else:
        steps = plan(graph, dtype, optimizer, freeze)
        batch = min(steps.largest_batch(budget), most)
        breakdown = {"mode": "training", **steps.totals(max(batch, 1))}
        fixed, what = steps.static.fixed + steps.grads.fixed, "weights, gradients and optimizer state"
    breakdown["element_limit"] = batch == most     # the batch is the element limit's, not memory's

    def peak(b: int) -> int:
        return curve.at(b) if infer else steps.peak(b)[0]

    if batch < 1:
        if fixed >= budget:
            raise SpecError(f"nothing fits: {what} take {_bytes(fixed)}, more than the "
                            f"budget {_bytes(budget)}")
        raise SpecError(f"nothing fits: batch 1 needs {_bytes(peak(1))}, more than the budget "
                        f"{_bytes(budget)}")
    return Fit(batch, peak(batch), peak(batch + 1), breakdown)


def _bytes(n: int) -> str:
    from archprof.units import human_bytes
    return f"{human_bytes(n)} ({n:,} bytes)"
