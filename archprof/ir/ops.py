"""Primitive ops: one rule class per op type, holding together its output shape, parameter
count, multiply-accumulates (MACs), other elementwise ops, activation memory, receptive-field
window, the torch module that implements it and the arithmetic behind each number.

Adding an op type is one class here with `@register`. Shapes are per sample: (C, H, W) for
feature maps, (F,) for flat vectors. Nothing here imports torch or knows which producer (spec,
tracer) made the op; `module()` names the class
(from torch.nn or archprof.model.modules) and its arguments, and archprof.model builds it.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field
from typing import Any, ClassVar

from archprof.errors import SpecError, did_you_mean

Shape = tuple[int, ...]
Module = tuple[str, dict[str, Any]]

OPS: dict[str, type[Op]] = {}


def spec_field(kind: str, default: Any = MISSING) -> Any:
    """A field a spec row may set; `kind` names the value's parser in archprof.spec.fields
    (positive, pair, padding, boolean, number, fraction). Other producers set it directly."""
    if default is MISSING:
        return field(metadata={"spec": kind})
    return field(default=default, metadata={"spec": kind})


def register(cls: type[Op]) -> type[Op]:
    OPS[cls.kind] = cls
    return cls


def fmt(n: int | float) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n:g}"


def dims(shape: Shape) -> str:
    """'96x55x55'; a square pair prints once ('3' for a 3x3 kernel is not enough: '3x3')."""
    return "x".join(map(str, shape))


def numel(shape: Shape) -> int:
    return math.prod(shape)


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
    Parameters it keeps are not listed: they live anyway."""
    inputs: tuple[int, ...] = ()
    output: bool = False
    own: tuple[Own, ...] = ()


NOTHING = Saved()


