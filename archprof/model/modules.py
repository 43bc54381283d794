"""The few torch modules that torch.nn lacks, so that every op of the IR is a module (and so
visible to forward hooks, fvcore and the profiler). Dimension arguments here count the batch
dimension (archprof.ir.ops converts its per-sample ones)."""
from __future__ import annotations

import operator
from typing import Any

import torch
from torch import nn


class Concat(nn.Module):
    """torch.cat along `dim`; with `learned`, a learned tensor (a class token) goes first."""

    def __init__(self, dim: int = 1, learned: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.param = nn.Parameter(torch.zeros(1, *learned)) if learned else None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.param is not None:
            xs = (self.param.expand(xs[0].shape[0], *self.param.shape[1:]), *xs)
        return torch.cat(xs, dim=self.dim)


class Affine(nn.Module):
    def __init__(self, size: tuple[int, ...]) -> None:
        super().__init__()
        self.scale, self.shift = nn.Parameter(torch.ones(size)), nn.Parameter(torch.zeros(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, self.scale, x)


class Stack(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.stack(xs, dim=self.dim)


ELEMENTWISE = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
               "div": operator.truediv}


class Elementwise(nn.Module):
    """add/sub/mul/div of the inputs in order, then of a scalar or a learned tensor
    (`learned`, e.g. a position embedding), with broadcasting."""

    def __init__(self, op: str, scalar: float | None = None,
                 learned: tuple[int, ...] | None = None,
                 constant: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.op, self.fn, self.scalar, self.constant = op, ELEMENTWISE[op], scalar, constant
        self.param = nn.Parameter(torch.zeros(learned)) if learned else None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = self.fn(out, x)
        if self.param is not None:
            out = self.fn(out, self.param)
        if self.constant is not None:      # made by the forward, as a mask is: no buffer
            out = self.fn(out, torch.ones(self.constant, dtype=out.dtype, device=out.device))
        if self.scalar is not None:
            out = self.fn(out, self.scalar)
        return out


class Matmul(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Attention(nn.Module):
    """F.scaled_dot_product_attention(q, k, v)."""

    def __init__(self, causal: bool = False, scale: float | None = None) -> None:
        super().__init__()
        self.causal, self.scale = causal, scale

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                                          scale=self.scale)


class Recurrent(nn.Module):
    """nn.LSTM, nn.GRU or nn.RNN (`mode`) run batch first from a zero initial state; returns
    the output sequence only, not the final states."""

    def __init__(self, mode: str, **rnn: Any) -> None:
        super().__init__()
        self.rnn = getattr(nn, mode)(batch_first=True, **rnn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class DropPath(nn.Module):
    """Stochastic depth: while training, zero the whole sample with probability `rate` and
    scale the kept ones by 1/(1 - rate); identity at inference."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.rate)
        return x * keep / (1 - self.rate)


class Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class Expand(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(x.shape[0], *self.shape)


class Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = (0, *(d + 1 for d in dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class Transpose(nn.Module):
    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.a, self.b)


class Contiguous(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone(memory_format=torch.contiguous_format)


class Slice(nn.Module):
    def __init__(self, dim: int, start: int, end: int, step: int) -> None:
        super().__init__()
        self.dim, self.start, self.end, self.step = dim, start, end, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = [slice(None)] * x.dim()
        index[self.dim] = slice(self.start, self.end, self.step)
        return x[tuple(index)]


class Select(nn.Module):
    def __init__(self, dim: int, index: int) -> None:
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)


class Pad(nn.Module):
    """F.pad: `value` around the map (mode constant), or its own edge (reflect, replicate,
    circular)."""

    def __init__(self, pads: tuple[int, ...], value: float = 0.0, mode: str = "constant") -> None:
        super().__init__()
        self.pads, self.value, self.mode = pads, value, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode != "constant":
            return nn.functional.pad(x, self.pads, mode=self.mode)
        return nn.functional.pad(x, self.pads, value=self.value)


class PaddedConv(nn.Sequential):
    """A convolution with asymmetric zero padding: (before, after) per spatial dimension,
    first dimension first ((top, bottom, left, right) in 2-D)."""

    def __init__(self, pads: tuple[int, ...], **conv: object) -> None:
        rank = len(pads) // 2
        torch_order = [v for i in reversed(range(rank)) for v in pads[2 * i:2 * i + 2]]
        conv_class = getattr(nn, f"Conv{rank}d")
        super().__init__(Pad(tuple(torch_order)), conv_class(**conv))


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class PadChannels(nn.Module):
    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


class Mean(nn.Module):
    def __init__(self, dims: tuple[int, ...], keepdim: bool) -> None:
        super().__init__()
        self.dims, self.keepdim = dims, keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(self.dims, keepdim=self.keepdim)


class Sum(Mean):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(self.dims, keepdim=self.keepdim)


class VectorNorm(Mean):
    """torch.linalg.vector_norm (the 2-norm) over `dims`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(x, 2, self.dims, self.keepdim)


class Var(Mean):
    """torch.var, or with `std` torch.std, over `dims`."""

    def __init__(self, dims: tuple[int, ...], keepdim: bool, correction: int, std: bool) -> None:
        super().__init__(dims, keepdim)
        self.correction, self.fn = correction, torch.std if std else torch.var

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x, self.dims, correction=self.correction, keepdim=self.keepdim)


class Extreme(Mean):
    """torch.amax / amin over `dims` (`fn` max or min), or with `indices` torch.max / min over
    the one dimension, its values."""

    def __init__(self, dims: tuple[int, ...], keepdim: bool, fn: str, indices: bool) -> None:
        super().__init__(dims, keepdim)
        self.fn, self.indices = fn, indices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.indices:
            return getattr(torch, self.fn)(x, self.dims[0], self.keepdim).values
        return getattr(torch, f"a{self.fn}")(x, self.dims, self.keepdim)


class Unary(nn.Module):
    """torch.<fn>(x), or torch.pow(x, exponent): an elementwise function (archprof.ir.ops.Math)."""

    def __init__(self, fn: str, exponent: float | None = None) -> None:
        super().__init__()
        self.fn, self.exponent = getattr(torch, fn), exponent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) if self.exponent is None else self.fn(x, self.exponent)


class Clamp(nn.Module):
    def __init__(self, min: float | None, max: float | None) -> None:
        super().__init__()
        self.min, self.max = min, max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, self.min, self.max)
