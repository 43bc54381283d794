"""ATen ops (and a few whole modules) -> IR op rules of archprof.ir.ops, with plain numbers.

A handler gets the recorded call: the op's arguments as torch passed them, the per-sample
shapes of its activation inputs and of its output. It returns the rule, or None when no rule
fits these arguments (the op is then listed as uncounted, never counted as zero). Ops that only
re-index memory (views) and copies have no cost; they are told apart in `VIEWS` and `COPIES`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

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

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)


Handler = Callable[[Call], "Op | None"]
ATEN: dict[str, Handler] = {}

# Ops whose output aliases their input's memory (no activation of their own) or copies it
# (an activation, no arithmetic); factory ops whose output does not depend on input values.
VIEWS = {"view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute",
         "expand", "unsqueeze", "squeeze", "select", "slice", "split", "split_with_sizes",
         "chunk", "unbind", "alias", "detach", "as_strided", "unfold", "narrow",
         "view_as", "flatten", "lift_fresh", "_to_copy_view"}
COPIES = {"clone", "contiguous", "_to_copy", "copy"}
FACTORIES = {"empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like",
             "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided", "zero",
             "fill", "scalar_tensor", "arange", "empty", "zeros", "ones", "full"}


def rule(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            ATEN[name] = fn
        return fn
    return register


def _pair(values: Any) -> tuple[int, int]:
    """torch's int-or-list arguments (kernel, stride, padding) as an (h, w) pair."""
    v = list(values) if isinstance(values, (list, tuple)) else [values]
    return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[0]), int(v[1]))


@rule("convolution", "_convolution")
def _convolution(c: Call) -> Op | None:
    w, bias, stride, padding, dilation, transposed = c.args[1:7]
    groups = c.args[8]
    if transposed or w.dim() not in (3, 4, 5):
        return None
    rank = w.dim() - 2
    sizes = lambda v: tuple(int(x) for x in (v if len(v) == rank else [v[0]] * rank))  # noqa: E731
    return ops.Conv(out=int(w.shape[0]), k=tuple(int(x) for x in w.shape[2:]), s=sizes(stride),
                    p=sizes(padding), d=sizes(dilation), g=int(groups), bias=bias is not None)


@rule("addmm")
def _addmm(c: Call) -> Op | None:
    bias, w = c.args[0], c.args[2]
    if len(c.ins) != 1 or len(c.ins[0]) != 1 or bias.dim() != 1:
        return None
    return ops.Linear(out=int(w.shape[1]), bias=True)


@rule("mm")
def _mm(c: Call) -> Op | None:
    x, w = c.args[:2]
    if len(c.ins) != 1 or len(c.ins[0]) != 1 or c.ins[0] != tuple(x.shape[1:]):
        return None        # a weight on the left, or a product of two activations
    return ops.Linear(out=int(w.shape[1]), bias=False)


@rule("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit")
def _batch_norm(c: Call) -> Op | None:
    weight, bias = c.args[1], c.args[2]
    if weight is None or bias is None:
        return None        # the rule counts the affine scale and shift
    return ops.BatchNorm(eps=float(c.args[-1]))


def _activation(kind: str) -> Handler:
    return lambda c: ops.op_class(kind)()


for _name, _kind in {"relu": "relu", "hardswish": "hardswish", "sigmoid": "sigmoid",
                     "tanh": "tanh"}.items():
    ATEN[_name] = _activation(_kind)


@rule("hardtanh")
def _hardtanh(c: Call) -> Op | None:
    low, high = c.arg(1, "min_val", -1.0), c.arg(2, "max_val", 1.0)
    return ops.op_class("relu6")() if (low, high) == (0.0, 6.0) else None


@rule("_softmax", "_safe_softmax", "softmax")
def _softmax(c: Call) -> Op | None:
    return ops.Softmax()


@rule("_prelu_kernel")
def _prelu(c: Call) -> Op | None:
    weight = c.args[1]
    return ops.PReLU() if c.ins[0] and weight.numel() == c.ins[0][0] else None


def _pool(kind: str, c: Call, kernel: Any, stride: Any, padding: Any, ceil: bool) -> Op:
    ph, pw = _pair(padding)
    cls: Any = ops.op_class(kind)      # a Pool: kernel, stride, padding, ceil
    return cls(k=_pair(kernel), s=_pair(stride or kernel), p=(ph, ph, pw, pw), ceil=bool(ceil))


