"""Primitive ops: one rule class per op type, holding together its output shape, parameter
count, multiply-accumulates (MACs), other elementwise ops, activation memory, receptive-field
window, the torch module that implements it and the arithmetic behind each number.

Adding an op type is one class here with `@register`. Shapes are per sample (no batch
dimension) and of any rank: (C, *spatial) for 1-D/2-D/3-D feature maps, (L, D) for token
sequences, (F,) for flat vectors. Dimension fields (`dim`, `start`, permutations) count from
the first per-sample dimension, as `x[0]` would; negative values count from the end, as in
torch. Nothing here imports torch or knows which producer (spec, tracer) made the op;
`module()` names the class (from torch.nn or archprof.model.modules) and its arguments, and
archprof.model builds it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

from archprof.errors import SpecError, did_you_mean

Shape = tuple[int, ...]
Module = tuple[str, dict[str, Any]]
Sizes = int | tuple[int, ...]           # one value for every spatial dimension, or one each
# Receptive-field window of an op on its first input, per spatial dimension: (kernel, stride,
# dilation) in input positions (a stride below 1, as a Fraction, upsamples); None: pointwise
# (the window of each output element is that of one input element); GLOBAL: every input.
Window = tuple[tuple[int, ...], tuple[Any, ...], tuple[int, ...]] | str | None
GLOBAL = "global"

OPS: dict[str, type[Op]] = {}
LAYOUTS = {1: "CxL", 2: "CxHxW", 3: "CxDxHxW"}


def spec_field(kind: str, default: Any = MISSING) -> Any:
    """A field a spec row may set; `kind` names the value's parser in archprof.spec.fields
    (positive, sizes, padding, boolean, number, fraction, integer, shape, ...). Other producers
    set it directly."""
    if default is MISSING:
        return field(metadata={"spec": kind})
    return field(default=default, metadata={"spec": kind})


def register(cls: type[Op]) -> type[Op]:
    OPS[cls.kind] = cls
    return cls


def fmt(n: int | float) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n:g}"


def dims(shape: tuple[Any, ...]) -> str:
    """'96x55x55'."""
    return "x".join(map(str, shape))


numel: Callable[[Shape], int] = math.prod      # elements of a shape (a C function: called per op)


@dataclass(frozen=True)
class Own:
    """A tensor an op makes only for its backward (maxpool indices, a dropout mask, BN
    statistics, the copy an in-place op keeps of its input)."""
    what: str
    elements: int           # per sample, or in all when `per_sample` is False
    dtype: str = "act"      # "act": the activations' dtype; else a torch dtype name
    per_sample: bool = True


@dataclass(frozen=True)
class Saved:
    """What autograd keeps from the forward for one op's backward: some of its inputs and/or
    its output (memory shared with other ops, counted once per tensor) and tensors of its own.
    Parameters it keeps are not listed: they live anyway. `for_weights`: those of `inputs`
    kept only for the weight gradient, which autograd does not keep where none is computed
    (a frozen layer, a buffer as the weight)."""
    inputs: tuple[int, ...] = ()
    output: bool = False
    own: tuple[Own, ...] = ()
    for_weights: tuple[int, ...] = ()


NOTHING = Saved()


def feature_map(op: Op, shape: Shape, rank: int | None = None) -> int:
    """The spatial rank of a (C, *spatial) input, checked against `rank` (1 to 3 when None)."""
    r = len(shape) - 1
    if r == rank if rank is not None else 1 <= r <= 3:
        return r
    want = LAYOUTS.get(rank or 2, f"C plus {rank} spatial dimensions")
    raise SpecError(f"{op.kind} needs a {want} feature map, got {dims(shape)}"
                    + ("; it follows a flat vector" if r == 0 else ""))


def spatial(op: Op, shape: Shape) -> Shape:
    """A CxHxW feature map (ops that exist for images only: LRN, channel shuffle)."""
    feature_map(op, shape, 2)
    return shape


def per_dim(value: Sizes, rank: int, what: str) -> tuple[int, ...]:
    """One value per spatial dimension from a scalar (for all) or a tuple of `rank` values."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise SpecError(f"{what} {dims(value)} gives {len(value)} values for {rank} spatial "
                        f"dimension(s)")
    return tuple(value)


def axis(dim: int, rank: int, what: str = "dim") -> int:
    """A per-sample dimension index, negative ones counted from the end, checked."""
    if not -rank <= dim < rank:
        raise SpecError(f"{what} {dim} is out of range for a {rank}-dimensional input")
    return dim % rank


def torch_dim(dim: int) -> int:
    """The per-sample dimension as torch counts it, with the batch dimension in front."""
    return dim + 1 if dim >= 0 else dim


def broadcast(kind: str, shapes: list[Shape]) -> Shape:
    """torch's broadcasting of per-sample shapes. Every input carries the batch dimension in
    front, so ranks must agree: right-aligning a shorter one would pair the batch dimension
    with a per-sample one."""
    if shapes.count(shapes[0]) == len(shapes):     # the common case, e.g. a residual add
        return shapes[0]
    if len({len(s) for s in shapes}) > 1:
        raise SpecError(f"{kind} of shapes of different rank: " + " vs ".join(map(dims, shapes)))
    out = tuple(max(sizes) for sizes in zip(*shapes))
    if any(a not in (1, b) for s in shapes for a, b in zip(s, out)):
        raise SpecError(f"{kind} of shapes that do not broadcast: " + " vs ".join(map(dims, shapes)))
    return out


@dataclass(kw_only=True)
class Op:
    """Base rule. Subclasses are dataclasses of plain numbers; fields made by `spec_field` can
    be set from a spec row, the one named by `head` by the row's op key ({conv: 96} -> out=96)."""
    kind: ClassVar[str]
    head: ClassVar[str | None] = None
    multi_input: ClassVar[bool] = False   # the op key's value lists the inputs (concat, add, mul)
    min_inputs: ClassVar[int] = 2         # of a multi-input op
    # "view": the output shares its input's memory (flatten, dropout in eval, identity);
    # "mutate": the op can overwrite its input in place (relu) when nothing else reads that input.
    inplace: ClassVar[str | None] = None

    # --- the rule: each method gets the input shapes and (after shape()) the output shape ---
    def shape(self, ins: list[Shape]) -> Shape:
        return ins[0]

    def params(self, ins: list[Shape], out: Shape) -> int:
        return 0

    def weights(self, ins: list[Shape], out: Shape) -> int:
        """Parameters that multiply (conv/linear kernels): params without biases or BN affine."""
        return 0

    def buffers(self, ins: list[Shape], out: Shape) -> int:
        return 0

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return 0

    def other(self, ins: list[Shape], out: Shape) -> int:
        """Elementwise work that is not a multiply-accumulate (bias adds, BN, activations,
        pooling, residual adds); reported apart from MACs."""
        return 0

    def window(self, ins: list[Shape]) -> Window:
        """How far an output element sees into the first input (see `Window`)."""
        return None

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        raise NotImplementedError

    def describe(self, ins: list[Shape]) -> str:
        """A short label for breakdowns by layer type ('conv 3x3 dw', 'fc')."""
        return self.kind

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        """The arithmetic behind shape, params and MACs, with the numbers substituted."""
        same = " (same as input)" if out == ins[0] else ""
        return {"out": f"{dims(out)}{same}", "params": fmt(self.params(ins, out)), "macs": "0"}

    def trained_params(self, ins: list[Shape], out: Shape) -> int:
        """Parameters that get a gradient (and optimizer state) in a training step."""
        return self.params(ins, out)

    def runs(self) -> bool:
        """False for a row that only records something (a parameter the forward never reads):
        no work, no memory, not an output."""
        return True

    # --- training: what the backward pass costs -----------------------------------------------
    # In training an op returning a view (flatten) still returns one; grad_view: the gradients
    # of its inputs are views of its output's gradient (add, concat, flatten: no new memory).
    grad_view: ClassVar[bool] = False
    # The op allocates its output in training even where inference makes it a view (dropout).
    train_allocates: ClassVar[bool] = False

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        """MACs of the backward per sample: gradient w.r.t. the input (when `input_grad`) plus
        gradient w.r.t. the weights (when `weight_grad`). Ops with forward MACs must say."""
        if self.macs(ins, out):
            raise SpecError(f"op '{self.kind}' has MACs but no backward rule: training cost unknown")
        return 0

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        """The arithmetic of `backward_macs`, with the numbers substituted."""
        return "0"

    def keeps_output(self, inplace: bool) -> bool:
        """Whether `saved` keeps the op's output, which it says alike on any shapes: an op
        that overwrote that output in place would break the backward (mark_inplace)."""
        return False

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        """What autograd saves for this op's backward; `inplace`: the op overwrote its input.
        No default: an op that does not say cannot be costed for training."""
        raise SpecError(f"op '{self.kind}' has no rule for the memory autograd saves: training "
                        "cost unknown")


def _out_size(size: int, k: int, s: int, d: int, before: int, after: int, ceil: bool,
              what: str) -> int:
    span = d * (k - 1) + 1
    padded = size + before + after
    if span > padded:
        raise SpecError(f"kernel {span if d > 1 else k} exceeds padded input {padded}"
                        f" ({what}: input {size}, padding {before}+{after})")
    if not ceil:
        return (padded - span) // s + 1
    out = -(-(padded - span) // s) + 1
    # As torch/Caffe: the last window must start inside the input or the leading padding.
    return out - 1 if (out - 1) * s >= size + before else out


def _out_text(size: int, k: int, s: int, d: int, before: int, after: int, ceil: bool, out: int) -> str:
    pad = f"{before}+{after}" if before != after else f"2*{before}"
    kern = f"{d}*({k}-1)-1" if d > 1 else f"{k}"
    rnd = "ceil" if ceil else "floor"
    return f"{rnd}(({size} + {pad} - {kern})/{s}) + 1 = {out}"


def _same_padding(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


DIM_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
# kernel, stride, dilation per spatial dimension, pads as (before, after) per dimension (None:
# 'same', which depends on the input size) and the kernel's number of elements
Geometry = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...] | None, int]


def _geometry(k: Sizes, s: Sizes, p: Any, d: Sizes, rank: int) -> Geometry:
    kernel, stride, dilation = (per_dim(k, rank, "kernel"), per_dim(s, rank, "stride"),
                                per_dim(d, rank, "dilation"))
    if p == "same":
        return kernel, stride, dilation, None, math.prod(kernel)
    pads = (p,) * rank if isinstance(p, int) else tuple(p)
    if len(pads) == rank:
        pads = tuple(v for x in pads for v in (x, x))
    elif len(pads) != 2 * rank:
        raise SpecError(f"padding {dims(pads)} gives {len(pads)} values for {rank} spatial "
                        f"dimension(s) (give {rank} or {2 * rank})")
    return kernel, stride, dilation, pads, math.prod(kernel)