def spatial(op: Op, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise SpecError(f"{op.kind} needs a CxHxW feature map, got {dims(shape)}"
                        + ("; it follows a flat vector" if len(shape) == 1 else ""))
    return shape


@dataclass(kw_only=True)
class Op:
    """Base rule. Subclasses are dataclasses of plain numbers; fields made by `spec_field` can
    be set from a spec row, the one named by `head` by the row's op key ({conv: 96} -> out=96)."""
    kind: ClassVar[str]
    head: ClassVar[str | None] = None
    multi_input: ClassVar[bool] = False   # the op key's value lists the inputs (concat, add, mul)
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

    def window(self, ins: list[Shape]) -> tuple[Shape, Shape, Shape]:
        """(kernel, stride, dilation) per spatial dimension, for the receptive field."""
        return (1, 1), (1, 1), (1, 1)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        raise NotImplementedError

    def describe(self, ins: list[Shape]) -> str:
        """A short label for breakdowns by layer type ('conv 3x3 dw', 'fc')."""
        return self.kind

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        """The arithmetic behind shape, params and MACs, with the numbers substituted."""
        return {"out": f"{dims(out)} (same as input)", "params": "0", "macs": "0"}

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


@dataclass(kw_only=True)
class Windowed(Op):
    """Shared shape arithmetic of convolution and pooling windows."""
    k: tuple[int, int] = spec_field("pair")
    s: tuple[int, int] = spec_field("pair", (1, 1))
    p: Any = spec_field("padding", (0, 0, 0, 0))
    d: tuple[int, int] = spec_field("pair", (1, 1))
    ceil: bool = spec_field("boolean", False)

    def pads(self, ins: list[Shape]) -> tuple[int, int, int, int]:
        if self.p != "same":
            return self.p
        _, h, w = spatial(self, ins[0])
        return (*_same_padding(h, self.k[0], self.s[0], self.d[0]),
                *_same_padding(w, self.k[1], self.s[1], self.d[1]))

    def out_hw(self, ins: list[Shape]) -> tuple[int, int]:
        _, h, w = spatial(self, ins[0])
        t, b, l, r = self.pads(ins)
        return (_out_size(h, self.k[0], self.s[0], self.d[0], t, b, self.ceil, "height"),
                _out_size(w, self.k[1], self.s[1], self.d[1], l, r, self.ceil, "width"))

    def out_text(self, ins: list[Shape], out: Shape) -> str:
        _, h, w = ins[0]
        t, b, l, r = self.pads(ins)
        texts = [_out_text(h, self.k[0], self.s[0], self.d[0], t, b, self.ceil, out[1])]
        if (w, self.k[1], self.s[1], self.d[1], l, r) != (h, self.k[0], self.s[0], self.d[0], t, b):
            texts.append(_out_text(w, self.k[1], self.s[1], self.d[1], l, r, self.ceil, out[2]))
        return " ; ".join(texts)

    def window(self, ins: list[Shape]) -> tuple[Shape, Shape, Shape]:
        return self.k, self.s, self.d

    def torch_padding(self, ins: list[Shape]) -> tuple[int, int] | None:
        """Symmetric padding as torch takes it, or None when it needs an explicit pad."""
        t, b, l, r = self.pads(ins)
        return (t, l) if (t, l) == (b, r) else None


@register
@dataclass(kw_only=True)
class Conv(Windowed):
    """2-D convolution: out channels, kernel k, stride s, padding p, dilation d, groups g."""
    kind: ClassVar[str] = "conv"
    head: ClassVar[str] = "out"
    out: int = spec_field("positive")
    g: int = spec_field("positive", 1)
    bias: bool = spec_field("boolean", True)

    def shape(self, ins: list[Shape]) -> Shape:
        c = spatial(self, ins[0])[0]
        if c % self.g or self.out % self.g:
            raise SpecError(f"groups {self.g} must divide input channels {c} and output "
                            f"channels {self.out}")
        return (self.out, *self.out_hw(ins))

    def describe(self, ins: list[Shape]) -> str:
        group = " dw" if self.g == ins[0][0] and self.g > 1 else f" g{self.g}" if self.g > 1 else ""
        return f"conv {dims(self.k)}{group}"

    def weights(self, ins: list[Shape], out: Shape) -> int:
        return self.out * (ins[0][0] // self.g) * self.k[0] * self.k[1]

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.weights(ins, out) + (self.out if self.bias else 0)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * (ins[0][0] // self.g) * self.k[0] * self.k[1]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) if self.bias else 0   # one bias add per output element

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        pad = self.torch_padding(ins)
        args = dict(in_channels=ins[0][0], out_channels=self.out, kernel_size=self.k,
                    stride=self.s, dilation=self.d, groups=self.g, bias=self.bias)
        if pad is None:
            return "PaddedConv2d", dict(args, pads=self.pads(ins))
        return "Conv2d", dict(args, padding=pad)

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        # grad input: a transposed conv of the output gradient with the same kernel; grad
        # weight: each weight meets each of its outputs once. Both equal the forward MACs.
        return self.macs(ins, out) * (int(input_grad) + int(weight_grad))

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        cin, kh, kw, g = ins[0][0], *self.k, self.g
        per = f"{kh}*{kw}*({cin}/{g})" if g > 1 else f"{kh}*{kw}*{cin}"
        one = f"{out[1]}*{out[2]}*{self.out}*({per})"
        return _grad_text(one, self.macs(ins, out), input_grad, weight_grad)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.torch_padding(ins) is None:     # padded first: the padded copy is kept
            (c, h, w), (t, b, l, r) = ins[0], self.pads(ins)
            return Saved(own=(Own("padded input", c * (h + t + b) * (w + l + r)),))
        return Saved(inputs=(0,))

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        cin, kh, kw, g = ins[0][0], *self.k, self.g
        per = f"{kh}*{kw}*({cin}/{g})" if g > 1 else f"{kh}*{kw}*{cin}"
        bias = f" + {self.out}" if self.bias else ""
        return {"out": self.out_text(ins, out),
                "params": f"{per}*{self.out}{bias} = {fmt(self.params(ins, out))}",
                "macs": f"{out[1]}*{out[2]}*{self.out}*({per}) = {fmt(self.macs(ins, out))}"}


@register
@dataclass(kw_only=True)
class Linear(Op):
    """Fully connected layer on a flat vector."""
    kind: ClassVar[str] = "linear"
    head: ClassVar[str] = "out"
    out: int = spec_field("positive")
    bias: bool = spec_field("boolean", True)

    def shape(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) != 1:
            raise SpecError(f"linear needs a flat input, got {dims(ins[0])}; add a flatten row")
        return (self.out,)

    def describe(self, ins: list[Shape]) -> str:
        return "fc"

    def weights(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] * self.out

    def params(self, ins: list[Shape], out: Shape) -> int:
        return self.weights(ins, out) + (self.out if self.bias else 0)

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] * self.out

    def other(self, ins: list[Shape], out: Shape) -> int:
        return self.out if self.bias else 0

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Linear", dict(in_features=ins[0][0], out_features=self.out, bias=self.bias)

    def backward_macs(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> int:
        # grad input = grad_out @ W (in*out), grad weight = grad_out^T @ x (in*out)
        return self.macs(ins, out) * (int(input_grad) + int(weight_grad))

    def backward_text(self, ins: list[Shape], out: Shape, input_grad: bool,
                      weight_grad: bool) -> str:
        return _grad_text(f"{ins[0][0]}*{self.out}", self.macs(ins, out), input_grad, weight_grad)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=(0,))    # the input, for the weight gradient

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        bias = f" + {self.out}" if self.bias else ""
        return {"out": f"{self.out}",
                "params": f"{ins[0][0]}*{self.out}{bias} = {fmt(self.params(ins, out))}",
                "macs": f"{ins[0][0]}*{self.out} = {fmt(self.macs(ins, out))}"}


@register
@dataclass(kw_only=True)
class BatchNorm(Op):
    """Batch normalisation: 2C learnable (scale, shift); running mean/var and the batch counter
    are buffers. At inference it is one multiply and one add per element."""
    kind: ClassVar[str] = "bn"
    eps: float = spec_field("number", 1e-5)

    def params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0]

    def buffers(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] + 1

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(out)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        # the input, and the batch mean and inverse std per channel (float32 in any dtype)
        return Saved(inputs=(0,), own=(Own("batch mean, inverse std", 2 * ins[0][0], "float32",
                                           per_sample=False),))

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return ("BatchNorm2d" if len(ins[0]) == 3 else "BatchNorm1d"), dict(
            num_features=ins[0][0], eps=self.eps)

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        c = ins[0][0]
        return {"out": f"{dims(out)} (same as input)",
                "params": f"2*{c} = {fmt(2 * c)} (scale, shift; + {fmt(2 * c + 1)} buffer "
                          "elements: running mean, var, batch counter)",
                "macs": f"0 (other ops: 2*{numel(out):,} = {fmt(2 * numel(out))})"}


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
    torch_name: ClassVar[str]
    can_mutate: ClassVar[bool] = True
    # what its gradient needs: "output" (relu, sigmoid, tanh) or "input" (relu6, hardswish:
    # in place, autograd keeps a copy of the input it overwrites)
    needs: ClassVar[str] = "output"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.needs == "output":
            return Saved(output=True)
        return Saved(own=(Own("copy of the input", numel(out)),)) if inplace else Saved(inputs=(0,))

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return self.torch_name, (dict(inplace=inplace) if self.can_mutate else {})


# Activations: op key -> (torch class, can overwrite its input in place, its gradient needs).
ACTIVATIONS = {"relu": ("ReLU", True, "output"), "relu6": ("ReLU6", True, "input"),
               "hardswish": ("Hardswish", True, "input"), "sigmoid": ("Sigmoid", False, "output"),
               "tanh": ("Tanh", False, "output")}
for _kind, (_torch_name, _mutate, _needs) in ACTIVATIONS.items():
    register(dataclass(kw_only=True)(type(_torch_name, (Activation,), {
        "kind": _kind, "torch_name": _torch_name, "can_mutate": _mutate, "needs": _needs,
        "inplace": "mutate" if _mutate else None, "__module__": __name__})))


@register
@dataclass(kw_only=True)
class Softmax(Op):
    kind: ClassVar[str] = "softmax"

    def other(self, ins: list[Shape], out: Shape) -> int:
        return 3 * numel(out)   # exp, sum, divide

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Softmax", dict(dim=1)

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


@dataclass(kw_only=True)
class Pool(Windowed):
    torch_name: ClassVar[str]
    head: ClassVar[str] = "k"
    s: tuple[int, int] = spec_field("pair", None)   # None until __post_init__: the kernel size

    def __post_init__(self) -> None:
        self.s = self.s or self.k

    def shape(self, ins: list[Shape]) -> Shape:
        t, b, l, r = self.pads(ins)
        if max(t, b) * 2 > self.k[0] or max(l, r) * 2 > self.k[1]:
            raise SpecError(f"pool padding {self.pads(ins)} exceeds half the kernel {dims(self.k)}")
        return (ins[0][0], *self.out_hw(ins))

    def describe(self, ins: list[Shape]) -> str:
        return f"{self.kind} {dims(self.k)}"

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * self.k[0] * self.k[1]   # one compare/add per window element

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        if self.kind == "maxpool":   # the input and where each maximum was (int64)
            return Saved(inputs=(0,), own=(Own("indices", numel(out), "int64"),))
        return Saved(inputs=(0,))    # avg_pool2d's backward takes its input (for the shape)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        pad = self.torch_padding(ins)
        if pad is None:
            raise SpecError(f"asymmetric pooling padding {self.pads(ins)} is not supported")
        return self.torch_name, dict(kernel_size=self.k, stride=self.s, padding=pad,
                                     ceil_mode=self.ceil)

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        return {"out": self.out_text(ins, out), "params": "0",
                "macs": f"0 (other ops: {out[1]}*{out[2]}*{out[0]}*{self.k[0]}*{self.k[1]} = "
                        f"{fmt(self.other(ins, out))})"}


# Pooling: op key -> torch class (no dilation: its field is fixed at 1).
for _kind, _torch_name in {"maxpool": "MaxPool2d", "avgpool": "AvgPool2d"}.items():
    register(dataclass(kw_only=True)(type(_torch_name, (Pool,), {
        "kind": _kind, "torch_name": _torch_name, "d": (1, 1),
        "__annotations__": {"d": tuple[int, int]}, "__module__": __name__})))


@register
@dataclass(kw_only=True)
class GlobalAvgPool(Op):
    """Average over the whole feature map: CxHxW -> Cx1x1."""
    kind: ClassVar[str] = "gap"

    def shape(self, ins: list[Shape]) -> Shape:
        return (spatial(self, ins[0])[0], 1, 1)

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0])

    def window(self, ins: list[Shape]) -> tuple[Shape, Shape, Shape]:
        return ins[0][1:], ins[0][1:], (1, 1)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "AdaptiveAvgPool2d", dict(output_size=1)

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING    # torch takes it as a mean: the backward needs the shape only


