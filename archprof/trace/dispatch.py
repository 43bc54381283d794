"""Recording a module's forward as IR nodes: every ATen op it executes on meta tensors, seen by
a TorchDispatchMode, with the module that called it, seen by global forward hooks (the way
FlopCounterMode and MemTracker see a model).

Tensors are told apart by identity: activations (the input and what ops compute from it) become
graph nodes; parameters, buffers and tensors computed from them alone (a transposed weight, a
gathered position bias) are constants, and an op reading one carries its shape. Parameters that
no op's rule counts get a `param` row of their own, so that params equal `numel`.
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from archprof.errors import SpecError
from archprof.ir import ops
from archprof.ir.ops import Op, Shape
from archprof.trace import aten

INPUT = -1


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in an op's arguments or results (torch's pytree, but fast on the few
    shapes ATen uses: tensors, lists and tuples of them, a kwargs dict)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)] if value else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []
SDPA = torch.nn.functional.scaled_dot_product_attention
PAD = torch.nn.functional.pad
VALUE_READS = {torch.Tensor.__bool__, torch.Tensor.item, torch.Tensor.__int__,
               torch.Tensor.__float__, torch.Tensor.__index__, torch.Tensor.tolist}


def _like(x: torch.Tensor, shape: Any = None) -> torch.Tensor:
    return torch.empty(x.shape if shape is None else shape, dtype=x.dtype, device="meta")


def _batch_norm_eval(x: torch.Tensor, *args: Any) -> tuple[torch.Tensor, ...]:
    return _like(x), _like(x, (0,)), _like(x, (0,))


def _broadcast(a: Any, b: Any, *args: Any) -> torch.Tensor:
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        x = a if isinstance(a, torch.Tensor) else b
        return torch.empty(x.shape, dtype=torch.result_type(a, b), device="meta")
    return torch.empty(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.result_type(a, b),
                       device="meta")


def _in_place(x: torch.Tensor, *args: Any) -> torch.Tensor:
    return x


# Ops whose meta kernel is a slow Python decomposition while their output is plain (same
# shape, broadcast shape, the input itself): made here directly, as the tracer needs shapes
# and dtypes only.
_aten = torch.ops.aten
SHAPE_ONLY = {_aten.native_batch_norm.default: _batch_norm_eval,
              _aten._native_batch_norm_legit_no_training.default: _batch_norm_eval,
              **{getattr(_aten, op).Tensor: _broadcast for op in ("add", "sub", "mul", "div")},
              **{getattr(_aten, op).Tensor: _in_place for op in ("add_", "sub_", "mul_", "div_")},
              **{getattr(_aten, op).default: _in_place
                 for op in ("relu_", "hardtanh_", "hardswish_", "silu_", "sigmoid_",
                            "leaky_relu_")}}


class DynamicControlFlow(UserWarning):
    """The traced ops may be one path of several: the forward reads tensor values or executes
    other ops at another input size."""


@dataclass
class Tensor:
    """A parameter or buffer of the traced module."""
    path: str
    shape: Shape
    numel: int
    buffer: bool


# parameter and buffer elements an earlier op counted, whether that was all the op reads, and
# the record of the first op that counted them (-1: none)
Counted = tuple[int, int, bool, int]


@dataclass
class Record:
    func: str                 # the op's name, for rows named by module path plus op
    op: Op
    inputs: list[int]         # indices of input records, INPUT for the network input
    ins: list[Shape]
    out: Shape
    inplace: bool
    name: str = ""
    # what the op's rule counts that its row does not: parameters and buffers an earlier op
    # counted (a module called again, a tied weight, an RNN's weights at every step), and
    # parameters it does not read (a weight made from parameters): `Counted`
    before: Counted = (0, 0, False, -1)


@dataclass
class Frame:
    """One module call in progress."""
    path: str
    module: nn.Module
    leaf: bool
    args: tuple[Any, ...]
    records: list[int] = field(default_factory=list)


@dataclass
class Tensors:
    """What the recorder knows of the tensors it has seen, by identity."""
    node: dict[int, int] = field(default_factory=dict)           # activation -> record
    lineage: dict[int, frozenset[int]] = field(default_factory=dict)  # constant -> param ids
    alive: list[torch.Tensor] = field(default_factory=list)      # keeps ids from being reused


class Recorder(TorchDispatchMode):
    def __init__(self, names: dict[int, str], params: dict[int, Tensor]) -> None:
        super().__init__()
        self.names, self.params = names, params
        self.input_shape: Shape = ()
        self.signature_only = False
        self.torch_name = ""      # the torch function running, if public: names its ATen ops
        self.records: list[Record] = []
        self.tensors = Tensors(lineage={pid: frozenset([pid]) for pid in params})
        self.frames: list[Frame] = []
        self.attributed: dict[int, int] = {}     # parameter -> the record that counted it
        self.taken: set[str] = set()
        self.suppress = 0
        # (module path, what it does: an op, 'call CHILD', 'return'), in order
        self.signature: list[tuple[str, str]] = []
        self.value_reads: list[str] = []
        self.returned: set[int] = set()      # the records of the tensors the forward returns
        # outputs of a ruled module beyond its first (see module_record) -> its path
        self.refused: dict[int, str] = {}
        # ops with MACs run on parameters and buffers alone (a position-bias MLP, a positional
        # encoding's conv): batch-independent work, not in the per-sample counts, listed
        self.constant_work: Counter[str] = Counter()

    # --- shapes ----------------------------------------------------------------------------
    @staticmethod
    def sample(t: torch.Tensor) -> Shape:
        """Per-sample shape. The forward runs on one sample: a batch dimension in front is
        dropped; a tensor whose batch dimension moved (nn.MultiheadAttention's transpose) or
        was folded into another (batch x heads) is one sample's as it is. With a larger batch
        neither could be told apart from the other dimensions."""
        shape = tuple(int(s) for s in t.shape)
        return shape[1:] if shape and shape[0] == 1 else shape

    def path(self) -> str:
        return self.frames[-1].path if self.frames else ""

    # --- module hooks -----------------------------------------------------------------------
    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        path = self.names.get(id(module))
        if path is None:
            return
        base = aten.ruled(type(module))
        ruled = base is not None        # one rule for the whole module: one row
        check = aten.MODULE_CHECKS.get(base) if base is not None else None
        if check is not None and not self.suppress:
            acts = [t for t in tensors_in(args) if id(t) in self.tensors.node]
            why = check(module, args, acts)
            if why is not None:
                raise SpecError(why, path=path or type(module).__name__)
        leaf = ruled or next(module.children(), None) is None
        self.signature.append((self.path(), f"call {path}"))
        self.frames.append(Frame(path, module, leaf, args))
        if ruled:
            self.suppress += 1

    def leave(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if not self.frames or self.frames[-1].module is not module:
            return
        frame = self.frames.pop()
        self.signature.append((frame.path, "return"))
        base = aten.ruled(type(module))
        rule = aten.MODULES[base] if base is not None else None
        if rule is not None:
            self.suppress -= 1
            if not self.suppress:
                self.module_record(frame, rule, output)
        elif frame.leaf and not frame.records and isinstance(output, torch.Tensor) \
                and id(output) in self.tensors.node and not self.signature_only:
            # an op that runs no ATen op at inference (dropout, identity): a view row
            source = self.tensors.node[id(output)]
            shape = self.sample(output)
            self.add(frame, "identity", ops.Identity(), [source], [shape], shape, True, [output])
        self.name(frame)

    def module_record(self, frame: Frame, rule: aten.ModuleRule, output: Any) -> None:
        tensors = tensors_in(frame.args)
        acts = [t for t in tensors if id(t) in self.tensors.node]
        outs = tensors_in(output)
        owned = frozenset(id(t) for t in [*frame.module.parameters(), *frame.module.buffers()]
                          if id(t) in self.params)
        if not acts:    # run on constants alone (Swin V2's position-bias MLP): a constant
            if isinstance(frame.module, aten.MAC_MODULES) and not self.signature_only:
                self.constant_work[type(frame.module).__name__] += 1
            lineage = owned.union(*(self.tensors.lineage.get(id(t), frozenset())
                                    for t in tensors))
            for o in outs:
                self.tensors.lineage[id(o)] = lineage
            self.tensors.alive.extend(outs)
            return
        if not outs:
            return
        if self.signature_only:
            self.mark(outs)
            return
        ins = [self.sample(t) for t in acts]
        out = self.sample(outs[0])
        op = rule(frame.module, ins, out)
        inputs = [self.tensors.node[id(t)] for t in acts]
        param, counted = self.param_record(frame, op, ins, out, owned, inputs[0])
        if param is not None:
            inputs.append(param)
            ins.append(self.records[param].out)
        self.add(frame, type(frame.module).__name__.lower(), op, inputs, ins, out,
                 type(op).inplace == "view", outs[:1], before=counted)
        # the rule stands for the first output; the others (a recurrent layer's final states,
        # batch not first) have no node: an op reading one is refused, never mis-shaped
        for o in outs[1:]:
            self.refused[id(o)] = f"{frame.path or 'the model'} ({type(frame.module).__name__})"
        self.tensors.alive.extend(outs[1:])

    # --- ATen ops ---------------------------------------------------------------------------
    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        shortcut: Any = SHAPE_ONLY.get(func)
        out = shortcut(*args) if shortcut else func(*args, **kwargs)
        if self.suppress:
            return out
        name = func.overloadpacket.__name__
        mutates = name.endswith("_") and not name.endswith("__")
        base = name[:-1] if mutates else name
        tensors = tensors_in(args) + (tensors_in(kwargs) if kwargs else [])
        if self.refused:
            self.refuse(tensors)
        known = self.tensors
        acts = [t for t in tensors if id(t) in known.node]
        outs = tensors_in(out)
        if not acts or base in aten.FACTORIES:
            if base in aten.MACS and not self.signature_only:
                self.constant_work[f"aten.{base}"] += 1
            lineage = frozenset().union(*(known.lineage.get(id(t), frozenset()) for t in tensors))
            for o in outs:
                known.lineage[id(o)] = lineage
                known.node.pop(id(o), None)
            known.alive.extend(outs)
            return out
        if not outs:
            return out
        self.signature.append((self.path(), base))
        whole = args[0]._base if mutates and isinstance(args[0], torch.Tensor) else None
        if whole is not None and id(args[0]) not in known.node and id(whole) not in known.node:
            self.written(base, whole, acts)
            return out
        if self.signature_only:
            self.mark(outs)
        else:
            self.record(func, base, mutates, args, kwargs, tensors, acts, outs)
        return out

    def refuse(self, tensors: list[torch.Tensor]) -> None:
        """An op reading an output that a ruled module returns besides its first."""
        owner = next((self.refused[id(t)] for t in tensors if id(t) in self.refused), None)
        if owner is not None:
            raise SpecError(f"the forward reads the final state that {owner} returns besides "
                            "its output (h_n, c_n); archprof counts a recurrent layer's output "
                            "sequence only, as the states' batch dimension is not first: read "
                            "the output instead (y[:, -1] is the last step's)")

    def mark(self, outs: list[torch.Tensor]) -> None:
        """Outputs are activations (when only the op sequence is wanted)."""
        for o in outs:
            self.tensors.node[id(o)] = 0
        self.tensors.alive.extend(outs)

    def record(self, func: Any, base: str, mutates: bool, args: tuple, kwargs: dict,
               tensors: list[torch.Tensor], acts: list[torch.Tensor],
               outs: list[torch.Tensor]) -> None:
        known = self.tensors
        ins = [self.sample(t) for t in acts]
        out = self.sample(outs[0])
        returns = func._schema.returns
        aliases = bool(returns) and returns[0].alias_info is not None
        view = base in aten.VIEWS or (aliases and not mutates)
        inplace = (view or aliases) and isinstance(args[0], torch.Tensor) \
            and id(args[0]) in known.node
        constants = [t for t in tensors if id(t) not in known.node]
        inputs = [known.node[id(t)] for t in acts]
        frame = self.frames[-1] if self.frames else None
        # rows are named by the torch function called (flatten, matmul, linear), its views
        # (matmul's expand and view) by their own ATen names
        named = self.torch_name and (not view or self.torch_name in aten.VIEWS)
        label = self.torch_name if named else base
        if view and len(outs) > 1:   # split, unbind: one view row per piece
            self.pieces(frame, label, base, args, inputs[0], ins[0], outs)
            return
        extra: list[Shape] = []      # constant operands an op's cost counts (x + bias_table)
        op: Op
        if view or base in aten.COPIES:
            *before, op = aten.view(base, args, ins[0], out)
            # a copy allocates its output, but copy_ writes into its target's memory
            inplace = inplace and (base not in aten.COPIES or mutates)
            if before:
                source, shape, inplace = self.steps(frame, label, before, inputs[0], ins[0],
                                                    inplace)
                inputs, ins = [source], [shape]
        elif base in aten.ELEMENTWISE:
            op, extra = self.elementwise(base, args, constants)
        elif base == "cat":
            op, extra = self.concat(args, kwargs, constants)
        elif base == "addcmul" and (size := self.affine(args, kwargs)) is not None:
            op = ops.Affine(size=size)
        else:
            op = aten.op_for(aten.Call(base, args, kwargs, ins, out, self.acted(args))) \
                or ops.Uncounted(aten=f"aten.{base}")
        bias: Op | None = None
        if isinstance(op, ops.Linear) and op.bias and base == "addmm" \
                and self.fresh_param(args[0]) is None:
            # the bias is not one parameter of its own (BEiT's q, zero k and v biases
            # concatenated, a bias shared): the product, then the bias added in place, so that
            # only the parameters it reads are counted
            op, bias = replace(op, bias=False), ops.Add(constant=(*(1,) * (len(out) - 1),
                                                                  out[-1]))
        swap = self.swap(op, base, args, ins[0])
        main = out
        if swap is not None:    # transposed, the op, transposed back
            source, swapped, _ = self.steps(frame, "transpose", [swap], inputs[0], ins[0], True)
            inputs, ins, main = [source], [swapped], op.shape([swapped])
        lineage = frozenset().union(*(known.lineage.get(id(t), frozenset()) for t in constants))
        param, counted = self.param_record(frame, op, ins, main, lineage, inputs[0])
        if param is not None:
            if extra:    # the row stands for the operand it becomes (the gathered bias)
                self.records[param].out = extra.pop(0)
            inputs.append(param)
            ins.append(self.records[param].out)
        if isinstance(op, ops.Elementwise) and len(extra) == 1 and op.learned is None:
            op, extra = replace(op, constant=extra[0]), []   # a mask built by the forward
        if swap is not None:
            normed = self.add(frame, label, op, inputs, ins, main, inplace, [], before=counted)
            self.add(frame, "transpose", swap, [normed], [main], out, True, outs)
            return
        if bias is not None:
            product = self.add(frame, label, op, inputs, ins + extra, out, inplace, [],
                               before=counted)
            self.add(frame, "add", bias, [product], [out], out, True, outs)
            return
        self.add(frame, label, op, inputs, ins + extra, out, inplace, outs, before=counted)

    def acted(self, args: tuple) -> list[bool]:
        """Which of an op's arguments are activations."""
        return [isinstance(a, torch.Tensor) and id(a) in self.tensors.node for a in args]

    def swap(self, op: Op, base: str, args: tuple, ins: Shape) -> Op | None:
        """The transpose that puts where the op's rule reads it the dimension the op works on
        (then the op, then the transpose back), or None: channels first for a batch norm of
        tokens whose batch was folded with their positions (LeViT's BatchNorm1d on (B*N, C):
        per sample (N, C), which the rule would count as N channels); the last two dimensions
        for a weight on the left of a matrix product (W @ x: the rule multiplies the last)."""
        if isinstance(op, ops.Linear) and aten.left_weight(base, self.acted(args)):
            return ops.Transpose(dims=(len(ins) - 2, len(ins) - 1))
        if not isinstance(op, ops.BatchNorm) or len(ins) != 2:
            return None
        channels = args[1].numel() if isinstance(args[1], torch.Tensor) else ins[0]
        return ops.Transpose(dims=(0, 1)) if ins[0] != channels == ins[1] else None

    def fresh_param(self, t: torch.Tensor) -> Tensor | None:
        """The parameter a constant operand is, when it is one not yet counted, whole."""
        lineage = self.tensors.lineage.get(id(t), frozenset())
        if len(lineage) != 1:
            return None
        (pid,) = lineage
        p = self.params[pid]
        return p if not p.buffer and pid not in self.attributed and t.numel() == p.numel else None

    def elementwise(self, base: str, args: tuple, constants: list[torch.Tensor]
                    ) -> tuple[Op, list[Shape]]:
        """add/sub/mul/div with a scalar, a learned tensor (a layer scale, a position
        embedding) or another constant (a gathered position bias) after the activations."""
        operands = args[:2]
        scalar = next((float(a) for a in operands if isinstance(a, (int, float, bool))), None)
        tensors = [a for a in operands if isinstance(a, torch.Tensor) and
                   any(a is c for c in constants)]
        param = self.fresh_param(tensors[0]) if len(tensors) == 1 else None
        if param is not None:
            return aten.elementwise(base, scalar, tuple(tensors[0].shape)), []
        rank = len(self.sample(next(a for a in operands if isinstance(a, torch.Tensor)
                                    and id(a) in self.tensors.node)))
        return aten.elementwise(base, scalar, None), [self.constant(t, rank) for t in tensors]

    def concat(self, args: tuple, kwargs: dict, constants: list[torch.Tensor]
               ) -> tuple[Op, list[Shape]]:
        """torch.cat, with a learned tensor (a class token) as one op's parameter."""
        dim = aten.sample_dim(int(args[1] if len(args) > 1 else kwargs.get("dim", 0)))
        parts = [t for t in args[0] if any(t is c for c in constants)]
        param = self.fresh_param(parts[0]) if len(parts) == 1 else None
        if param is not None and ops.numel(self.sample(parts[0])) == param.numel:
            return ops.Concat(dim=dim, learned=self.sample(parts[0])), []
        return ops.Concat(dim=dim), [self.sample(t) for t in parts]

    def affine(self, args: tuple, kwargs: dict) -> Shape | None:
        """The shape of shift and scale in torch.addcmul(shift, scale, x) (ResMLP), when
        both are parameters not yet counted, of one shape, and x the activation."""
        shift, scale, x = args[:3]
        if kwargs.get("value", 1) != 1 or id(x) not in self.tensors.node:
            return None
        shift_p, scale_p = self.fresh_param(shift), self.fresh_param(scale)
        if shift_p is None or scale_p is None or shift_p is scale_p \
                or tuple(shift.shape) != tuple(scale.shape):
            return None
        return tuple(int(v) for v in scale.shape)

    def constant(self, t: torch.Tensor, rank: int) -> Shape:
        """A constant's shape against per-sample ones of `rank`, as torch broadcasts it."""
        shape = tuple(int(v) for v in t.shape)
        while len(shape) > rank and shape[0] == 1:
            shape = shape[1:]
        return (1,) * (rank - len(shape)) + shape

    def pieces(self, frame: Frame | None, label: str, base: str, args: tuple, source: int,
               ins: Shape, outs: list[torch.Tensor]) -> None:
        """split/chunk/unbind: one view row per piece (a slice, or a select for unbind)."""
        at = 1 if base == "unbind" else 2          # split(x, size, dim), unbind(x, dim)
        dim = int(args[at]) if len(args) > at else 0
        d = aten.local_dim(args[0], ins, dim)
        start = 0
        for i, piece in enumerate(outs):
            shape = self.sample(piece)
            op: Op = ops.Identity()
            if d is not None and base == "unbind":
                op = ops.Select(dim=d, index=i)
            elif d is not None:
                size = int(piece.shape[dim])
                op = ops.Slice(dim=d, start=start, end=start + size)
                start += size
            *before, last = aten.fit(op, ins, shape)
            at, at_shape, _ = self.steps(frame, label, before, source, ins, True)
            self.add(frame, label, last, [at], [at_shape], shape, True, [piece])

    def steps(self, frame: Frame | None, label: str, before: list[Op], source: int, ins: Shape,
              inplace: bool) -> tuple[int, Shape, bool]:
        """The rows of the ops a view is made of but the last (see aten.fit), each reading
        the one before; the record, shape and in-place flag that the last one reads."""
        for step in before:
            shape = step.shape([ins])
            source = self.add(frame, label, step, [source], [ins], shape, inplace, [])
            ins, inplace = shape, True
        return source, ins, inplace

    def whole(self, func: Any, args: tuple, kwargs: dict, inputs: list[Any], label: str,
              op: Callable[[], Op]) -> Any:
        """A torch function as one row, `op`, whose ATen ops are a decomposition (SDPA's math
        fallback on meta: matmuls and a softmax; circular padding: copies into a new
        tensor); its ATen ops when `inputs` are not all activations."""
        if not all(isinstance(t, torch.Tensor) and id(t) in self.tensors.node for t in inputs):
            return func(*args, **kwargs)
        self.suppress += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self.suppress -= 1
        self.signature.append((self.path(), label))
        if self.signature_only:
            self.mark([out])
            return out
        frame = self.frames[-1] if self.frames else None
        self.add(frame, label, op(), [self.tensors.node[id(t)] for t in inputs],
                 [self.sample(t) for t in inputs], self.sample(out), False, [out])
        return out

    def written(self, name: str, whole: torch.Tensor, acts: list[torch.Tensor]) -> None:
        """Activation data written in place into part of a tensor the forward made (padding by
        hand: torch.zeros, then a slice assigned): the `whole` tensor is an activation from
        here on, made by this op, which no rule counts."""
        if self.signature_only:
            self.mark([whole])
            return
        frame = self.frames[-1] if self.frames else None
        self.add(frame, name, ops.Uncounted(aten=f"aten.{name}_", why=aten.WRITTEN),
                 [self.tensors.node[id(t)] for t in acts], [self.sample(t) for t in acts],
                 self.sample(whole), False, [whole])

    def counted(self, lineage: frozenset[int]) -> Counted:
        """What earlier ops counted of the parameters and buffers in `lineage`."""
        seen = [pid for pid in lineage if pid in self.attributed]
        tensors = [self.params[pid] for pid in seen]
        return (sum(p.numel for p in tensors if not p.buffer),
                sum(p.numel for p in tensors if p.buffer), bool(seen) and len(seen) == len(lineage),
                min((self.attributed[pid] for pid in seen), default=-1))

    def param_record(self, frame: Frame | None, op: Op, ins: list[Shape], out: Shape,
                     lineage: frozenset[int], source: int) -> tuple[int | None, Counted]:
        """The op's parameters are those it reads (`lineage`), each counted once: a `param`
        row for those its rule does not count (a layer scale, a position embedding), and what
        the op's row does not count of its rule's (`Counted`): what earlier ops counted, and
        what the rule counts beyond the parameters read (a weight made from parameters, as
        a low-rank product; a buffer or a constant as the weight)."""
        counted = self.counted(lineage)
        new = [pid for pid in lineage if pid not in self.attributed]
        fresh = [self.params[pid] for pid in new if not self.params[pid].buffer]
        extra = sum(p.numel for p in fresh) - (op.params(ins, out) - counted[0])
        row = None
        if extra < 0 and not counted[2]:
            counted = (counted[0] - extra, *counted[1:])
        elif extra > 0:
            biggest = max(fresh, key=lambda p: p.numel)
            source_shape = self.records[source].out if source != INPUT else self.input_shape
            row = self.add(frame, biggest.path, ops.Param(count=extra), [source], [source_shape],
                           biggest.shape, True, [], named=biggest.path)
        for pid in new:     # counted by the op recorded next (its row holds their gradient)
            self.attributed[pid] = len(self.records)
        return row, counted

    def add(self, frame: Frame | None, func: str, op: Op, inputs: list[int], ins: list[Shape],
            out: Shape, inplace: bool, outs: list[torch.Tensor], named: str = "",
            before: Counted = (0, 0, False, -1)) -> int:
        index = len(self.records)
        self.records.append(Record(func, op, inputs, ins, out, inplace, named, before))
        for o in outs:
            self.tensors.node[id(o)] = index
        self.tensors.alive.extend(outs)
        if named:
            self.records[index].name = self.unique(named)
        elif frame is not None:
            frame.records.append(index)
        else:
            self.records[index].name = self.unique(func)
        return index

    # --- names ------------------------------------------------------------------------------
    def unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.taken:
            candidate, n = f"{name}_{n}", n + 1
        self.taken.add(candidate)
        return candidate

    def name(self, frame: Frame) -> None:
        """A leaf module's one op is named by the module path; several, or the ops a module
        calls itself, by the path plus the op ('layer1.0.add')."""
        records = [self.records[i] for i in frame.records]
        prefix = frame.path + "." if frame.path else ""
        main = records if len(records) == 1 else [
            r for r in records if not isinstance(r.op, (ops.Identity, ops.Flatten))]
        for r in records:
            own = frame.leaf and frame.path and len(main) == 1 and r is main[0]
            r.name = self.unique(frame.path if own else prefix + r.func)


class TorchCalls(TorchFunctionMode):
    """Sees the torch functions the forward calls: their names label the ATen ops they run
    (`torch.flatten` runs `aten.view`: the row is 'flatten'), and meta tensors have no values,
    so a forward that reads one (`if x.sum() > 0`) gets a stand-in (True, 1) and a warning
    naming the module, instead of failing or choosing silently."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        if func in VALUE_READS and args and getattr(args[0], "is_meta", False):
            path = self.recorder.path() or "(top level)"
            if path not in self.recorder.value_reads:
                self.recorder.value_reads.append(path)
            if func is torch.Tensor.tolist:
                return torch.ones(args[0].shape, dtype=args[0].dtype).tolist()
            return True if args[0].dtype == torch.bool or func is torch.Tensor.__bool__ else 1
        kwargs = kwargs or {}
        if func is SDPA and not self.recorder.suppress:
            q, k, v = (list(args) + [kwargs.get(n) for n in ("query", "key", "value")])[:3]
            return self.recorder.whole(func, args, kwargs, [q, k, v],
                                       "scaled_dot_product_attention",
                                       lambda: aten.sdpa(q, k, v, kwargs))
        if func is PAD and not self.recorder.suppress and aten.circular(args, kwargs):
            pads = tuple(int(p) for p in (list(args) + [kwargs.get("pad")])[1])
            return self.recorder.whole(func, args, kwargs, [args[0]], "pad",
                                       lambda: ops.EdgePad(pads=pads, mode="circular"))
        name = getattr(func, "__name__", "")
        self.recorder.torch_name = "" if name.startswith("_") else name.rstrip("_")
        try:
            return func(*args, **kwargs)
        finally:
            self.recorder.torch_name = ""


def record(module: nn.Module, names: dict[int, str], x: torch.Tensor,
           stand_ins: dict[str, torch.Tensor], params: dict[int, Tensor],
           signature_only: bool = False) -> Recorder:
    """Run module(x) (a batch of one sample) with `stand_ins` (meta tensors) for its
    parameters and buffers; with `signature_only`, note only the sequence of (module, op)."""
    recorder = Recorder(names, params)
    recorder.signature_only = signature_only
    recorder.input_shape = recorder.sample(x)
    recorder.tensors.node[id(x)] = INPUT
    hooks = [nn.modules.module.register_module_forward_pre_hook(
                 lambda m, a: recorder.enter(m, a)),
             nn.modules.module.register_module_forward_hook(
                 lambda m, a, o: recorder.leave(m, a, o))]
    try:
        with torch.no_grad(), TorchCalls(recorder), recorder:
            output = torch.func.functional_call(module, stand_ins, (x,), strict=False)
        recorder.returned = {recorder.tensors.node[id(t)] for t in tensors_in(output)
                             if id(t) in recorder.tensors.node}
    finally:
        for hook in hooks:
            hook.remove()
    for path in recorder.value_reads if not signature_only else []:
        warnings.warn(f"{path or 'the model'}: the forward reads a tensor's value (data-dependent"
                      " control flow); archprof traced the path taken when that value is"
                      " true/1, other inputs may run other ops", DynamicControlFlow, stacklevel=3)
    return recorder