@dataclass(kw_only=True)
class Windowed(Op):
    """Shared arithmetic of convolution and pooling windows over 1 to 3 spatial dimensions.
    k, s, d: one number for every dimension or one per dimension; p: one number, one per
    dimension, (before, after) per dimension ((top, bottom, left, right) in 2-D) or 'same'."""
    k: Sizes = spec_field("sizes")
    s: Sizes = spec_field("sizes", 1)
    p: Any = spec_field("padding", 0)
    d: Sizes = spec_field("sizes", 1)
    ceil: bool = spec_field("boolean", False)
    _seen = None        # see `fixed` (no annotation: not a field)

    def rank(self, ins: list[Shape]) -> int:
        """Spatial rank: the kernel tuple's length, else the input's."""
        return feature_map(self, ins[0], len(self.k) if isinstance(self.k, tuple) else None)

    def fixed(self, ins: list[Shape]) -> Geometry:
        """The window on inputs of this rank (each rule method asks, on every new input
        shape): worked out, the rank checked, once per rank and kept for the rank last seen
        (in the instance's dict, as a cached_property would: not a field of the op's value)."""
        seen = self._seen
        if seen is not None and seen[0] == len(ins[0]):
            return seen[1]
        geometry = _geometry(self.k, self.s, self.p, self.d, self.rank(ins))
        self.__dict__["_seen"] = (len(ins[0]), geometry)
        return geometry

    def kernel(self, ins: list[Shape]) -> tuple[int, ...]:
        return self.fixed(ins)[0]

    def stride(self, ins: list[Shape]) -> tuple[int, ...]:
        return self.fixed(ins)[1]

    def dilation(self, ins: list[Shape]) -> tuple[int, ...]:
        return self.fixed(ins)[2]

    def geometry(self, ins: list[Shape]) -> tuple[tuple[int, ...], ...]:
        """kernel, stride, dilation and pads (see `pads`) on these inputs."""
        k, s, d, pads, _ = self.fixed(ins)
        if pads is None:      # 'same': the pads depend on the input size
            pads = tuple(v for size, *args in zip(ins[0][1:], k, s, d)
                         for v in _same_padding(size, *args))
        return k, s, d, pads

    def pads(self, ins: list[Shape]) -> tuple[int, ...]:
        """(before, after) for each spatial dimension, flat: (top, bottom, left, right) in 2-D."""
        return self.geometry(ins)[3]

    def dims_args(self, ins: list[Shape]) -> list[tuple[int, int, int, int, int, int]]:
        """(size, k, s, d, before, after) per spatial dimension."""
        kernel, stride, dilation, pads = self.geometry(ins)
        return [(size, k, s, d, pads[2 * i], pads[2 * i + 1]) for i, (size, k, s, d) in
                enumerate(zip(ins[0][1:], kernel, stride, dilation))]

    def out_spatial(self, ins: list[Shape]) -> tuple[int, ...]:
        # a plain loop: the hot path of a cold analysis (map over eight iterables, slices
        # and a repeat() cost more than the arithmetic for two dimensions)
        kernel, stride, dilation, pads = self.geometry(ins)
        sizes, ceil = ins[0][1:], self.ceil
        names = DIM_NAMES[len(sizes)]
        out = []
        for i, size in enumerate(sizes):
            out.append(_out_size(size, kernel[i], stride[i], dilation[i], pads[2 * i],
                                 pads[2 * i + 1], ceil, names[i]))
        return tuple(out)

    def out_text(self, ins: list[Shape], out: Shape) -> str:
        texts, seen = [], set()
        for args, size in zip(self.dims_args(ins), out[1:]):
            if args not in seen:      # a dimension like the ones before it prints once
                seen.add(args)
                texts.append(_out_text(*args, self.ceil, size))
        return " ; ".join(texts)

    def window(self, ins: list[Shape]) -> Window:
        return self.kernel(ins), self.stride(ins), self.dilation(ins)

    def torch_padding(self, ins: list[Shape]) -> tuple[int, ...] | None:
        """Symmetric padding as torch takes it, or None when it needs an explicit pad."""
        pads = self.pads(ins)
        before, after = pads[0::2], pads[1::2]
        return before if before == after else None


def _check_groups(g: int, cin: int, cout: int) -> None:
    if cin % g or cout % g:
        raise SpecError(f"groups {g} must divide input channels {cin} and output channels {cout}")


@register
@dataclass(kw_only=True)
class Conv(Windowed):
    """Convolution over 1 to 3 spatial dimensions: out channels, kernel k, stride s, padding
    p, dilation d, groups g (g = input channels: depthwise)."""
    kind: ClassVar[str] = "conv"
    head: ClassVar[str] = "out"
    out: int = spec_field("positive")
    g: int = spec_field("positive", 1)
    bias: bool = spec_field("boolean", True)

    def shape(self, ins: list[Shape]) -> Shape:
        _check_groups(self.g, ins[0][0], self.out)
        return (self.out, *self.out_spatial(ins))

    def describe(self, ins: list[Shape]) -> str:
        g = self.g
        group = " dw" if g == ins[0][0] and g > 1 else f" g{g}" if g > 1 else ""
        return f"conv {dims(self.kernel(ins))}{group}"

    def weights(self, ins: list[Shape], out: Shape) -> int:
        return self.out * (ins[0][0] // self.g) * self.fixed(ins)[4]

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.weights(ins, out) + (self.out if self.bias else 0)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * (ins[0][0] // self.g) * self.fixed(ins)[4]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) if self.bias else 0   # one bias add per output element

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        pad = self.torch_padding(ins)
        r = self.rank(ins)
        args = dict(in_channels=ins[0][0], out_channels=self.out, kernel_size=self.kernel(ins),
                    stride=self.stride(ins), dilation=self.dilation(ins), groups=self.g,
                    bias=self.bias)
        if pad is None:
            return "PaddedConv", dict(args, pads=self.pads(ins))
        return f"Conv{r}d", dict(args, padding=pad)

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        # grad input: a transposed conv of the output gradient with the same kernel; grad
        # weight: each weight meets each of its outputs once. Both equal the forward MACs.
        return self.macs(ins, out) * (int(input_grad) + int(weight_grad))

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        cin, g, k = ins[0][0], self.g, "*".join(map(str, self.kernel(ins)))
        per = f"{k}*({cin}/{g})" if g > 1 else f"{k}*{cin}"
        one = f"{'*'.join(map(str, out[1:]))}*{self.out}*({per})"
        return _grad_text(one, self.macs(ins, out), input_grad, weight_grad)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.torch_padding(ins) is None:     # padded first: the padded copy is kept
            pads = self.pads(ins)
            padded = ins[0][0] * math.prod(size + pads[2 * i] + pads[2 * i + 1]
                                           for i, size in enumerate(ins[0][1:]))
            return Saved(own=(Own("padded input", padded),))
        return Saved(inputs=(0,))

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        cin, g, k = ins[0][0], self.g, "*".join(map(str, self.kernel(ins)))
        per = f"{k}*({cin}/{g})" if g > 1 else f"{k}*{cin}"
        bias = f" + {self.out}" if self.bias else ""
        return {"out": self.out_text(ins, out),
                "params": f"{per}*{self.out}{bias} = {fmt(self.params(ins, out))}",
                "macs": f"{'*'.join(map(str, out[1:]))}*{self.out}*({per}) = "
                        f"{fmt(self.macs(ins, out))}"}


@register
@dataclass(kw_only=True)
class Unfold(Windowed):
    """The sliding k-windows of a CxHxW map as columns (nn.Unfold, im2col): (C*kh*kw, L) for
    the L window positions a convolution with these k, s, p, d would have; an explicit conv
    multiplies it by a weight next. A copy, no arithmetic (symmetric padding, no ceil mode)."""
    kind: ClassVar[str] = "unfold"
    head: ClassVar[str] = "k"

    def shape(self, ins: list[Shape]) -> Shape:
        feature_map(self, ins[0], 2)
        if self.ceil or self.torch_padding(ins) is None:
            raise SpecError("unfold pads alike on both sides of each dimension, in floor mode")
        return (ins[0][0] * self.fixed(ins)[4], math.prod(self.out_spatial(ins)))

    def describe(self, ins: list[Shape]) -> str:
        return f"unfold {dims(self.kernel(ins))}"

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Unfold", dict(kernel_size=self.kernel(ins), dilation=self.dilation(ins),
                              padding=self.torch_padding(ins), stride=self.stride(ins))

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING      # its gradient folds the columns back (col2im): sizes only

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        k = "*".join(map(str, self.kernel(ins)))
        sizes = self.out_spatial(ins)
        return {"out": f"{ins[0][0]}*{k} = {out[0]} columns of {'*'.join(map(str, sizes))} = "
                       f"{out[1]} positions ({self.out_text(ins, (out[0], *sizes))})",
                "params": "0", "macs": "0"}


@register
@dataclass(kw_only=True)
class ConvTranspose(Windowed):
    """Transposed convolution (a convolution's gradient; learned upsampling). Each input
    position scatters a k-window to Cout/g channels: MACs = input elements * prod(k) * Cout/g;
    output size (i - 1)*s - 2p + d*(k - 1) + output_padding + 1."""
    kind: ClassVar[str] = "conv_transpose"
    head: ClassVar[str] = "out"
    out: int = spec_field("positive")
    g: int = spec_field("positive", 1)
    bias: bool = spec_field("boolean", True)
    output_padding: Sizes = spec_field("non_negative_sizes", 0)

    def shape(self, ins: list[Shape]) -> Shape:
        _check_groups(self.g, ins[0][0], self.out)
        pad = self.torch_padding(ins)
        if self.p == "same" or pad is None:
            raise SpecError(f"conv_transpose padding must be symmetric numbers, got {self.p}")
        extra = per_dim(self.output_padding, self.rank(ins), "output_padding")
        sizes = []
        for size, k, s, d, p, op in zip(ins[0][1:], self.kernel(ins), self.stride(ins),
                                        self.dilation(ins), pad, extra):
            if op >= max(s, d):
                raise SpecError(f"output_padding {op} must be smaller than stride {s} or "
                                f"dilation {d}")
            n = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            if n < 1:
                raise SpecError(f"conv_transpose output size {n} (input {size}, padding {p})")
            sizes.append(n)
        return (self.out, *sizes)

    def describe(self, ins: list[Shape]) -> str:
        return f"conv_transpose {dims(self.kernel(ins))}" + (f" g{self.g}" if self.g > 1 else "")

    def weights(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] * (self.out // self.g) * numel(self.kernel(ins))

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.weights(ins, out) + (self.out if self.bias else 0)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0]) * (self.out // self.g) * numel(self.kernel(ins))

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) if self.bias else 0

    def window(self, ins: list[Shape]) -> Window:
        # An output position gathers from ceil(span / s) input positions; its step on the
        # input is 1/s of a position.
        spans = [d * (k - 1) + 1 for k, d in zip(self.kernel(ins), self.dilation(ins))]
        return (tuple(-(-span // s) for span, s in zip(spans, self.stride(ins))),
                tuple(Fraction(1, s) for s in self.stride(ins)), (1,) * len(spans))

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        # grad input: a plain convolution of the output gradient; grad weight: each weight
        # meets each input position once. Both equal the forward MACs.
        return self.macs(ins, out) * (int(input_grad) + int(weight_grad))

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        per = f"{self.out}/{self.g}" if self.g > 1 else f"{self.out}"
        one = f"{'*'.join(map(str, ins[0]))}*{'*'.join(map(str, self.kernel(ins)))}*{per}"
        return _grad_text(one, self.macs(ins, out), input_grad, weight_grad)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        r = self.rank(ins)
        return f"ConvTranspose{r}d", dict(
            in_channels=ins[0][0], out_channels=self.out, kernel_size=self.kernel(ins),
            stride=self.stride(ins), padding=self.torch_padding(ins),
            output_padding=per_dim(self.output_padding, r, "output_padding"), groups=self.g,
            bias=self.bias, dilation=self.dilation(ins))

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        k = "*".join(map(str, self.kernel(ins)))
        per = f"{self.out}/{self.g}" if self.g > 1 else f"{self.out}"
        bias = f" + {self.out}" if self.bias else ""
        sizes = [f"({i}-1)*{s} - 2*{p} + {d}*({kk}-1) + {o} + 1 = {n}" for i, kk, s, d, p, o, n in
                 zip(ins[0][1:], self.kernel(ins), self.stride(ins), self.dilation(ins),
                     self.torch_padding(ins) or (), per_dim(self.output_padding, len(out) - 1,
                                                           "output_padding"), out[1:])]
        return {"out": " ; ".join(dict.fromkeys(sizes)),
                "params": f"{ins[0][0]}*{k}*{per}{bias} = {fmt(self.params(ins, out))}",
                "macs": f"{'*'.join(map(str, ins[0]))}*{k}*{per} (per input position) = "
                        f"{fmt(self.macs(ins, out))}"}


@register
@dataclass(kw_only=True)
class Linear(Op):
    """Fully connected layer on the last dimension of its input: a flat vector (F,) or every
    row of an N-D one (tokens (L, D), channels-last maps). MACs = rows * in * out."""
    kind: ClassVar[str] = "linear"
    head: ClassVar[str] = "out"
    out: int = spec_field("positive")
    bias: bool = spec_field("boolean", True)

    def shape(self, ins: list[Shape]) -> Shape:
        return (*ins[0][:-1], self.out)

    def describe(self, ins: list[Shape]) -> str:
        return "fc"

    def weights(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][-1] * self.out

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.weights(ins, out) + (self.out if self.bias else 0)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0]) * self.out

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) if self.bias else 0

    def window(self, ins: list[Shape]) -> Window:
        # On a flat vector every output mixes every input; on rows it acts per position.
        return GLOBAL if len(ins[0]) == 1 else None

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Linear", dict(in_features=ins[0][-1], out_features=self.out, bias=self.bias)

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        # grad input = grad_out @ W (in*out per row), grad weight = grad_out^T @ x (the same)
        return self.macs(ins, out) * (int(input_grad) + int(weight_grad))

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        rows = f"{numel(ins[0][:-1])}*" if len(ins[0]) > 1 else ""
        return _grad_text(f"{rows}{ins[0][-1]}*{self.out}", self.macs(ins, out), input_grad,
                          weight_grad)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,), for_weights=(0,))    # the input, for the weight gradient

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        bias = f" + {self.out}" if self.bias else ""
        rows = numel(ins[0][:-1])
        per = f"{rows}*" if len(ins[0]) > 1 else ""
        return {"out": dims(out),
                "params": f"{ins[0][-1]}*{self.out}{bias} = {fmt(self.params(ins, out))}",
                "macs": f"{per}{ins[0][-1]}*{self.out} = {fmt(self.macs(ins, out))}"}