@register
@dataclass(kw_only=True)
class Flatten(Op):
    """CxHxW -> (C*H*W,), a view of its input."""
    kind: ClassVar[str] = "flatten"
    inplace: ClassVar[str] = "view"

    def shape(self, ins: list[Shape]) -> Shape:
        return (numel(ins[0]),)

    def window(self, ins: list[Shape]) -> tuple[Shape, Shape, Shape]:
        return (ins[0][1:], ins[0][1:], (1, 1)) if len(ins[0]) == 3 else super().window(ins)

    grad_view: ClassVar[bool] = True

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Flatten", {}

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        return {"out": f"{'*'.join(map(str, ins[0]))} = {out[0]:,}", "params": "0", "macs": "0"}


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
    """Concatenate feature maps along channels; all spatial sizes must agree."""
    kind: ClassVar[str] = "concat"
    grad_view: ClassVar[bool] = True     # each input's gradient is a slice of the output's

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING

    def shape(self, ins: list[Shape]) -> Shape:
        if len({s[1:] for s in ins}) > 1 or len({len(s) for s in ins}) > 1:
            raise SpecError("concat of mismatched sizes: " + " vs ".join(dims(s) for s in ins))
        return (sum(s[0] for s in ins), *ins[0][1:])

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "Concat", {}

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        return {"out": " + ".join(str(s[0]) for s in ins) + f" = {out[0]} channels, {dims(out)}",
                "params": "0", "macs": "0"}


