"""ATen ops (and a few whole modules) -> IR op rules of archprof.ir.ops, with plain numbers.

A handler gets the recorded call: the op's arguments as torch passed them, the per-sample
shapes of its activation inputs and of its output. It returns the rule, or `declined` (why
no rule fits these arguments) or None: the op is then listed as uncounted, never counted as
zero. Dimension arguments count the batch dimension in torch and not in the IR: `sample_dim`
converts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archprof.errors import SpecError
from archprof.ir import ops
from archprof.ir.ops import Op, Shape
from archprof.model import modules


@dataclass
class Call:
    name: str                 # the ATen op without overload and in-place suffix: 'relu'
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    ins: list[Shape]          # per-sample shapes of the activation inputs
    out: Shape                # per-sample shape of the (first) output
    acts: list[bool]          # for each positional argument: an activation?

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)


Handler = Callable[[Call], "Op | None"]
ATEN: dict[str, Handler] = {}

# Ops whose output aliases their input's memory; copies (an activation, no arithmetic);
# factories, whose output does not depend on their input's values.
VIEWS = {"view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute",
         "expand", "unsqueeze", "squeeze", "select", "slice", "split", "split_with_sizes",
         "chunk", "unbind", "alias", "detach", "as_strided", "unfold", "narrow", "view_as",
         "flatten", "lift_fresh", "movedim", "swapaxes", "expand_as"}
COPIES = {"clone", "contiguous", "_to_copy", "copy", "roll"}
FACTORIES = {"empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like",
             "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided", "zero",
             "fill", "scalar_tensor", "arange", "empty", "zeros", "ones", "full"}
# Ops with multiply-accumulates: run on parameters and buffers alone (no activation), they are
# work done once per forward whatever the batch, listed apart (Recorder.constant_work).
MACS = {"convolution", "_convolution", "addmm", "mm", "bmm", "matmul", "baddbmm", "addbmm",
        "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_flash_attention"}
ELEMENTWISE = {"add": ops.Add, "sub": ops.Sub, "rsub": ops.Sub, "mul": ops.Mul, "div": ops.Div}


def rule(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            ATEN[name] = fn
        return fn
    return register


def declined(c: Call, why: str) -> Op:
    """The op has a rule, but not for these arguments: listed as uncounted, with `why`."""
    return ops.Uncounted(aten=f"aten.{c.name}", why=why)


def sample_dim(dim: int) -> int:
    """A torch dimension (batch first) as a per-sample one; negative ones are the same."""
    return dim - 1 if dim > 0 else dim


def sizes(values: Any, rank: int) -> tuple[int, ...]:
    """torch's int-or-list window arguments as one value per spatial dimension."""
    v = [int(x) for x in values] if isinstance(values, (list, tuple)) else [int(values)]
    return tuple(v) if len(v) == rank else (v[0],) * rank


# --- convolution, linear, matmul, attention ----------------------------------------------------
@rule("convolution", "_convolution")
def _convolution(c: Call) -> Op | None:
    w, bias, stride, padding, dilation, transposed, output_padding, groups = c.args[1:9]
    rank = w.dim() - 2
    if not 1 <= rank <= 3:
        return declined(c, f"a convolution over {rank} spatial dimensions; rules cover 1 to 3")
    k, s, p = tuple(int(x) for x in w.shape[2:]), sizes(stride, rank), sizes(padding, rank)
    d, g, b = sizes(dilation, rank), int(groups), bias is not None
    if transposed:   # weight (Cin, Cout/groups, *k)
        return ops.ConvTranspose(out=int(w.shape[1]) * g, k=k, s=s, p=p, d=d, g=g, bias=b,
                                 output_padding=sizes(output_padding, rank))
    return ops.Conv(out=int(w.shape[0]), k=k, s=s, p=p, d=d, g=g, bias=b)


@rule("im2col")
def _im2col(c: Call) -> Op | None:     # F.unfold: a conv's columns
    k, d, p, s = (tuple(int(v) for v in c.args[i]) for i in range(1, 5))
    return ops.Unfold(k=k, s=s, p=p, d=d)


@rule("addmm")
def _addmm(c: Call) -> Op | None:
    if c.acts[1:3] != [True, False] or c.args[0].dim() != 1:     # x @ W^T + b
        return declined(c, "not an activation times a weight plus a bias vector")
    return ops.Linear(out=int(c.args[2].shape[1]), bias=True)