@register
@dataclass(kw_only=True)
class Matmul(Op):
    """Matrix product of two inputs (torch.matmul/bmm): (..., M, K) @ (..., K, N) -> (..., M, N),
    the leading dimensions broadcast. MACs = batch dims * M * K * N."""
    kind: ClassVar[str] = "matmul"
    multi_input: ClassVar[bool] = True

    def shape(self, ins: list[Shape]) -> Shape:
        if len(ins) != 2 or min(len(s) for s in ins) < 2:
            raise SpecError("matmul needs two inputs of at least 2 dimensions (..., M, K) and "
                            "(..., K, N), got " + " and ".join(map(dims, ins)))
        (m, k), (k2, n) = ins[0][-2:], ins[1][-2:]
        if k != k2:
            raise SpecError(f"matmul inner sizes differ: {dims(ins[0])} @ {dims(ins[1])}")
        return (*broadcast("matmul", [ins[0][:-2], ins[1][:-2]]), m, n)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * ins[0][-1]

    def window(self, ins: list[Shape]) -> Window:
        return GLOBAL     # each output mixes a whole row of one input with a column of the other

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Matmul", {}

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        # grad a = grad_out @ b^T and grad b = a^T @ grad_out, each as many MACs as the
        # forward (both counted: the inputs of a matmul are activations)
        return 2 * self.macs(ins, out) if input_grad else 0

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        if not input_grad:
            return "0 (no gradient needed)"
        one = f"{'*'.join(map(str, out))}*{ins[0][-1]}"
        return f"grad a {one} + grad b {one} = {fmt(2 * self.macs(ins, out))}"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0, 1))

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        return {"out": f"{dims(ins[0])} @ {dims(ins[1])} = {dims(out)}", "params": "0",
                "macs": f"{'*'.join(map(str, out))}*{ins[0][-1]} = {fmt(self.macs(ins, out))}"}


@register
@dataclass(kw_only=True)
class Attention(Op):
    """Scaled dot-product attention (F.scaled_dot_product_attention) of q (..., L, E),
    k (..., S, E), v (..., S, Ev) -> (..., L, Ev). MACs = heads/batch * (L*S*E for q k^T +
    L*S*Ev for the weights times v); other ops: scaling and softmax, 4 per score. Causal
    masking changes neither count here (as FlopCounterMode counts it). Activations: the output
    only; whether the L x S scores are materialised depends on the kernel."""
    kind: ClassVar[str] = "sdpa"
    multi_input: ClassVar[bool] = True
    min_inputs: ClassVar[int] = 3
    causal: bool = spec_field("boolean", False)
    scale: float | None = spec_field("number", None)

    def shape(self, ins: list[Shape]) -> Shape:
        if len(ins) != 3 or min(len(s) for s in ins) < 2:
            raise SpecError("sdpa needs three inputs q, k, v of at least 2 dimensions, got "
                            + ", ".join(map(dims, ins)))
        q, k, v = ins
        if q[-1] != k[-1] or k[-2] != v[-2]:
            raise SpecError(f"sdpa needs q (..., L, E), k (..., S, E), v (..., S, Ev), got "
                            f"{dims(q)}, {dims(k)}, {dims(v)}")
        return (*broadcast("sdpa", [q[:-2], k[:-2], v[:-2]]), q[-2], v[-1])

    def scores(self, ins: list[Shape], out: Shape) -> int:
        return numel(out[:-1]) * ins[1][-2]      # batch dims * L * S

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return self.scores(ins, out) * (ins[0][-1] + ins[2][-1])

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 4 * self.scores(ins, out)     # scale, exp, sum, divide per score

    def window(self, ins: list[Shape]) -> Window:
        return GLOBAL

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Attention", dict(causal=self.causal, scale=self.scale)

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        # grad v = P^T dO (L*S*Ev), dP = dO v^T (L*S*Ev), grad q = dS k (L*S*E), grad k =
        # dS^T q (L*S*E): twice the forward, as FlopCounterMode counts it (flash kernels
        # also recompute q k^T, which neither counts)
        return 2 * self.macs(ins, out) if input_grad else 0

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        if not input_grad:
            return "0 (no gradient needed)"
        q, k, v = ins
        batch = "*".join(map(str, out[:-2])) + "*" if len(out) > 2 else ""
        return (f"2*{batch}{q[-2]}*{k[-2]}*({q[-1]} + {v[-1]}) (grad v, grad weights, grad q, "
                f"grad k) = {fmt(2 * self.macs(ins, out))}")

    def keeps_output(self, inplace: bool) -> bool:
        return True

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        # flash and memory-efficient kernels keep q, k, v, the output and the log-sum-exp of
        # each row of scores (float32), never the L x S weights
        return Saved(inputs=(0, 1, 2), output=True,
                     own=(Own("log-sum-exp per query", numel(out[:-1]), "float32"),))

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        q, k, v = ins
        batch = "*".join(map(str, out[:-2])) + "*" if len(out) > 2 else ""
        return {"out": dims(out), "params": "0",
                "macs": f"{batch}{q[-2]}*{k[-2]}*({q[-1]} + {v[-1]}) = {fmt(self.macs(ins, out))}"
                        f" (q k^T, then weights v)"}


@dataclass(kw_only=True)
class Recurrent(Op):
    """A stack of `layers` recurrent layers (nn.LSTM, nn.GRU, nn.RNN) over a sequence (T, F),
    batch first, from a zero initial state; output (T, D*H), D = 2 when `bidirectional`, the
    final states not returned. Layer l (0-based) reads I_l = F (l = 0) or D*H features; each
    of its D directions has G gate blocks of H (LSTM 4, GRU 3, RNN 1): weights G*H*(I_l + H),
    biases 2*G*H (b_ih and b_hh, when `bias`). Every step multiplies the step's input and the
    previous hidden state (the zero initial state at the first step too, as torch does):
    MACs = T * D * sum_l G*H*(I_l + H) = T * weights. Other ops per step and direction in
    `step_ops`. `layer_dropout` (torch's dropout; a field name that is no op key) acts
    between layers, in training only."""
    head: ClassVar[str] = "hidden"
    gates: ClassVar[int]
    states: ClassVar[int] = 1        # initial states torch makes: h0 (LSTM: and c0)
    torch_name: ClassVar[str]
    step_ops: ClassVar[int]          # other ops of one step of one direction, in units of H,
                                     # the bias adds apart
    # what one direction of one layer keeps, in units of H: per step, and how many fewer in
    # all (what only the next step reads is not kept at the last); see `saved`
    step_saves: ClassVar[tuple[int, int]]
    hidden: int = spec_field("positive")
    layers: int = spec_field("positive", 1)
    bidirectional: bool = spec_field("boolean", False)
    bias: bool = spec_field("boolean", True)
    layer_dropout: float = spec_field("fraction", 0.0)

    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def widths(self, ins: list[Shape]) -> list[int]:
        """I_l: the features each layer reads."""
        return [ins[0][1]] + [self.directions() * self.hidden] * (self.layers - 1)

    def shape(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) != 2:
            raise SpecError(f"{self.kind} needs a (T, F) sequence (steps, features; the batch "
                            f"first), got {dims(ins[0])}")
        return (ins[0][0], self.directions() * self.hidden)

    def other(self, ins: list[Shape], out: Shape) -> int:
        g, h = self.gates, self.hidden
        step = self.step_ops * h + (2 * g * h if self.bias else 0)      # + b_ih and b_hh
        return ins[0][0] * self.directions() * self.layers * step

    def weights(self, ins: list[Shape], out: Shape) -> int:
        gh = self.gates * self.hidden
        return self.directions() * sum(gh * (i + self.hidden) for i in self.widths(ins))

    def params(self, ins: list[Shape], out: Shape) -> int:
        biases = 2 * self.gates * self.hidden if self.bias else 0
        return self.weights(ins, out) + self.directions() * self.layers * biases

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] * self.weights(ins, out)

    def window(self, ins: list[Shape]) -> Window:
        return GLOBAL      # an output step has seen every step before it (both ways: all)

    def describe(self, ins: list[Shape]) -> str:
        return f"{self.kind} {self.layers}x{self.hidden}" + (" bi" if self.bidirectional else "")

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Recurrent", dict(mode=self.torch_name, input_size=ins[0][1],
                                 hidden_size=self.hidden, num_layers=self.layers, bias=self.bias,
                                 bidirectional=self.bidirectional, dropout=self.layer_dropout)

    def _sum(self, ins: list[Shape], term: Callable[[int], str]) -> str:
        """'term(F) + (layers-1)*term(D*H)', the layers' terms written once each."""
        first, *rest = self.widths(ins)
        return term(first) + (f" + {len(rest)}*{term(rest[0])}" if len(rest) > 1 else
                              f" + {term(rest[0])}" if rest else "")

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        g, h, d = self.gates, self.hidden, self.directions()
        per_d = f"{d}*" if d > 1 else ""
        bias = f" + 2*{g}*{h}" if self.bias else ""
        params = self._sum(ins, lambda i: f"({g}*{h}*({i} + {h}){bias})")
        macs = self._sum(ins, lambda i: f"{g}*{h}*({i} + {h})")
        return {"out": f"{ins[0][0]} steps x {per_d}{h} = {dims(out)}",
                "params": f"{per_d}({params}) = {fmt(self.params(ins, out))}" if d > 1 else
                          f"{params} = {fmt(self.params(ins, out))}",
                "macs": f"{ins[0][0]}*{per_d}({macs}) = {fmt(self.macs(ins, out))} (the input "
                        "and hidden products of every step, the first on the zero state)"}

    def _grads(self, ins: list[Shape], input_grad: bool, weight_grad: bool
               ) -> list[tuple[str, str, int]]:
        """(what, arithmetic, MACs) of each backward product. The weights' gradients of a
        step need the gradient of the hidden state before it, so `weight_grad` computes the
        gradient through the recurrence and into every layer but the first, whose input
        gradient `input_grad` adds; the initial state takes none (it needs no gradient)."""
        t, g, h, d = ins[0][0], self.gates, self.hidden, self.directions()
        first, *rest = self.widths(ins)
        per_d = f"{d}*" if d > 1 else ""
        parts = []
        if weight_grad:
            parts.append(("weight", f"{t}*{per_d}({self._sum(ins, lambda i: f'{g}*{h}*({i} + {h})')})",
                          t * d * sum(g * h * (i + h) for i in [first, *rest])))
        if weight_grad or input_grad:
            parts.append(("hidden", f"{t - 1}*{per_d}{self.layers}*{g}*{h}*{h}",
                          (t - 1) * d * self.layers * g * h * h))
            if rest:
                upper = f"{len(rest)}*" if len(rest) > 1 else ""
                parts.append(("layer inputs", f"{t}*{per_d}{upper}{g}*{h}*{rest[0]}",
                              t * d * len(rest) * g * h * rest[0]))
        if input_grad:
            parts.append(("input", f"{t}*{per_d}{g}*{h}*{first}", t * d * g * h * first))
        return parts

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        return sum(macs for _, _, macs in self._grads(ins, input_grad, weight_grad))

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        parts = self._grads(ins, input_grad, weight_grad)
        if not parts:
            return "0 (no gradient needed)"
        return " + ".join(f"grad {what} {text}" for what, text, _ in parts) + \
            f" = {fmt(sum(macs for _, _, macs in parts))}"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        # What torch's own step-by-step kernel keeps (the one meta tensors run, and the CPU
        # for GRU and RNN, and for LSTM with oneDNN off): per layer and direction, what each
        # step's cell keeps (`step_saves`); the zero initial states (one tensor each for all
        # layers); the input of every layer but the first (the layer below's output); and of
        # the first layer's input, for each direction, the time-major copy its input product
        # reads (at batch 1 the transpose is a view and torch keeps the input itself
        # instead). Dropout between layers (training) keeps its mask, as wide as the
        # activations (torch's unfused dropout: input * mask). Not counted here: cuDNN (GPU)
        # and oneDNN (CPU LSTM, float32 by default) keep a workspace of their own choosing
        # instead, and CUDA without cuDNN runs fused cells that keep other tensors.
        t, h, d, first = ins[0][0], self.hidden, self.directions(), ins[0][1]
        every, fewer = self.step_saves
        between = self.layers - 1
        own = [Own("gates and cell states, every step", d * self.layers * (every * t - fewer) * h),
               Own("zero initial states", self.states * d * self.layers * h),
               Own("input, time-major copy per direction", d * t * first)]
        if between:
            own.append(Own("inputs of the upper layers", between * t * d * h))
        if between and self.layer_dropout:      # the upper layers then keep the dropped inputs
            own.append(Own("dropout masks between layers", between * t * d * h))
        return Saved(own=tuple(own))


