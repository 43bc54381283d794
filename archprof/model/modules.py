"""The few torch modules that torch.nn lacks, so that every op of the IR is a module (and so
visible to forward hooks, fvcore and the profiler)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Concat(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class Add(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out = out + x
        return out


class Mul(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] * xs[1]
        for x in xs[2:]:
            out = out * x
        return out


class PaddedConv2d(nn.Sequential):
    """A convolution with asymmetric zero padding (top, bottom, left, right)."""

    def __init__(self, pads: tuple[int, int, int, int], **conv: Any) -> None:
        top, bottom, left, right = pads
        super().__init__(nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(**conv))


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