@rule("mm", "bmm", "matmul")
def _mm(c: Call) -> Op | None:
    if c.acts[:2] == [True, True]:
        return ops.Matmul()
    if c.acts[:2] == [True, False] and (c.args[1].dim() == 2 or _one_matrix(c.args[1])):
        return ops.Linear(out=int(c.args[1].shape[-1]), bias=False)
    if left_weight(c.name, c.acts) and (c.args[0].dim() == 2 or _one_matrix(c.args[0])) \
            and len(c.ins[0]) >= 2:      # on the activation transposed: Recorder.swap
        return ops.Linear(out=int(c.args[0].shape[-2]), bias=False)
    return declined(c, "a weight of more than 2 dimensions, or an activation of one; the rules "
                       "are activation @ activation and activation @ 2-D weight or back")


def left_weight(name: str, acts: list[bool]) -> bool:
    """A matrix product of a constant by an activation (W @ x: token mixing, a graph's
    adjacency, an explicit conv's weight times its columns): a linear layer on the
    activation's second last dimension."""
    return name in ("mm", "bmm") and acts[:2] == [False, True]


def _one_matrix(w: torch.Tensor) -> bool:
    """A bmm operand that is one matrix for the whole batch: expanded over it (stride 0), as
    torch's matmul makes it of a 2-D weight for an activation it cannot flatten without a copy
    (a transposed view, as in nn.MultiheadAttention's input projection), or a batch of one
    matrix (an einsum's weight)."""
    return w.dim() == 3 and (w.stride(0) == 0 or w.shape[0] == 1)


@rule("baddbmm")
def _baddbmm(c: Call) -> Op | None:   # mask + q @ k^T (nn.MultiheadAttention with a mask)
    return ops.Matmul() if c.acts[1:3] == [True, True] else None


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kwargs: dict[str, Any]) -> Op:
    """F.scaled_dot_product_attention, seen whole by the tracer (archprof.trace.dispatch)."""
    scale = kwargs.get("scale")
    return ops.Attention(causal=bool(kwargs.get("is_causal", False)),
                         scale=None if scale is None else float(scale))


# --- normalisation, activations ----------------------------------------------------------------
@rule("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit")
def _batch_norm(c: Call) -> Op | None:
    training = c.args[5] if len(c.args) > 7 else True    # no running statistics (no_stats)
    if c.name != "_native_batch_norm_legit_no_training" and training:
        return declined(c, "batch statistics at inference (no running statistics), across "
                           "samples; archprof counts per sample")
    if (c.args[1] is None) != (c.args[2] is None):
        return declined(c, "batch norm with a scale and no shift, or a shift and no scale")
    return ops.BatchNorm(eps=float(c.args[-1]), affine=c.args[1] is not None)


@rule("native_layer_norm")
def _layer_norm(c: Call) -> Op | None:
    weight, bias = c.args[2], c.args[3]
    return ops.LayerNorm(dims=len(c.args[1]), eps=float(c.args[4]), affine=weight is not None,
                         bias=bias is not None)


@rule("native_group_norm")
def _group_norm(c: Call) -> Op | None:
    return ops.GroupNorm(groups=int(c.args[6]), eps=float(c.args[7]),
                         affine=c.args[1] is not None)


def _activation(kind: str) -> Handler:
    return lambda c: ops.op_class(kind)()


for _name in ("relu", "hardswish", "sigmoid", "tanh", "silu", "hardsigmoid", "mish",
              *(f for f in ops.MATH if f != "abs")):      # abs: `_abs`, below
    ATEN[_name] = _activation(_name)


@rule("abs")
def _abs(c: Call) -> Op | None:
    if c.args[0].is_complex():
        return declined(c, "the magnitude of a complex tensor; the rule is a real abs, one op "
                           "per element")
    return ops.op_class("abs")()


@rule("pow")
def _pow(c: Call) -> Op | None:
    exponent = c.args[1] if len(c.args) > 1 else None
    if not isinstance(c.args[0], torch.Tensor) or isinstance(exponent, bool) \
            or not isinstance(exponent, (int, float)):
        return declined(c, "a power with a tensor exponent or a number base; the rule is "
                           "tensor ** number")
    return ops.Pow(exponent=float(exponent))