@register
@dataclass(kw_only=True)
class LSTM(Recurrent):
    """nn.LSTM: 4 gate blocks (input, forget, cell, output). Other ops per step and direction:
    4H adds of the input and hidden products, 4H gate nonlinearities (3 sigmoid, 1 tanh),
    c = f*c + i*g (3H), h = o*tanh(c) (2H): 13H, + 8H bias adds (b_ih, b_hh) = 21H."""
    kind: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4
    states: ClassVar[int] = 2
    torch_name: ClassVar[str] = "LSTM"
    step_ops: ClassVar[int] = 13
    # the gates (4H) and tanh(c) (H) every step; h and c of every step but the last (read by
    # the next step)
    step_saves: ClassVar[tuple[int, int]] = (7, 2)


@register
@dataclass(kw_only=True)
class GRU(Recurrent):
    """nn.GRU: 3 gate blocks (reset r, update z, new n). Other ops per step and direction:
    r and z, 2H adds of the products and 2H sigmoids; n = tanh(x_n + r*h_n), 3H; h = n +
    z*(h - n) as torch computes it, 3H: 10H, + 6H bias adds = 16H."""
    kind: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3
    torch_name: ClassVar[str] = "GRU"
    step_ops: ClassVar[int] = 10
    # the hidden gates (3H), n, a copy of h_n before r*h_n overwrites it and of h - n before
    # z*(h - n) does (3H) every step; h of every step but the last
    step_saves: ClassVar[tuple[int, int]] = (7, 1)


@register
@dataclass(kw_only=True)
class RNN(Recurrent):
    """nn.RNN (Elman): h = `nonlinearity` (tanh or relu) of the input and hidden products, one
    gate block. Other ops per step and direction: the products' add and the nonlinearity, 2H,
    + 2H bias adds = 4H."""
    kind: ClassVar[str] = "rnn"
    gates: ClassVar[int] = 1
    torch_name: ClassVar[str] = "RNN"
    step_ops: ClassVar[int] = 2
    step_saves: ClassVar[tuple[int, int]] = (1, 0)  # h of every step (the next step's input)
    nonlinearity: str = spec_field("nonlinearity", "tanh")

    def describe(self, ins: list[Shape]) -> str:
        return super().describe(ins) + (" relu" if self.nonlinearity == "relu" else "")

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        name, args = super().module(ins, out, inplace)
        return name, dict(args, nonlinearity=self.nonlinearity)


@register
@dataclass(kw_only=True)
class BatchNorm(Op):
    """Batch normalisation over the channels (dim 0) of (C,), (C, L), (C, H, W) or (C, D, H, W):
    2C learnable (scale, shift; none without `affine`); running mean/var and the batch
    counter are buffers. At inference it is one multiply and one add per element (the running
    statistics and the affine folded into one scale and shift, or not: x - mean, * 1/std)."""
    kind: ClassVar[str] = "bn"
    eps: float = spec_field("number", 1e-5)
    affine: bool = spec_field("boolean", True)

    def shape(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) > 4:
            raise SpecError(f"bn needs at most 3 spatial dimensions, got {dims(ins[0])}")
        return ins[0]

    def params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] if self.affine else 0

    def buffers(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] + 1

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(out)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        # the input, and the batch mean and inverse std per channel (float32 in any dtype)
        return Saved(inputs=(0,), own=(Own("batch mean, inverse std", 2 * ins[0][0], "float32",
                                           per_sample=False),))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return f"BatchNorm{max(len(ins[0]) - 1, 1)}d", dict(num_features=ins[0][0], eps=self.eps,
                                                            affine=self.affine)

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        c = ins[0][0]
        params = f"2*{c} = {fmt(2 * c)} (scale, shift; + " if self.affine else "0 (+ "
        return {"out": f"{dims(out)} (same as input)",
                "params": f"{params}{fmt(2 * c + 1)} buffer elements: running mean, var, batch "
                          "counter)",
                "macs": f"0 (other ops: 2*{numel(out):,} = {fmt(2 * numel(out))})"}


@dataclass(kw_only=True)
class Normalization(Op):
    """Normalisation with statistics computed at inference too (layer, group norm): per
    element 3 ops for the statistics (sum, subtract the mean, square-accumulate), 1 to scale
    by 1/std and 2 for the affine scale and shift."""
    eps: float = spec_field("number", 1e-5)
    affine: bool = spec_field("boolean", True)

    def affine_size(self, ins: list[Shape]) -> int:
        raise NotImplementedError

    def params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * self.affine_size(ins) if self.affine else 0

    def other(self, ins: list[Shape], out: Shape) -> int:
        return (6 if self.affine else 4) * numel(out)

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        n = self.affine_size(ins)
        params = f"2*{n} = {fmt(2 * n)} (scale, shift)" if self.affine else "0"
        return {"out": f"{dims(out)} (same as input)", "params": params,
                "macs": f"0 (other ops: {6 if self.affine else 4}*{numel(out):,} = "
                        f"{fmt(self.other(ins, out))})"}


@register
@dataclass(kw_only=True)
class LayerNorm(Normalization):
    """Layer normalisation over the last `dims` dimensions (torch's normalized_shape)."""
    kind: ClassVar[str] = "layernorm"
    head: ClassVar[str] = "dims"
    dims: int = spec_field("positive", 1)
    bias: bool = spec_field("boolean", True)

    def shape(self, ins: list[Shape]) -> Shape:
        if self.dims > len(ins[0]):
            raise SpecError(f"layernorm over {self.dims} dimensions of {dims(ins[0])}")
        return ins[0]

    def affine_size(self, ins: list[Shape]) -> int:
        return numel(ins[0][len(ins[0]) - self.dims:])

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.affine_size(ins) * (2 if self.bias else 1) if self.affine else 0

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        rows = numel(ins[0]) // self.affine_size(ins)
        return Saved(inputs=(0,), own=(Own("mean, inverse std per row", 2 * rows, "float32"),))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "LayerNorm", dict(normalized_shape=ins[0][len(ins[0]) - self.dims:], eps=self.eps,
                                 elementwise_affine=self.affine, bias=self.bias)


@register
@dataclass(kw_only=True)
class GroupNorm(Normalization):
    """Group normalisation: channels (dim 0) in `groups` groups; 2C affine params."""
    kind: ClassVar[str] = "groupnorm"
    head: ClassVar[str] = "groups"
    groups: int = spec_field("positive")

    def shape(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) < 2 or ins[0][0] % self.groups:
            raise SpecError(f"groupnorm needs a (C, ...) map with C divisible by {self.groups}, "
                            f"got {dims(ins[0])}")
        return ins[0]

    def affine_size(self, ins: list[Shape]) -> int:
        return ins[0][0]

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,), own=(Own("mean, inverse std per group", 2 * self.groups,
                                           "float32"),))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "GroupNorm", dict(num_groups=self.groups, num_channels=ins[0][0], eps=self.eps,
                                 affine=self.affine)


@register
@dataclass(kw_only=True)
class InstanceNorm(Normalization):
    """Instance normalisation (nn.InstanceNorm1d/2d/3d): each sample's channels over their own
    positions, a group norm of one channel per group; with `running` (track_running_stats)
    inference uses running statistics instead, as BatchNorm (2 ops per element, 2C+1 buffer
    elements). torch runs it as a batch norm of the batch folded into the channels, so a
    training step keeps, besides the input and the statistics, the affine weight and the
    running statistics repeated for each sample."""
    kind: ClassVar[str] = "instancenorm"
    affine: bool = spec_field("boolean", False)      # as torch's default, unlike the others'
    running: bool = spec_field("boolean", False)

    def shape(self, ins: list[Shape]) -> Shape:
        feature_map(self, ins[0])
        return ins[0]

    def affine_size(self, ins: list[Shape]) -> int:
        return ins[0][0]

    def buffers(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] + 1 if self.running else 0

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(out) if self.running else super().other(ins, out)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        c = ins[0][0]
        own = [Own("mean, inverse std per channel", 2 * c, "float32")]
        if self.running:
            own.append(Own("running mean, var repeated per sample", 2 * c))
        if self.affine:
            own.append(Own("weight repeated per sample", c))
        return Saved(inputs=(0,), own=tuple(own))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return f"InstanceNorm{feature_map(self, ins[0])}d", dict(
            num_features=ins[0][0], eps=self.eps, affine=self.affine,
            track_running_stats=self.running)

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        text = super().explain(ins, out)
        if self.running:
            text["macs"] = f"0 (other ops, running statistics: 2*{numel(out):,} = " \
                           f"{fmt(self.other(ins, out))})"
        return text