@dataclass(kw_only=True)
class Elementwise(Merge):
    """One operation per output element for each input after the first (archprof.model.modules)."""
    torch_name: ClassVar[str]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * (len(ins) - 1)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return self.torch_name, {}


@register
@dataclass(kw_only=True)
class Add(Elementwise):
    """Elementwise sum (residual connections); all input shapes must be equal."""
    kind: ClassVar[str] = "add"
    torch_name: ClassVar[str] = "Add"
    grad_view: ClassVar[bool] = True     # the output's gradient passes to every input

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING

    def shape(self, ins: list[Shape]) -> Shape:
        if len(set(ins)) > 1:
            raise SpecError("add of mismatched shapes: " + " vs ".join(dims(s) for s in ins))
        return ins[0]


@register
@dataclass(kw_only=True)
class Mul(Elementwise):
    """Elementwise product with broadcasting (e.g. SE gating: CxHxW * Cx1x1)."""
    kind: ClassVar[str] = "mul"
    torch_name: ClassVar[str] = "Mul"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return Saved(inputs=tuple(range(len(ins))))   # each input's gradient needs the others

    def shape(self, ins: list[Shape]) -> Shape:
        out = max(ins, key=numel)
        for s in ins:
            if len(s) != len(out) or any(a not in (1, b) for a, b in zip(s, out)):
                raise SpecError("mul of shapes that do not broadcast: "
                                + " vs ".join(dims(s) for s in ins))
        return out