@rule("hardtanh")
def _hardtanh(c: Call) -> Op | None:
    low, high = c.arg(1, "min_val", -1.0), c.arg(2, "max_val", 1.0)
    if (low, high) == (0.0, 6.0):
        return ops.op_class("relu6")()
    return ops.Clamp(min=float(low), max=float(high))      # the same values and saved input


@rule("leaky_relu")
def _leaky_relu(c: Call) -> Op | None:
    return ops.LeakyReLU(slope=float(c.arg(1, "negative_slope", 0.01)))


# SELU is elu(x, alpha, scale) with these constants (torch.nn.functional.selu)
SELU = (1.6732632423543772, 1.0507009873554805)


@rule("elu")
def _elu(c: Call) -> Op | None:
    alpha, scale = float(c.arg(1, "alpha", 1.0)), float(c.arg(2, "scale", 1.0))
    if float(c.arg(3, "input_scale", 1.0)) != 1.0:
        return declined(c, "an ELU with an input scale (CELU); the rules are ELU's and SELU's")
    if scale == 1.0:
        return ops.ELU(alpha=alpha)
    if (alpha, scale) == SELU:
        return ops.op_class("selu")()
    return declined(c, f"an ELU scaled by {scale}; the rules are ELU's and SELU's")


@rule("softplus")
def _softplus(c: Call) -> Op | None:
    return ops.Softplus(beta=float(c.arg(1, "beta", 1.0)),
                        threshold=float(c.arg(2, "threshold", 20.0)))


@rule("gelu")
def _gelu(c: Call) -> Op | None:
    return ops.GELU(approximate=c.kwargs.get("approximate", "none") == "tanh")


@rule("_softmax", "_safe_softmax", "softmax")
def _softmax(c: Call) -> Op | None:
    return ops.Softmax(dim=sample_dim(int(c.args[1])))


@rule("clamp", "clamp_min", "clamp_max")
def _clamp(c: Call) -> Op | None:
    low = c.arg(1, "min") if c.name != "clamp_max" else None
    high = c.arg(2, "max") if c.name == "clamp" else c.arg(1, "max") if c.name == "clamp_max" \
        else None
    if not all(v is None or isinstance(v, (int, float)) for v in (low, high)):
        return declined(c, "clamp bounds given as tensors; the rule takes numbers")
    return ops.Clamp(min=None if low is None else float(low),
                     max=None if high is None else float(high))


@rule("_prelu_kernel")
def _prelu(c: Call) -> Op | None:
    weights = c.args[1].numel()
    if not c.ins[0] or weights not in (1, c.ins[0][0]):
        return declined(c, f"PReLU with {weights} weights; the rule has one per channel or one "
                           "for all")
    return ops.PReLU(shared=weights != c.ins[0][0])


# --- pooling, resizing -------------------------------------------------------------------------
def _pool(cls: Any, c: Call, stride_at: int, ceil_at: int) -> Op | None:
    rank = len(c.ins[0]) - 1
    if not 1 <= rank <= 3:
        return declined(c, f"pooling over {rank} spatial dimensions; rules cover 1 to 3")
    k = sizes(c.args[1], rank)
    stride = c.arg(stride_at, "stride", [])
    return cls(k=k, s=sizes(stride, rank) if stride else k,
               p=sizes(c.arg(stride_at + 1, "padding", 0), rank),
               ceil=bool(c.arg(ceil_at, "ceil_mode", False)))


@rule("max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
      "max_pool1d", "max_pool2d", "max_pool3d")
def _max_pool(c: Call) -> Op | None:
    if set(sizes(c.arg(4, "dilation", 1), 1)) != {1}:
        return declined(c, "dilated max pooling")
    return _pool(ops.MaxPool, c, 2, 5)