@register
@dataclass(kw_only=True)
class LRN(Op):
    """Local response normalisation across `lrn` neighbouring channels (AlexNet)."""
    kind: ClassVar[str] = "lrn"
    head: ClassVar[str] = "size"
    size: int = spec_field("positive")
    alpha: float = spec_field("number", 1e-4)
    beta: float = spec_field("number", 0.75)
    bias: float = spec_field("number", 1.0)

    def shape(self, ins: list[Shape]) -> Shape:
        return spatial(self, ins[0])

    def other(self, ins: list[Shape], out: Shape) -> int:
        # per element: `size` squares summed, then scale, power and divide
        return numel(out) * (self.size + 3)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        # torch computes it as input / (k + alpha * avgpool(pad(input^2)))^beta: autograd keeps
        # the input, the padded squares, the base of the power and the power
        c, h, w = ins[0]
        return Saved(inputs=(0,), own=(Own("padded squares", (c + self.size - 1) * h * w),
                                       Own("k + alpha*mean", numel(out)),
                                       Own("(k + alpha*mean)^beta", numel(out))))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "LocalResponseNorm", dict(size=self.size, alpha=self.alpha, beta=self.beta,
                                         k=self.bias)


@dataclass(kw_only=True)
class Activation(Op):
    """An elementwise activation: one op per element."""
    torch_name: ClassVar[str]
    can_mutate: ClassVar[bool] = True
    # what its gradient needs: "output" (relu, sigmoid, tanh), "input" (relu6, hardswish: in
    # place, autograd keeps a copy of the input it overwrites) or "input or result" (leaky
    # relu, elu: in place, a backward written for the result reads that instead)
    needs: ClassVar[str] = "output"
    # the torch module's arguments: field -> its keyword (LeakyReLU's slope -> negative_slope)
    torch_args: ClassVar[dict[str, str]] = {}

    def keeps_output(self, inplace: bool) -> bool:
        return self.needs == "output" or (inplace and self.needs == "input or result")

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.keeps_output(inplace):
            return Saved(output=True)
        return Saved(own=(Own("copy of the input", numel(out)),)) if inplace \
            and self.needs == "input" else Saved(inputs=(0,))

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        args = {key: getattr(self, name) for name, key in self.torch_args.items()}
        return self.torch_name, (dict(args, inplace=inplace) if self.can_mutate else args)


# Activations: op key -> (torch class, can overwrite its input in place, its gradient needs).
ACTIVATIONS = {"relu": ("ReLU", True, "output"), "relu6": ("ReLU6", True, "input"),
               "hardswish": ("Hardswish", True, "input"), "sigmoid": ("Sigmoid", False, "output"),
               "tanh": ("Tanh", False, "output"), "silu": ("SiLU", True, "input"),
               "hardsigmoid": ("Hardsigmoid", True, "input"), "mish": ("Mish", True, "input"),
               "selu": ("SELU", True, "input or result")}
for _kind, (_torch_name, _mutate, _needs) in ACTIVATIONS.items():
    register(dataclass(kw_only=True)(type(_torch_name, (Activation,), {
        "kind": _kind, "torch_name": _torch_name, "can_mutate": _mutate, "needs": _needs,
        "inplace": "mutate" if _mutate else None, "__module__": __name__})))


@register
@dataclass(kw_only=True)
class LeakyReLU(Activation):
    """max(x, 0) + slope * min(x, 0) (Darknet, CSPNet); one op per element."""
    kind: ClassVar[str] = "leaky_relu"
    head: ClassVar[str] = "slope"
    torch_name: ClassVar[str] = "LeakyReLU"
    inplace: ClassVar[str] = "mutate"
    needs: ClassVar[str] = "input or result"
    torch_args: ClassVar[dict[str, str]] = {"slope": "negative_slope"}
    slope: float = spec_field("number", 0.01)


@register
@dataclass(kw_only=True)
class ELU(Activation):
    """x, or alpha * (exp(x) - 1) below 0; one op per element, in place when nothing else
    reads its input. SELU (its scaled form) is `selu`."""
    kind: ClassVar[str] = "elu"
    head: ClassVar[str] = "alpha"
    torch_name: ClassVar[str] = "ELU"
    inplace: ClassVar[str] = "mutate"
    needs: ClassVar[str] = "input or result"
    torch_args: ClassVar[dict[str, str]] = {"alpha": "alpha"}
    alpha: float = spec_field("number", 1.0)


@register
@dataclass(kw_only=True)
class Softplus(Activation):
    """log(1 + exp(beta * x)) / beta, x itself above `threshold` / beta; one op per element."""
    kind: ClassVar[str] = "softplus"
    head: ClassVar[str] = "beta"
    torch_name: ClassVar[str] = "Softplus"
    can_mutate: ClassVar[bool] = False
    needs: ClassVar[str] = "input"
    torch_args: ClassVar[dict[str, str]] = {"beta": "beta", "threshold": "threshold"}
    beta: float = spec_field("number", 1.0)
    threshold: float = spec_field("number", 20.0)


@register
@dataclass(kw_only=True)
class GELU(Activation):
    """GELU, exact (erf) or with the tanh approximation; one op per element either way."""
    kind: ClassVar[str] = "gelu"
    torch_name: ClassVar[str] = "GELU"
    can_mutate: ClassVar[bool] = False
    needs: ClassVar[str] = "input"      # gelu_backward(grad, input)
    approximate: bool = spec_field("boolean", False)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "GELU", dict(approximate="tanh" if self.approximate else "none")


@register
@dataclass(kw_only=True)
class Softmax(Op):
    """Softmax along `dim` (default 0: the classes of a flat vector)."""
    kind: ClassVar[str] = "softmax"
    head: ClassVar[str] = "dim"
    dim: int = spec_field("integer", 0)

    def shape(self, ins: list[Shape]) -> Shape:
        axis(self.dim, len(ins[0]))
        return ins[0]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 3 * numel(out)   # exp, sum, divide

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Softmax", dict(dim=torch_dim(self.dim))

    def keeps_output(self, inplace: bool) -> bool:
        return True

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(output=True)


@register
@dataclass(kw_only=True)
class Dropout(Op):
    """Dropout: identity at inference (returns its input, no new memory)."""
    kind: ClassVar[str] = "dropout"
    head: ClassVar[str] = "rate"
    inplace: ClassVar[str] = "view"
    train_allocates: ClassVar[bool] = True
    rate: float = spec_field("fraction", 0.5)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Dropout", dict(p=self.rate)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        # CUDA's fused kernel keeps a bool mask (torch on CPU keeps a float one, as wide as
        # the activations); archprof counts the GPU's
        return Saved(own=(Own("mask", numel(out), "bool"),))


@register
@dataclass(kw_only=True)
class DropPath(Op):
    """Stochastic depth (drop path): drops a residual branch per sample while training;
    identity at inference (returns its input, no new memory)."""
    kind: ClassVar[str] = "drop_path"
    head: ClassVar[str] = "rate"
    inplace: ClassVar[str] = "view"
    rate: float = spec_field("fraction", 0.0)
    train_allocates: ClassVar[bool] = True     # x * keep / (1 - rate): a new tensor

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "DropPath", dict(rate=self.rate)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(own=(Own("keep flag", 1),)) if self.rate else NOTHING   # one per sample


@dataclass(kw_only=True)
class Pool(Windowed):
    """Max or average pooling over 1 to 3 spatial dimensions (stride defaults to the kernel)."""
    torch_name: ClassVar[str]
    head: ClassVar[str] = "k"
    s: Sizes = spec_field("sizes", None)   # None until __post_init__: the kernel size
    d: Sizes = 1                                   # no dilation: not settable from a spec

    def __post_init__(self) -> None:
        self.s = self.s or self.k

    def shape(self, ins: list[Shape]) -> Shape:
        kernel, _, _, pads = self.geometry(ins)
        if any(pads) and any(max(pads[2 * i], pads[2 * i + 1]) * 2 > k
                             for i, k in enumerate(kernel)):
            raise SpecError(f"pool padding {pads} exceeds half the kernel {dims(kernel)}")
        return (ins[0][0], *self.out_spatial(ins))

    def describe(self, ins: list[Shape]) -> str:
        return f"{self.kind} {dims(self.kernel(ins))}"

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * self.fixed(ins)[4]   # one compare/add per window element

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.kind == "maxpool":   # the input and where each maximum was (int64)
            return Saved(inputs=(0,), own=(Own("indices", numel(out), "int64"),))
        return Saved(inputs=(0,))    # avg_pool2d's backward takes its input (for the shape)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        pad = self.torch_padding(ins)
        if pad is None:
            raise SpecError(f"asymmetric pooling padding {self.pads(ins)} is not supported")
        return f"{self.torch_name}{self.rank(ins)}d", dict(
            kernel_size=self.kernel(ins), stride=self.stride(ins), padding=pad, ceil_mode=self.ceil)

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        terms = "*".join(map(str, (*out[1:], out[0], *self.kernel(ins))))
        return {"out": self.out_text(ins, out), "params": "0",
                "macs": f"0 (other ops: {terms} = {fmt(self.other(ins, out))})"}


@register
@dataclass(kw_only=True)
class MaxPool(Pool):
    kind: ClassVar[str] = "maxpool"
    torch_name: ClassVar[str] = "MaxPool"


@register
@dataclass(kw_only=True)
class AvgPool(Pool):
    kind: ClassVar[str] = "avgpool"
    torch_name: ClassVar[str] = "AvgPool"