@register
@dataclass(kw_only=True)
class PReLU(Op):
    """ReLU with a learned negative slope per channel (ENet)."""
    kind: ClassVar[str] = "prelu"

    def params(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0]

    def other(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "PReLU", dict(num_parameters=ins[0][0])

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
class PadChannels(Op):
    """Zero-pad the channel dimension up to `pad_channels` channels (ENet shortcuts)."""
    kind: ClassVar[str] = "pad_channels"
    head: ClassVar[str] = "out"
    out: int = spec_field("positive")

    def shape(self, ins: list[Shape]) -> Shape:
        if spatial(self, ins[0])[0] > self.out:
            raise SpecError(f"pad_channels to {self.out} is fewer than the {ins[0][0]} input channels")
        return (self.out, *ins[0][1:])

    grad_view: ClassVar[bool] = True     # the input's gradient is a slice of the output's

    def module(self, ins: list[Shape], out: Shape, inplace: bool) -> Module:
        return "PadChannels", dict(extra=self.out - ins[0][0])

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        return NOTHING


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
        return {"out": f"{dims(out)} (its input, unchanged)",
                "params": f"{fmt(self.count)} ({use})", "macs": "0"}


@dataclass(kw_only=True)
class Uncounted(Op):
    """A traced ATen op with no rule: its cost is unknown, never a silent zero; analysis
    lists it under `uncounted_ops` (and `strict` makes it an error)."""
    kind: ClassVar[str] = "uncounted"
    aten: str

    def describe(self, ins: list[Shape]) -> str:
        return f"uncounted {self.aten}"

    def saved(self, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        raise SpecError(f"{self.aten} has no rule: the training memory of this model is unknown")

    def explain(self, ins: list[Shape], out: Shape) -> dict[str, str]:
        return {"out": dims(out), "params": "?", "macs": f"? (no rule for {self.aten})"}