@rule("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool(c: Call) -> Op | None:
    return _pool(ops.AvgPool, c, 2, 4)


# why a reduction that `_reduced` finds none for has no rule
ACROSS_SAMPLES = ("a reduction over the batch or the whole tensor, across samples; "
                  "archprof counts per sample")


def _reduced(c: Call, at: int = 1) -> tuple[int, ...] | None:
    """The per-sample dimensions a reduction's `dim` argument names; None when it names the
    batch or none (a reduction over everything: ACROSS_SAMPLES)."""
    given = c.arg(at, "dim")
    given = [given] if isinstance(given, int) else list(given or [])
    found = [local_dim(c.args[0], c.ins[0], d) for d in given]
    return tuple(d for d in found if d is not None) if given and None not in found else None


@rule("mean")
def _mean(c: Call) -> Op | None:
    """A mean over dimensions: global average pooling of a (C, *spatial) map (`gap` when it
    keeps the 1s), of a channels-last (H, W, C) one, or of the heads' attention weights."""
    reduced = _reduced(c)
    if reduced is None:
        return declined(c, ACROSS_SAMPLES)
    gap = ops.GlobalAvgPool()
    if _gives(gap, c.ins[:1], c.out):
        return gap
    return ops.Mean(dims=reduced, keepdim=bool(c.arg(2, "keepdim", False)))


@rule("sum")
def _sum(c: Call) -> Op | None:
    reduced = _reduced(c)
    if reduced is None:
        return declined(c, ACROSS_SAMPLES)
    return ops.Sum(dims=reduced, keepdim=bool(c.arg(2, "keepdim", False)))


@rule("amax", "amin", "max", "min")
def _extreme(c: Call) -> Op | None:
    """torch.amax / amin over dimensions, torch.max / min over one (values and indices)."""
    named = c.name in ("max", "min")
    if named and len(c.args) > 1 and isinstance(c.args[1], torch.Tensor):
        return declined(c, f"an elementwise {c.name}imum of two tensors")
    reduced = _reduced(c)
    if reduced is None:
        return declined(c, ACROSS_SAMPLES)
    cls = ops.Amax if c.name in ("amax", "max") else ops.Amin
    return cls(dims=reduced, keepdim=bool(c.arg(2, "keepdim", False)), indices=named)


@rule("var", "std")
def _var(c: Call) -> Op | None:
    """torch.var / std over dimensions: var.correction(self, dim, *, correction, keepdim)."""
    reduced = _reduced(c)
    if reduced is None:
        return declined(c, ACROSS_SAMPLES)
    correction = c.kwargs.get("correction", 1)
    cls = ops.Var if c.name == "var" else ops.Std
    return cls(dims=reduced, keepdim=bool(c.kwargs.get("keepdim", False)),
               correction=int(1 if correction is None else correction))


@rule("linalg_vector_norm")
def _vector_norm(c: Call) -> Op | None:
    """The 2-norm only (F.normalize's default); other orders have no rule."""
    order = c.arg(1, "ord", 2)
    if order != 2:
        return declined(c, f"a vector norm of order {order}; the rule is the 2-norm's")
    reduced = _reduced(c, at=2)
    if reduced is None:
        return declined(c, ACROSS_SAMPLES)
    return ops.VectorNorm(dims=reduced, keepdim=bool(c.arg(3, "keepdim", False)))


@rule("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
      "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def _adaptive_avg(c: Call) -> Op | None:
    return ops.AdaptiveAvgPool(out=tuple(c.out[1:]))


@rule("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def _adaptive_max(c: Call) -> Op | None:
    return ops.AdaptiveMaxPool(out=tuple(c.out[1:]))


UPSAMPLE = {"upsample_nearest1d": "nearest", "upsample_nearest2d": "nearest",
            "upsample_nearest3d": "nearest", "upsample_linear1d": "linear",
            "upsample_bilinear2d": "bilinear", "upsample_bicubic2d": "bicubic",
            "upsample_trilinear3d": "trilinear", "_upsample_nearest_exact2d": "nearest"}


def _upsample(c: Call) -> Op | None:
    mode = UPSAMPLE[c.name]
    align = bool(c.arg(2, "align_corners", False)) if mode != "nearest" else False
    return ops.Upsample(size=tuple(c.out[1:]), mode=mode, align_corners=align)


for _name in UPSAMPLE:
    ATEN[_name] = _upsample


@rule("embedding")
def _embedding(c: Call) -> Op | None:
    weight = c.args[0]
    return ops.Embedding(num=int(weight.shape[0]), dim=int(weight.shape[1]))


# --- joining, padding, shuffling ---------------------------------------------------------------
@rule("constant_pad_nd")
def _pad(c: Call) -> Op | None:
    pads = tuple(int(v) for v in c.args[1])
    value = float(c.arg(2, "value", 0))
    if len(c.ins[0]) == 3 and len(pads) == 6 and not any(pads[:5]) and value == 0:
        return ops.PadChannels(out=c.out[0])     # zero channels appended (ENet shortcuts)
    return ops.Pad(pads=pads, value=value)


def circular(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether F.pad's arguments ask for circular padding, which torch runs as copies into a
    new tensor: the tracer makes it one row (EdgePad)."""
    return kwargs.get("mode", args[2] if len(args) > 2 else "constant") == "circular"


# why an op writing activation data into a tensor the forward made is not counted
WRITTEN = ("activation data written into part of a tensor the forward made, as torch.zeros "
           "then a slice assigned; that tensor is an activation from here on")


def _edge_pad(mode: str) -> Handler:
    return lambda c: ops.EdgePad(pads=tuple(int(v) for v in c.args[1]), mode=mode)


for _rank in (1, 2, 3):
    ATEN[f"reflection_pad{_rank}d"] = _edge_pad("reflect")
    ATEN[f"replication_pad{_rank}d"] = _edge_pad("replicate")


@rule("stack")
def _stack(c: Call) -> Op | None:
    parts = c.args[0]
    if not parts or len(c.ins) != len(parts):
        return declined(c, "a constant among the stacked tensors")
    first = parts[0]
    d = int(c.arg(1, "dim", 0)) % (first.dim() + 1)
    lead = first.dim() - len(c.ins[0])
    op = ops.Stack(dim=d - lead) if d >= lead else None
    return op if op is not None and _gives(op, c.ins, c.out) else None


@rule("pixel_shuffle")
def _pixel_shuffle(c: Call) -> Op | None:
    return ops.PixelShuffle(factor=int(c.args[1]))


@rule("pixel_unshuffle")
def _pixel_unshuffle(c: Call) -> Op | None:
    return ops.PixelUnshuffle(factor=int(c.args[1]))


@rule("glu")
def _glu(c: Call) -> Op | None:
    return ops.GLU(dim=sample_dim(int(c.arg(1, "dim", -1))))


@rule("channel_shuffle", "native_channel_shuffle")
def _channel_shuffle(c: Call) -> Op | None:
    return ops.ChannelShuffle(groups=int(c.args[1]))


def elementwise(name: str, scalar: float | None, param: Shape | None) -> Op:
    """add/sub/mul/div of the activations, then a Python scalar or a learned tensor."""
    return ELEMENTWISE[name](scalar=scalar, learned=param)


# --- views --------------------------------------------------------------------------------------
def local_dim(t: Any, ins: Shape, dim: Any) -> int | None:
    """A dimension of torch tensor `t` as one of its per-sample shape `ins`; None for the
    batch dimension. The batch leads torch's shape unless the tensor was made with another
    dimension in front of it (at batch 1 the per-sample shape is then the whole shape)."""
    lead = t.dim() - len(ins) if isinstance(t, torch.Tensor) else 1
    d, rank = int(dim), len(ins) + lead
    return None if d % rank < lead else (d if d < 0 else d - lead)


def view(name: str, args: tuple[Any, ...], ins: Shape, out: Shape) -> list[Op]:
    """The IR ops of a view (or copy) with per-sample input `ins` and output `out`, each
    reading the one before: see `fit`."""
    return fit(_view(name, args, ins, out), ins, out)


def _shape(op: Op, ins: list[Shape]) -> Shape | None:
    """The shape the rule gives, None where it refuses these inputs."""
    try:
        return op.shape(ins)
    except SpecError:
        return None


def _gives(op: Op, ins: list[Shape], out: Shape) -> bool:
    return _shape(op, ins) == out


def fit(op: Op, ins: Shape, out: Shape) -> list[Op]:
    """A view `op` as ops whose rules give the traced shape `out`, so that a spec reproduces
    each node: the op alone when its rule gives `out`; the op, then a reshape, when it gives
    as many elements in another shape (a batch of 1 that was not in front, as after timm's
    qkv.permute(2, 0, 3, 1, 4), is per-sample on one side and not the other); else a
    reshape (a transpose moving the batch dimension, as nn.MultiheadAttention's does)."""
    got = _shape(op, [ins])
    if got == out:
        return [op]
    if got is not None and ops.numel(got) == ops.numel(out):
        return [op, ops.Reshape(to=out)]
    if ops.numel(out) == ops.numel(ins):
        return [ops.Reshape(to=out)]
    return [ops.Identity()]     # a view whose shape no IR op describes (as_strided, unfold)


def _view(name: str, args: tuple[Any, ...], ins: Shape, out: Shape) -> Op:
    if name in COPIES:
        return ops.Contiguous()

    def local(d: Any) -> int | None:
        return local_dim(args[0], ins, d)

    if name in ("transpose", "swapaxes"):
        a, b = local(args[1]), local(args[2])
        if a is not None and b is not None:
            return ops.Transpose(dims=(a, b))
    if name == "permute":
        order = [local(d) for d in args[1]]     # the batch, if there, must stay in front
        if None not in order[1:]:
            return ops.Permute(dims=tuple(d for d in order if d is not None))
    if name == "select" and (d := local(args[1])) is not None:
        return ops.Select(dim=d, index=int(args[2]))
    if name == "slice" and (d := local(args[1])) is not None:
        size = ins[d]
        start = int(args[2]) if len(args) > 2 and args[2] is not None else 0
        end = int(args[3]) if len(args) > 3 and args[3] is not None else size
        step = int(args[4]) if len(args) > 4 else 1
        start, end = (v + size if v < 0 else v for v in (start, end))
        return ops.Slice(dim=d, start=min(start, size), end=min(end, size), step=step)
    if out == ins:
        return ops.Identity()
    if name in ("expand", "expand_as"):
        return ops.Expand(to=out)
    if len(out) < len(ins) and out[0] == ins[0] and ops.numel(out) == ops.numel(ins):
        start = next(i for i in range(len(out)) if out[i] != ins[i]) if out != ins[:len(out)] \
            else len(out) - 1
        return ops.Flatten(start=start, end=start + len(ins) - len(out))
    return ops.Reshape(to=out)


# --- whole modules whose IR op is one rule, however torch implements them ----------------------
ModuleRule = Callable[[Any, list[Shape], Shape], Op]   # (the module, ins, out) -> rule


def _padded_conv(m: Any, ins: list[Shape], out: Shape) -> Op:
    pad, conv = m[0], m[1]
    torch_order = pad.pads        # F.pad order: (before, after) of the last dimension first
    rank = len(torch_order) // 2
    pads = tuple(v for i in reversed(range(rank)) for v in torch_order[2 * i:2 * i + 2])
    return ops.Conv(out=conv.out_channels, k=tuple(conv.kernel_size), s=tuple(conv.stride),
                    p=pads, d=tuple(conv.dilation), g=conv.groups, bias=conv.bias is not None)


def _concat(m: Any, ins: list[Shape], out: Shape) -> Op:
    token = tuple(m.param.shape[1:]) if m.param is not None else None
    return ops.Concat(dim=sample_dim(m.dim), learned=token)


def _elementwise(m: Any, ins: list[Shape], out: Shape) -> Op:
    return elementwise(m.op, m.scalar, tuple(m.param.shape) if m.param is not None else None)


RECURRENT: dict[type, type[ops.Recurrent]] = {nn.LSTM: ops.LSTM, nn.GRU: ops.GRU,
                                               nn.RNN: ops.RNN}


def _recurrent(m: Any, ins: list[Shape], out: Shape) -> Op:
    rnn = m.rnn if isinstance(m, modules.Recurrent) else m
    extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    return RECURRENT[next(cls for cls in RECURRENT if isinstance(rnn, cls))](
        hidden=rnn.hidden_size, layers=rnn.num_layers, bidirectional=rnn.bidirectional,
        bias=rnn.bias, layer_dropout=float(rnn.dropout), **extra)


def _recurrent_refusal(m: Any, args: tuple[Any, ...], acts: list[torch.Tensor]) -> str | None:
    """Why the recurrent op cannot stand for this call, or None. Its per-sample shapes need
    the batch first; its rule starts from the zero state torch makes (an initial state the
    forward passes in is fine when it is a constant, as zeros made in the forward are: the
    same products either way, but one computed from the input would be an input whose batch
    is not first)."""
    name = f"nn.{type(m).__name__}"
    if not m.batch_first:
        return (f"{name} with batch_first=False: archprof's per-sample shapes need the batch "
                "first (build it with batch_first=True and give it (batch, steps, features))")
    if getattr(m, "proj_size", 0):
        return f"{name} with proj_size={m.proj_size}: no rule counts LSTM projections"
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        what = f"a {x.dim()}-D tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        return (f"{name} gets {what}; archprof counts it on a (batch, steps, features) tensor "
                "(packed or unbatched sequences have no rule)")
    if any(t is not x for t in acts):
        return (f"{name} gets an initial state computed from the input; archprof counts it "
                "from a zero (or constant) initial state only")
    return None


def _instance_norm(m: Any, ins: list[Shape], out: Shape) -> Op:
    # one row: traced through, it is a batch norm of the batch folded into the channels,
    # which could not be told from statistics across samples
    return ops.InstanceNorm(eps=m.eps, affine=m.affine, running=m.track_running_stats)


MAC_MODULES = (nn.Linear, modules.PaddedConv, modules.Matmul, modules.Attention,  # see MACS
               modules.Recurrent, *RECURRENT)
MODULES: dict[type, ModuleRule] = {
    nn.LocalResponseNorm: lambda m, ins, out: ops.LRN(size=m.size, alpha=m.alpha, beta=m.beta,
                                                      bias=m.k),
    # one row however torch runs it (on N-D input: a view, addmm and a view back)
    nn.Linear: lambda m, ins, out: ops.Linear(out=m.out_features, bias=m.bias is not None),
    nn.Dropout: lambda m, ins, out: ops.Dropout(rate=m.p),
    nn.Dropout1d: lambda m, ins, out: ops.Dropout(rate=m.p),
    nn.Dropout2d: lambda m, ins, out: ops.Dropout(rate=m.p),
    nn.Dropout3d: lambda m, ins, out: ops.Dropout(rate=m.p),
    modules.ChannelShuffle: lambda m, ins, out: ops.ChannelShuffle(groups=m.groups),
    modules.PadChannels: lambda m, ins, out: ops.PadChannels(out=out[0]),
    modules.PaddedConv: _padded_conv,
    modules.Concat: _concat,
    modules.Elementwise: _elementwise,
    modules.Matmul: lambda m, ins, out: ops.Matmul(),
    modules.Attention: lambda m, ins, out: ops.Attention(causal=m.causal, scale=m.scale),
    modules.DropPath: lambda m, ins, out: ops.DropPath(rate=m.rate),
    modules.Reshape: lambda m, ins, out: ops.Reshape(to=tuple(m.shape)),
    modules.Permute: lambda m, ins, out: ops.Permute(dims=tuple(d - 1 for d in m.dims[1:])),
    modules.Transpose: lambda m, ins, out: ops.Transpose(dims=(sample_dim(m.a),
                                                               sample_dim(m.b))),
    modules.Contiguous: lambda m, ins, out: ops.Contiguous(),
    modules.Slice: lambda m, ins, out: ops.Slice(dim=sample_dim(m.dim), start=m.start,
                                                 end=m.end, step=m.step),
    modules.Select: lambda m, ins, out: ops.Select(dim=sample_dim(m.dim), index=m.index),
    modules.Pad: lambda m, ins, out: ops.Pad(pads=tuple(m.pads), value=m.value)
    if m.mode == "constant" else ops.EdgePad(pads=tuple(m.pads), mode=m.mode),
    # the whole layer, whatever its steps run (the zero initial state torch makes inside is
    # then not taken for a constant of the wrong shape)
    modules.Recurrent: _recurrent,
    **dict.fromkeys(RECURRENT, _recurrent),
    **dict.fromkeys((nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d), _instance_norm),
}
# Modules a rule stands for only on some calls: (module, its arguments, those of them that
# are activations) -> why the rule cannot stand for this one, or None.
ModuleCheck = Callable[[Any, tuple[Any, ...], list[torch.Tensor]], "str | None"]
MODULE_CHECKS: dict[type, ModuleCheck] = dict.fromkeys(RECURRENT, _recurrent_refusal)


def ruled(cls: type) -> type | None:
    """The class in MODULES whose rule stands for modules of class `cls`: itself, or the
    nearest base whose forward it runs unchanged (`class MyLSTM(nn.LSTM)` with an __init__ of
    its own); None where none does."""
    for base in cls.__mro__:
        if base in MODULES:
            return base if getattr(cls, "forward", None) is getattr(base, "forward", None) \
                else None
    return None


def op_for(call: Call) -> Op | None:
    handler = ATEN.get(call.name)
    return handler(call) if handler else None