def _adaptive_windows(size: int, out: int) -> list[int]:
    """Window lengths of torch's adaptive pooling: [floor(i*n/o), ceil((i+1)*n/o))."""
    return [-(-(i + 1) * size // out) - i * size // out for i in range(out)]


@dataclass(kw_only=True)
class AdaptivePool(Op):
    """Pooling to a fixed output size (one number for every spatial dimension, or one each);
    windows as torch derives them. Other ops: one compare/add per window element (one per
    input element when the sizes divide)."""
    torch_name: ClassVar[str]
    head: ClassVar[str] = "out"
    out: Sizes = spec_field("sizes", 1)

    def sizes(self, ins: list[Shape]) -> tuple[int, ...]:
        r = feature_map(self, ins[0], len(self.out) if isinstance(self.out, tuple) else None)
        return per_dim(self.out, r, "output size")

    def shape(self, ins: list[Shape]) -> Shape:
        return (ins[0][0], *self.sizes(ins))

    def other(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] * math.prod(sum(_adaptive_windows(i, o)) for i, o in zip(ins[0][1:], out[1:]))

    def window(self, ins: list[Shape]) -> Window:
        sizes = self.sizes(ins)
        if all(o == 1 for o in sizes):
            return GLOBAL
        kernel = tuple(max(_adaptive_windows(i, o)) for i, o in zip(ins[0][1:], sizes))
        return kernel, tuple(max(i // o, 1) for i, o in zip(ins[0][1:], sizes)), (1,) * len(sizes)

    def describe(self, ins: list[Shape]) -> str:
        return f"{self.kind} {dims(self.sizes(ins))}"

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return f"{self.torch_name}{len(ins[0]) - 1}d", dict(output_size=self.sizes(ins))

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.kind == "adaptive_maxpool":    # the input and where each maximum was (int64)
            return Saved(inputs=(0,), own=(Own("indices", numel(out), "int64"),))
        # to size 1 torch takes a mean, whose backward needs the shape only
        return NOTHING if all(o == 1 for o in out[1:]) else Saved(inputs=(0,))


@register
@dataclass(kw_only=True)
class AdaptiveAvgPool(AdaptivePool):
    kind: ClassVar[str] = "adaptive_avgpool"
    torch_name: ClassVar[str] = "AdaptiveAvgPool"


@register
@dataclass(kw_only=True)
class AdaptiveMaxPool(AdaptivePool):
    kind: ClassVar[str] = "adaptive_maxpool"
    torch_name: ClassVar[str] = "AdaptiveMaxPool"


@register
@dataclass(kw_only=True)
class GlobalAvgPool(Op):
    """Average over every spatial position: (C, *spatial) -> (C, 1, ...)."""
    kind: ClassVar[str] = "gap"

    def shape(self, ins: list[Shape]) -> Shape:
        r = feature_map(self, ins[0])
        return (ins[0][0], *(1,) * r)

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0])

    def window(self, ins: list[Shape]) -> Window:
        return GLOBAL

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return f"AdaptiveAvgPool{len(ins[0]) - 1}d", dict(output_size=1)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # torch takes it as a mean: the backward needs the shape only


UPSAMPLE_MODES = {"nearest": 0, "linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


@register
@dataclass(kw_only=True)
class Upsample(Op):
    """Interpolation of a (C, *spatial) map to `size` or by `scale` (F.interpolate). Other ops
    per output element: 1 for nearest (a gather, as fvcore counts it), 2^rank for the linear
    modes (one weight per neighbour), 4^rank for bicubic."""
    kind: ClassVar[str] = "upsample"
    head: ClassVar[str] = "scale"
    scale: float | None = spec_field("number", None)
    size: Sizes | None = spec_field("sizes", None)
    mode: str = spec_field("upsample_mode", "nearest")
    align_corners: bool = spec_field("boolean", False)

    def shape(self, ins: list[Shape]) -> Shape:
        r = feature_map(self, ins[0], len(self.size) if isinstance(self.size, tuple) else None)
        need = UPSAMPLE_MODES.get(self.mode)
        if need is None or (need and self.mode != "bicubic" and need != r) or (
                self.mode == "bicubic" and r != 2):
            raise SpecError(f"upsample mode '{self.mode}' does not fit {r} spatial dimension(s)")
        if (self.size is None) == (self.scale is None):
            raise SpecError("upsample needs exactly one of scale and size")
        if self.size is not None:
            return (ins[0][0], *per_dim(self.size, r, "size"))
        sizes = tuple(math.floor(i * self.scale) for i in ins[0][1:])   # type: ignore[operator]
        if min(sizes) < 1 or self.scale > 2**16:                          # type: ignore[operator]
            raise SpecError(f"upsample scale {self.scale:g} of {dims(ins[0])} is out of range")
        return (ins[0][0], *sizes)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # the backward needs the sizes only

    def per_output(self, rank: int) -> int:
        return 1 if self.mode == "nearest" else 4 ** rank if self.mode == "bicubic" else 2 ** rank

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * self.per_output(len(out) - 1)

    def window(self, ins: list[Shape]) -> Window:
        out = self.shape(ins)[1:]
        taps = {"nearest": 1, "bicubic": 4}.get(self.mode, 2)
        return (taps,) * len(out), tuple(Fraction(i, o) for i, o in zip(ins[0][1:], out)), \
            (1,) * len(out)

    def describe(self, ins: list[Shape]) -> str:
        return f"upsample {self.mode}"

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        corners = self.align_corners if self.mode != "nearest" else None
        return "Upsample", dict(size=out[1:], mode=self.mode, align_corners=corners)


@register
@dataclass(kw_only=True)
class Embedding(Op):
    """A lookup table: integer indices of any shape -> (*shape, dim); num*dim params, no MACs."""
    kind: ClassVar[str] = "embedding"
    head: ClassVar[str] = "num"
    num: int = spec_field("positive")
    dim: int = spec_field("positive")

    def shape(self, ins: list[Shape]) -> Shape:
        return (*ins[0], self.dim)

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.num * self.dim

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Embedding", dict(num_embeddings=self.num, embedding_dim=self.dim)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))    # the indices, to scatter the gradient into the table


# --- views and copies: no arithmetic ---------------------------------------------------------
@register
@dataclass(kw_only=True)
class Flatten(Op):
    """Dimensions start..end merged into one (default all: CxHxW -> (C*H*W,)), a view of its
    input (after a permute torch copies: write a `contiguous` row before it)."""
    kind: ClassVar[str] = "flatten"
    inplace: ClassVar[str] = "view"
    grad_view: ClassVar[bool] = True
    start: int = spec_field("integer", 0)
    end: int = spec_field("integer", -1)

    def span(self, ins: list[Shape]) -> tuple[int, int]:
        r = len(ins[0])
        a, b = axis(self.start, r, "flatten start"), axis(self.end, r, "flatten end")
        if a > b:
            raise SpecError(f"flatten start {self.start} comes after end {self.end}")
        return a, b

    def shape(self, ins: list[Shape]) -> Shape:
        a, b = self.span(ins)
        s = ins[0]
        return (*s[:a], numel(s[a:b + 1]), *s[b + 1:])

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Flatten", dict(start_dim=torch_dim(self.start), end_dim=torch_dim(self.end))

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        a, b = self.span(ins)
        merged = "*".join(map(str, ins[0][a:b + 1]))
        text = f"{merged} = {numel(ins[0][a:b + 1]):,}"
        return {"out": text if len(out) == 1 else f"{dims(out)} ({text})", "params": "0",
                "macs": "0"}


@register
@dataclass(kw_only=True)
class Reshape(Op):
    """View as another per-sample shape (one size may be -1: inferred). Torch copies when the
    memory is not laid out for the view (after a permute): write a `contiguous` row first."""
    kind: ClassVar[str] = "reshape"
    head: ClassVar[str] = "to"
    inplace: ClassVar[str] = "view"
    to: tuple[int, ...] = spec_field("shape")

    def shape(self, ins: list[Shape]) -> Shape:
        known = math.prod(v for v in self.to if v != -1)
        n = numel(ins[0])
        if list(self.to).count(-1) > 1 or (n % known if known else True):
            raise SpecError(f"cannot reshape {dims(ins[0])} to {dims(self.to)}")
        out = tuple(n // known if v == -1 else v for v in self.to)
        if numel(out) != n:
            raise SpecError(f"cannot reshape {dims(ins[0])} ({n:,} elements) to {dims(out)}")
        return out

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Reshape", dict(shape=out)

    grad_view: ClassVar[bool] = True     # its input's gradient is a view of its output's

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


@register
@dataclass(kw_only=True)
class Expand(Op):
    """A broadcast view to `to` (torch.expand: sizes of 1 repeated, new leading dimensions,
    -1 keeps a size); no memory (F.normalize expands the norm over the vector it divides)."""
    kind: ClassVar[str] = "expand"
    head: ClassVar[str] = "to"
    inplace: ClassVar[str] = "view"
    to: tuple[int, ...] = spec_field("shape")

    def shape(self, ins: list[Shape]) -> Shape:
        s, new = ins[0], len(self.to) - len(ins[0])
        out = tuple(v if v != -1 or i < new else s[i - new] for i, v in enumerate(self.to))
        if new < 0 or -1 in out[:new] or any(a not in (1, b) for a, b in zip(s, out[new:])):
            raise SpecError(f"cannot expand {dims(s)} to {dims(self.to)}")
        return out

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Expand", dict(shape=out)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # its backward sums the gradient over the repeats


@register
@dataclass(kw_only=True)
class Permute(Op):
    """Reorder the per-sample dimensions (a view; torch.permute)."""
    kind: ClassVar[str] = "permute"
    head: ClassVar[str] = "dims"
    inplace: ClassVar[str] = "view"
    dims: tuple[int, ...] = spec_field("integers")

    def order(self, ins: list[Shape]) -> list[int]:
        r = len(ins[0])
        order = [axis(d, r) for d in self.dims]
        if sorted(order) != list(range(r)):
            raise SpecError(f"permute {list(self.dims)} is not an order of {r} dimensions")
        return order

    def shape(self, ins: list[Shape]) -> Shape:
        return tuple(ins[0][d] for d in self.order(ins))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Permute", dict(dims=tuple(self.order(ins)))

    grad_view: ClassVar[bool] = True     # its input's gradient is a view of its output's

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


@register
@dataclass(kw_only=True)
class Transpose(Op):
    """Swap two per-sample dimensions (a view; torch.transpose)."""
    kind: ClassVar[str] = "transpose"
    head: ClassVar[str] = "dims"
    inplace: ClassVar[str] = "view"
    dims: tuple[int, ...] = spec_field("integers")

    def pair(self, ins: list[Shape]) -> tuple[int, int]:
        if len(self.dims) != 2:
            raise SpecError(f"transpose swaps two dimensions, got {list(self.dims)}")
        return axis(self.dims[0], len(ins[0])), axis(self.dims[1], len(ins[0]))

    def shape(self, ins: list[Shape]) -> Shape:
        a, b = self.pair(ins)
        s = list(ins[0])
        s[a], s[b] = s[b], s[a]
        return tuple(s)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        a, b = self.pair(ins)
        return "Transpose", dict(a=a + 1, b=b + 1)

    grad_view: ClassVar[bool] = True     # its input's gradient is a view of its output's

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


@register
@dataclass(kw_only=True)
class Contiguous(Op):
    """A copy into a fresh, contiguous tensor (what torch does to reshape a permuted view)."""
    kind: ClassVar[str] = "contiguous"

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Contiguous", {}

    grad_view: ClassVar[bool] = True     # a copy: the gradient passes through

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


@register
@dataclass(kw_only=True)
class Slice(Op):
    """Elements start:end:step of one dimension (a view; one output of split/chunk/narrow)."""
    kind: ClassVar[str] = "slice"
    head: ClassVar[str] = "dim"
    inplace: ClassVar[str] = "view"
    dim: int = spec_field("integer", 0)
    start: int = spec_field("integer", 0)
    end: int | None = spec_field("integer", None)
    step: int = spec_field("positive", 1)

    def bounds(self, ins: list[Shape]) -> range:
        d = axis(self.dim, len(ins[0]))
        return range(ins[0][d])[self.start:self.end:self.step]

    def shape(self, ins: list[Shape]) -> Shape:
        d, n = axis(self.dim, len(ins[0])), len(self.bounds(ins))
        if n == 0:
            raise SpecError(f"slice {self.start}:{self.end} of dimension {self.dim} of "
                            f"{dims(ins[0])} is empty")
        return (*ins[0][:d], n, *ins[0][d + 1:])

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        r = self.bounds(ins)
        return "Slice", dict(dim=torch_dim(self.dim), start=r.start, end=r.stop, step=r.step)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # its backward makes a zero tensor of the input's size


@register
@dataclass(kw_only=True)
class Select(Op):
    """One index of one dimension, which disappears (a view; x[:, 0] takes the class token)."""
    kind: ClassVar[str] = "select"
    head: ClassVar[str] = "dim"
    inplace: ClassVar[str] = "view"
    dim: int = spec_field("integer", 0)
    index: int = spec_field("integer", 0)

    def shape(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) < 2:
            raise SpecError(f"select needs at least 2 dimensions, got {dims(ins[0])}")
        d = axis(self.dim, len(ins[0]))
        axis(self.index, ins[0][d], "index")
        return (*ins[0][:d], *ins[0][d + 1:])

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Select", dict(dim=torch_dim(self.dim), index=self.index)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # its backward makes a zero tensor of the input's size


@register
@dataclass(kw_only=True)
class Pad(Op):
    """Constant padding, F.pad order: (before, after) of the last dimension, then of the one
    before it, ...; a copy (no arithmetic)."""
    kind: ClassVar[str] = "pad"
    head: ClassVar[str] = "pads"
    pads: tuple[int, ...] = spec_field("pads")
    value: float = spec_field("number", 0.0)

    def shape(self, ins: list[Shape]) -> Shape:
        if len(self.pads) % 2 or len(self.pads) > 2 * len(ins[0]):
            raise SpecError(f"pad needs (before, after) pairs for at most {len(ins[0])} "
                            f"dimensions, got {list(self.pads)}")
        out = _padded(ins[0], self.pads)
        if min(out) < 1:
            raise SpecError(f"pad {list(self.pads)} leaves nothing of {dims(ins[0])}")
        return out

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Pad", dict(pads=self.pads, value=self.value)

    grad_view: ClassVar[bool] = True     # its input's gradient is a slice of its output's

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


def _padded(shape: Shape, pads: tuple[int, ...]) -> Shape:
    """`shape` with F.pad's (before, after) pairs added, the last dimension first."""
    out = list(shape)
    for i in range(len(pads) // 2):
        out[-1 - i] += pads[2 * i] + pads[2 * i + 1]
    return tuple(out)


EDGE_PADS = ("reflect", "replicate", "circular")


@register
@dataclass(kw_only=True)
class EdgePad(Op):
    """Padding of every spatial dimension from the map's own edge, F.pad order ((left, right,
    top, bottom) in 2-D): `reflect` mirrors the positions next to the edge (each pad shorter
    than its dimension), `replicate` repeats the edge (CycleGAN's and pix2pix's generators),
    `circular` wraps around (each pad at most its dimension). A copy, no arithmetic; its
    backward sums the mirrored, repeated or wrapped gradients into the input's (a new
    tensor); reflect and replicate keep their input for it (its sizes), circular nothing."""
    kind: ClassVar[str] = "edgepad"
    head: ClassVar[str] = "pads"
    pads: tuple[int, ...] = spec_field("pads")
    mode: str = spec_field("edge_pad", "reflect")

    def shape(self, ins: list[Shape]) -> Shape:
        rank = feature_map(self, ins[0])
        if len(self.pads) != 2 * rank:
            raise SpecError(f"edgepad needs (before, after) for each of the {rank} spatial "
                            f"dimension(s) of {dims(ins[0])}, got {list(self.pads)}")
        for i in range(rank):
            size, before, after = ins[0][-1 - i], self.pads[2 * i], self.pads[2 * i + 1]
            if self.mode == "reflect" and max(before, after) >= size:
                raise SpecError(f"edgepad reflect {before}+{after} of a dimension of {size}: "
                                "each pad must be shorter than the dimension")
            if self.mode == "circular" and max(before, after) > size:
                raise SpecError(f"edgepad circular {before}+{after} of a dimension of {size}: "
                                "each pad can wrap around once at most")
        return _padded(ins[0], self.pads)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Pad", dict(pads=self.pads, mode=self.mode)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING if self.mode == "circular" else Saved(inputs=(0,))


@register
@dataclass(kw_only=True)
class Identity(Op):
    kind: ClassVar[str] = "identity"
    inplace: ClassVar[str] = "view"
    grad_view: ClassVar[bool] = True

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Identity", {}

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


@dataclass(kw_only=True)
class Merge(Op):
    multi_input: ClassVar[bool] = True


@register
@dataclass(kw_only=True)
class Concat(Merge):
    """Concatenate along `dim` (default 0: channels); the other sizes must agree. `learned`:
    a learned tensor of that per-sample shape concatenated first (a class token). Of one
    input alone it is a copy (torch.cat([x]) allocates: DenseNet's first dense layer)."""
    kind: ClassVar[str] = "concat"
    min_inputs: ClassVar[int] = 1
    grad_view: ClassVar[bool] = True     # each input's gradient is a slice of the output's
    dim: int = spec_field("integer", 0)
    learned: tuple[int, ...] | None = spec_field("shape", None)

    def parts(self, ins: list[Shape]) -> list[Shape]:
        return ([self.learned] if self.learned else []) + ins

    def shape(self, ins: list[Shape]) -> Shape:
        parts = self.parts(ins)
        d = axis(self.dim, len(ins[0]))
        rest = {(len(s), s[:d] + s[d + 1:]) for s in parts}
        if len(rest) > 1:
            raise SpecError("concat of mismatched sizes: " + " vs ".join(dims(s) for s in parts))
        return (*ins[0][:d], sum(s[d] for s in parts), *ins[0][d + 1:])

    def params(self, ins: list[Shape], out: Shape) -> int:
        return numel(self.learned) if self.learned else 0

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Concat", dict(dim=torch_dim(self.dim), learned=self.learned)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        d = axis(self.dim, len(out))
        what = "channels, " if d == 0 and len(out) == 3 else f"along dim {self.dim}, "
        return {"out": " + ".join(str(s[d]) for s in self.parts(ins)) + f" = {out[d]} {what}"
                       f"{dims(out)}", "params": fmt(self.params(ins, out)), "macs": "0"}


@register
@dataclass(kw_only=True)
class Stack(Merge):
    """Inputs of one shape stacked along a new dimension `dim` (torch.stack: SKNet's branches);
    a copy, no arithmetic."""
    kind: ClassVar[str] = "stack"
    min_inputs: ClassVar[int] = 1
    grad_view: ClassVar[bool] = True     # each input's gradient is a slice of the output's
    dim: int = spec_field("integer", 0)

    def shape(self, ins: list[Shape]) -> Shape:
        if len(set(ins)) > 1:
            raise SpecError("stack of mismatched sizes: " + " vs ".join(dims(s) for s in ins))
        d = axis(self.dim, len(ins[0]) + 1)
        return (*ins[0][:d], len(ins), *ins[0][d:])

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Stack", dict(dim=torch_dim(axis(self.dim, len(ins[0]) + 1)))

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


def _unbatched(learned: Shape, rank: int) -> Shape:
    """A learned tensor (no batch dimension) against per-sample shapes of `rank`: torch
    right-aligns it, so it gains leading 1s; sizes beyond `rank` meet the batch and must be 1
    (a (1, 197, 768) position embedding acts as (197, 768))."""
    extra = len(learned) - rank
    if extra > 0 and any(v != 1 for v in learned[:extra]):
        raise SpecError(f"learned {dims(learned)} has more dimensions than the input's {rank}")
    return (1,) * -extra + learned[max(extra, 0):]


@dataclass(kw_only=True)
class Elementwise(Merge):
    """One operation per output element for each operand after the first, with torch's
    broadcasting. Operands: the listed inputs, then `scalar` (a constant) or `learned` (a learned
    tensor of that shape, right-aligned as torch broadcasts it: a position embedding (L, D), a
    ConvNeXt layer scale (C,) on a channels-last map), or `constant` (a tensor of that shape
    that is not learned, e.g. an attention mask the forward builds: no params)."""
    torch_name: ClassVar[str]
    min_inputs: ClassVar[int] = 1
    scalar: float | None = spec_field("number", None)
    learned: tuple[int, ...] | None = spec_field("shape", None)
    constant: tuple[int, ...] | None = spec_field("shape", None)

    def operands(self, ins: list[Shape]) -> list[Shape]:
        rank = len(ins[0])
        if self.learned or self.constant:
            return ins + [_unbatched(t, rank) for t in (self.learned, self.constant) if t]
        return ins + ([(1,) * rank] if self.scalar is not None else [])

    def shape(self, ins: list[Shape]) -> Shape:
        if len(self.operands(ins)) < 2:
            raise SpecError(f"{self.kind} needs two inputs, or one and a scalar or learned tensor")
        return broadcast(self.kind, self.operands(ins))

    def params(self, ins: list[Shape], out: Shape) -> int:
        return numel(self.learned) if self.learned else 0

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * (len(self.operands(ins)) - 1)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Elementwise", dict(op=self.kind, scalar=self.scalar, learned=self.learned,
                                   constant=self.constant)


@register
@dataclass(kw_only=True)
class Add(Elementwise):
    kind: ClassVar[str] = "add"
    grad_view: ClassVar[bool] = True     # the output's gradient passes to every input

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


@register
@dataclass(kw_only=True)
class Sub(Elementwise):
    kind: ClassVar[str] = "sub"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


@register
@dataclass(kw_only=True)
class Mul(Elementwise):
    kind: ClassVar[str] = "mul"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return _product_saves(self, ins)


@register
@dataclass(kw_only=True)
class Div(Elementwise):
    kind: ClassVar[str] = "div"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return _product_saves(self, ins)


def _product_saves(op: Elementwise, ins: list[Shape]) -> Saved:
    """mul and div keep their tensor operands (each one's gradient needs the others); by a
    constant, nothing (a learned operand is a parameter: it lives anyway)."""
    return NOTHING if op.scalar is not None and len(ins) == 1 else Saved(inputs=tuple(range(len(ins))))


@register
@dataclass(kw_only=True)
class Affine(Op):
    """x * scale + shift with a learned scale and shift of per-sample shape `size` (right-
    aligned as torch broadcasts it: (D,) on tokens), as torch.addcmul(shift, scale, x) runs it
    (ResMLP's Affine): 2 * their size params, 2 ops per element."""
    kind: ClassVar[str] = "scale_shift"      # not `affine`: the norms' field of that name
    head: ClassVar[str] = "size"
    size: tuple[int, ...] = spec_field("shape")

    def shape(self, ins: list[Shape]) -> Shape:
        return broadcast(self.kind, [ins[0], _unbatched(self.size, len(ins[0]))])

    def params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(self.size)

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(out)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Affine", dict(size=self.size)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))    # the scale's gradient needs the input


@register
@dataclass(kw_only=True)
class PReLU(Op):
    """ReLU with a learned negative slope per channel (ENet), or one for all (`shared`:
    nn.PReLU()'s default)."""
    kind: ClassVar[str] = "prelu"
    shared: bool = spec_field("boolean", False)

    def params(self, ins: list[Shape], out: Shape) -> int:
        return 1 if self.shared else ins[0][0]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "PReLU", dict(num_parameters=self.params(ins, out))

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))


@register
@dataclass(kw_only=True)
class ChannelShuffle(Op):
    """Interleave channels across `channel_shuffle` groups (ShuffleNet); a copy, no arithmetic."""
    kind: ClassVar[str] = "channel_shuffle"
    head: ClassVar[str] = "groups"
    groups: int = spec_field("positive")

    def shape(self, ins: list[Shape]) -> Shape:
        if spatial(self, ins[0])[0] % self.groups:
            raise SpecError(f"channel_shuffle groups {self.groups} must divide {ins[0][0]} channels")
        return ins[0]

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "ChannelShuffle", dict(groups=self.groups)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # a permutation: its gradient is the inverse permutation


@register
@dataclass(kw_only=True)
class PixelShuffle(Op):
    """(C*r*r, H, W) -> (C, H*r, W*r) (nn.PixelShuffle: ESPCN's sub-pixel upsampling); a
    copy, no arithmetic. Each output position reads one input position: its window is 1 with
    a step of 1/r."""
    kind: ClassVar[str] = "pixel_shuffle"
    head: ClassVar[str] = "factor"
    torch_name: ClassVar[str] = "PixelShuffle"
    factor: int = spec_field("positive")

    def shape(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(self, ins[0])
        r = self.factor
        if c % (r * r):
            raise SpecError(f"{self.kind} by {r} needs channels divisible by {r * r}, got {c}")
        return c // (r * r), h * r, w * r

    def window(self, ins: list[Shape]) -> Window:
        return (1, 1), (Fraction(1, self.factor),) * 2, (1, 1)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return self.torch_name, dict(upscale_factor=self.factor)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # a permutation: its gradient is the inverse permutation


@register
@dataclass(kw_only=True)
class PixelUnshuffle(PixelShuffle):
    """(C, H*r, W*r) -> (C*r*r, H, W) (nn.PixelUnshuffle: space to depth); a copy."""
    kind: ClassVar[str] = "pixel_unshuffle"
    head: ClassVar[str] = "factor"
    torch_name: ClassVar[str] = "PixelUnshuffle"

    def shape(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(self, ins[0])
        r = self.factor
        if h % r or w % r:
            raise SpecError(f"{self.kind} by {r} needs a height and width divisible by {r}, "
                            f"got {h}x{w}")
        return c * r * r, h // r, w // r

    def window(self, ins: list[Shape]) -> Window:
        return (self.factor,) * 2, (self.factor,) * 2, (1, 1)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return self.torch_name, dict(downscale_factor=self.factor)


@register
@dataclass(kw_only=True)
class GLU(Op):
    """a * sigmoid(b) of the two halves a, b of dimension `dim` (nn.GLU): a sigmoid and a
    multiply per output element."""
    kind: ClassVar[str] = "glu"
    head: ClassVar[str] = "dim"
    dim: int = spec_field("integer", -1)

    def shape(self, ins: list[Shape]) -> Shape:
        s = ins[0]
        d = axis(self.dim, len(s))
        if s[d] % 2:
            raise SpecError(f"glu halves dimension {self.dim}, of odd size {s[d]}")
        return (*s[:d], s[d] // 2, *s[d + 1:])

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(out)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "GLU", dict(dim=torch_dim(self.dim))

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))     # glu_backward(grad, self, dim)


@register
@dataclass(kw_only=True)
class PadChannels(Op):
    """Zero-pad the channel dimension up to `pad_channels` channels (ENet shortcuts)."""
    kind: ClassVar[str] = "pad_channels"
    head: ClassVar[str] = "out"
    out: int = spec_field("positive")

    def shape(self, ins: list[Shape]) -> Shape:
        if spatial(self, ins[0])[0] > self.out:
            raise SpecError(f"pad_channels to {self.out} is fewer than the {ins[0][0]} input channels")
        return (self.out, *ins[0][1:])

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "PadChannels", dict(extra=self.out - ins[0][0])

    grad_view: ClassVar[bool] = True     # the input's gradient is a slice of the output's

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


# --- reductions and clamping (F.normalize: x / clamp_min(vector_norm(x), eps)) ---------------
@dataclass(kw_only=True)
class Reduction(Op):
    """Over the per-sample dimensions `dims` (each once), which disappear unless `keepdim`
    leaves them as 1s. The receptive field turns global once positions are mixed: a
    reduction over anything but dim 0 (the channels of a map, the heads of attention scores;
    a channels-last map's channels count as positions here, the safe side)."""
    torch_name: ClassVar[str]
    dims: tuple[int, ...] = spec_field("integers")
    keepdim: bool = spec_field("boolean", False)

    def reduced(self, ins: list[Shape]) -> list[int]:
        r = len(ins[0])
        found = [axis(d, r) for d in self.dims]
        if len(set(found)) != len(found):
            raise SpecError(f"{self.kind} over {list(self.dims)} names a dimension twice")
        return found

    def shape(self, ins: list[Shape]) -> Shape:
        gone = self.reduced(ins)
        if self.keepdim:
            return tuple(1 if d in gone else n for d, n in enumerate(ins[0]))
        out = tuple(n for d, n in enumerate(ins[0]) if d not in gone)
        if not out:
            raise SpecError(f"{self.kind} over every dimension of {dims(ins[0])} leaves none")
        return out

    def window(self, ins: list[Shape]) -> Window:
        return None if self.reduced(ins) == [0] else GLOBAL

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return self.torch_name, dict(dims=tuple(torch_dim(d) for d in self.reduced(ins)),
                                     keepdim=self.keepdim)


@register
@dataclass(kw_only=True)
class Mean(Reduction):
    """The mean over `dims` (x.mean((2, 3)): global average pooling without the 1x1 left,
    of a channels-last map, of the heads' attention weights): one add per input element, as
    `gap` counts (the division by the count is folded into the result)."""
    kind: ClassVar[str] = "mean"
    head: ClassVar[str] = "dims"
    torch_name: ClassVar[str] = "Mean"

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0])

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # its backward spreads the gradient: it needs the shape only


@register
@dataclass(kw_only=True)
class Sum(Mean):
    """The sum over `dims` (ResNeSt's and SKNet's split attention add their branches so):
    one add per input element and a backward that needs the shape only, as `mean`."""
    kind: ClassVar[str] = "sum"
    head: ClassVar[str] = "dims"
    torch_name: ClassVar[str] = "Sum"


@register
@dataclass(kw_only=True)
class Amax(Reduction):
    """The largest value over `dims` (CBAM's channel max): torch.amax, or with `indices`
    torch.max(x, dim)'s values, its indices kept for the backward. One comparison per input
    element."""
    kind: ClassVar[str] = "amax"
    head: ClassVar[str] = "dims"
    torch_name: ClassVar[str] = "Extreme"
    indices: bool = spec_field("boolean", False)

    def shape(self, ins: list[Shape]) -> Shape:
        if self.indices and len(self.dims) != 1:
            raise SpecError(f"{self.kind} with indices reduces one dimension, got "
                            f"{list(self.dims)}")
        return super().shape(ins)

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0])

    def keeps_output(self, inplace: bool) -> bool:
        return not self.indices

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.indices:        # the gradient goes where the indices say (int64)
            return Saved(own=(Own("indices", numel(out), "int64"),))
        return Saved(inputs=(0,), output=True)      # to the inputs equal to the result

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        name, args = super().module(ins, out, inplace)
        return name, dict(args, fn=self.kind[1:], indices=self.indices)