@rule("max_pool2d_with_indices", "max_pool2d")
def _max_pool(c: Call) -> Op | None:
    if _pair(c.arg(4, "dilation", 1)) != (1, 1) or len(c.ins[0]) != 3:
        return None
    return _pool("maxpool", c, c.args[1], c.arg(2, "stride", []), c.arg(3, "padding", 0),
                 c.arg(5, "ceil_mode", False))


@rule("avg_pool2d")
def _avg_pool(c: Call) -> Op | None:
    if len(c.ins[0]) != 3:
        return None
    return _pool("avgpool", c, c.args[1], c.arg(2, "stride", []), c.arg(3, "padding", 0),
                 c.arg(4, "ceil_mode", False))


@rule("mean")
def _mean(c: Call) -> Op | None:
    dims = c.arg(1, "dim")
    keep = c.arg(2, "keepdim", False)
    if len(c.ins[0]) == 3 and dims is not None and sorted(d % 4 for d in dims) == [2, 3]:
        return ops.GlobalAvgPool() if keep else None
    return None


@rule("_adaptive_avg_pool2d", "adaptive_avg_pool2d")
def _adaptive_avg(c: Call) -> Op | None:
    return ops.GlobalAvgPool() if len(c.ins[0]) == 3 and c.out[1:] == (1, 1) else None


@rule("cat")
def _cat(c: Call) -> Op | None:
    return ops.Concat()


@rule("add")
def _add(c: Call) -> Op | None:
    alpha = c.kwargs.get("alpha", 1)
    return ops.Add() if alpha == 1 else None


@rule("mul")
def _mul(c: Call) -> Op | None:
    return ops.Mul()


@rule("channel_shuffle", "native_channel_shuffle")
def _channel_shuffle(c: Call) -> Op | None:
    return ops.ChannelShuffle(groups=int(c.args[1]))


@rule("constant_pad_nd")
def _pad(c: Call) -> Op | None:
    pads = list(c.args[1])
    # F.pad lists (before, after) pairs from the last dimension back; channels are the third
    if len(c.ins[0]) == 3 and len(pads) == 6 and not any(pads[:5]) and c.arg(2, "value", 0) == 0:
        return ops.PadChannels(out=c.out[0])
    return None


# --- whole modules whose IR op is one rule, however torch implements them ------------------
ModuleRule = Callable[[Any, list[Shape], Shape], Op]   # (the module, ins, out) -> rule


def _padded_conv(m: Any, ins: list[Shape], out: Shape) -> Op:
    pad, conv = m[0], m[1]
    torch_order = pad.pads        # F.pad order: (before, after) of the last dimension first
    pads = tuple(v for i in reversed(range(len(torch_order) // 2)) for v in torch_order[2 * i:2 * i + 2])
    return ops.Conv(out=conv.out_channels, k=conv.kernel_size, s=conv.stride, p=pads,
                    d=conv.dilation, g=conv.groups, bias=conv.bias is not None)


def _concat(m: Any, ins: list[Shape], out: Shape) -> Op:
    token = tuple(m.param.shape[1:]) if m.param is not None else None   # (1, *per-sample shape)
    return ops.Concat(dim=m.dim - 1 if m.dim > 0 else m.dim, learned=token)


def _elementwise(m: Any, ins: list[Shape], out: Shape) -> Op:
    cls: Any = ops.op_class(m.op)      # add/sub/mul/div: scalar and learned operands
    return cls(scalar=m.scalar, learned=tuple(m.param.shape) if m.param is not None else None)


MODULES: dict[type, ModuleRule] = {
    nn.LocalResponseNorm: lambda m, ins, out: ops.LRN(size=m.size, alpha=m.alpha, beta=m.beta,
                                                      bias=m.k),
    modules.ChannelShuffle: lambda m, ins, out: ops.ChannelShuffle(groups=m.groups),
    modules.PadChannels: lambda m, ins, out: ops.PadChannels(out=out[0]),
    modules.PaddedConv: _padded_conv,
    modules.Concat: _concat,
    modules.Elementwise: _elementwise,
}


def op_for(call: Call) -> Op | None:
    handler = ATEN.get(call.name)
    return handler(call) if handler else None


def is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor)