@register
@dataclass(kw_only=True)
class Amin(Amax):
    """The smallest value over `dims`: torch.amin, or torch.min(x, dim) with `indices`."""
    kind: ClassVar[str] = "amin"
    head: ClassVar[str] = "dims"


@register
@dataclass(kw_only=True)
class Var(Reduction):
    """The variance over `dims` with Bessel's `correction` (torch.var; ConvNeXt's
    channels-first LayerNorm written out). Other ops: the mean (an add per input element),
    then a subtract, a square and an add per input element: 4 per input element."""
    kind: ClassVar[str] = "var"
    head: ClassVar[str] = "dims"
    torch_name: ClassVar[str] = "Var"
    correction: int = spec_field("integer", 1)

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 4 * numel(ins[0])

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))     # var_backward(grad, self, ...)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        name, args = super().module(ins, out, inplace)
        return name, dict(args, correction=self.correction, std=self.kind == "std")


@register
@dataclass(kw_only=True)
class Std(Var):
    """The standard deviation over `dims` (torch.std): the variance's ops and a square root
    per output element."""
    kind: ClassVar[str] = "std"
    head: ClassVar[str] = "dims"

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 4 * numel(ins[0]) + numel(out)

    def keeps_output(self, inplace: bool) -> bool:
        return True

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,), output=True)     # std_backward(result, grad, self, ...)


@register
@dataclass(kw_only=True)
class VectorNorm(Reduction):
    """The Euclidean (2-)norm over `dims`, torch.linalg.vector_norm (F.normalize's
    denominator: Swin V2's cosine attention). Other ops: a square and an add per input element
    (2 * input elements) and one square root per output element."""
    kind: ClassVar[str] = "vector_norm"
    head: ClassVar[str] = "dims"
    torch_name: ClassVar[str] = "VectorNorm"

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(ins[0]) + numel(out)

    def keeps_output(self, inplace: bool) -> bool:
        return True

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,), output=True)     # grad = grad_out * x / norm


@register
@dataclass(kw_only=True)
class Clamp(Op):
    """Elementwise clamp to [min, max] (either may be absent: clamp_min, clamp_max); one op
    per element."""
    kind: ClassVar[str] = "clamp"
    min: float | None = spec_field("number", None)
    max: float | None = spec_field("number", None)

    def shape(self, ins: list[Shape]) -> Shape:
        if self.min is None and self.max is None:
            raise SpecError("clamp needs min, max or both")
        return ins[0]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Clamp", dict(min=self.min, max=self.max)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))    # its gradient passes where the input was within bounds


@dataclass(kw_only=True)
class Math(Op):
    """An elementwise function of one tensor (torch.exp, torch.rsqrt, ...): one op per
    element. `needs`: what its gradient reads, its "input" or its "output", or nothing
    (autograd's formulas: exp's gradient is its result, log's reads its input, neg's none)."""
    needs: ClassVar[str | None]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def keeps_output(self, inplace: bool) -> bool:
        return self.needs == "output"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.keeps_output(inplace):
            return Saved(output=True)
        if self.needs == "input":   # in place (x.sin_()), autograd keeps a copy of the input
            return Saved(own=(Own("copy of the input", numel(out)),)) if inplace \
                else Saved(inputs=(0,))
        return NOTHING

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Unary", dict(fn=self.kind)


# torch function (= op key) -> what its gradient reads (see Math)
MATH = {"exp": "output", "log": "input", "log1p": "input", "sqrt": "output",
        "rsqrt": "output", "reciprocal": "output", "abs": "input", "neg": None, "sin": "input",
        "cos": "input", "erf": "input"}
for _kind, _reads in MATH.items():
    register(dataclass(kw_only=True)(type(_kind.capitalize(), (Math,), {
        "kind": _kind, "needs": _reads, "__module__": __name__})))


@register
@dataclass(kw_only=True)
class Pow(Math):
    """x ** exponent, a number (torch.pow(x, e); x.square() is pow 2): one op per element."""
    kind: ClassVar[str] = "pow"
    head: ClassVar[str] = "exponent"
    needs: ClassVar[str | None] = "input"       # pow_backward(grad, self, exponent)
    exponent: float = spec_field("number")

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Unary", dict(fn="pow", exponent=self.exponent)


def _grad_text(one: str, macs: int, input_grad: bool, weight_grad: bool) -> str:
    """'grad input 28*28*6*(5*5*1) + grad weight 28*28*6*(5*5*1) = ...' for conv and linear."""
    parts = [f"grad {what} {one}" for what, on in (("input", input_grad), ("weight", weight_grad))
             if on]
    if not parts:
        return "0 (no gradient needed)"
    return " + ".join(parts) + f" = {fmt(macs * len(parts))}"


def op_class(kind: str) -> type[Op]:
    if kind not in OPS:
        raise SpecError(f"unknown op '{kind}'", hint=did_you_mean(kind, OPS))
    return OPS[kind]


# --- ops only a tracer makes (archprof.trace) ------------------------------------------------

@register
@dataclass(kw_only=True)
class Param(Op):
    """Learned tensors no other op's rule counts: read as data by the forward (a layer scale,
    a position embedding, a class token) or never read at all (an auxiliary head in eval mode).
    A row of their own so that params equal the module's `numel`; no work, no memory."""
    kind: ClassVar[str] = "param"
    head: ClassVar[str] = "count"
    inplace: ClassVar[str] = "view"
    count: int = spec_field("positive")
    used: bool = spec_field("boolean", True)
    # the shape of the tensor the row stands for, as the next op's operand (a gathered bias
    # table) or as a flat count (parameters never read); None: its input's
    tensor: tuple[int, ...] | None = spec_field("shape", None)

    def shape(self, ins: list[Shape]) -> Shape:
        return self.tensor or ins[0]

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.count

    def describe(self, ins: list[Shape]) -> str:
        return "param" if self.used else "param (not run)"

    grad_view: ClassVar[bool] = True     # passes its input (and that input's gradient) through

    def trained_params(self, ins: list[Shape], out: Shape) -> int:
        return self.count if self.used else 0    # never read: its gradient stays None

    def runs(self) -> bool:
        return self.used

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # the op that reads the tensor keeps what it needs

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Identity", {}

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        use = "read as data" if self.used else "never read by the forward"
        what = "the tensor it stands for" if self.tensor else "its input, unchanged"
        return {"out": f"{dims(out)} ({what})",
                "params": f"{fmt(self.count)} ({use})", "macs": "0"}


@dataclass(kw_only=True)
class Uncounted(Op):
    """A traced ATen op with no rule: its cost is unknown, never a silent zero; analysis
    lists it under `uncounted_ops` (and `strict` makes it an error). `why`: where the op has
    a rule but not for these arguments, the reason (`uncounted_why`)."""
    kind: ClassVar[str] = "uncounted"
    aten: str
    why: str = ""

    def describe(self, ins: list[Shape]) -> str:
        return f"uncounted {self.aten}"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        why = f" ({self.why})" if self.why else ""
        raise SpecError(f"{self.aten} has no rule{why}: the training memory of this model is "
                        "unknown")

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        why = f": {self.why}" if self.why else ""
        return {"out": dims(out), "params": "?", "macs": f"? (no rule for {self.aten}{why})"}
