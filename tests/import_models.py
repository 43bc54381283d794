"""Hand-written torch modules for tests/test_import.py, each reproducing a pattern of a
torchvision model that `archprof import` once refused (torchvision and timm cannot be test
dependencies): ViT's patch flattening and batch-first nn.MultiheadAttention, DenseNet's
concatenation of a one-element list, GoogLeNet's auxiliary heads that never run in eval mode,
Swin's position bias gathered from a table and broadcast over the heads."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TorchViT(nn.Module):
    """torchvision's VisionTransformer in small: x.reshape(n, hidden, -1), a class token, a
    position embedding and nn.MultiheadAttention(batch_first=True), which transposes the batch
    dimension away from the front, with need_weights=False as torchvision calls it."""

    def __init__(self, dim: int = 16, heads: int = 4, patch: int = 8, tokens: int = 16) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.conv_proj(x)
        x = x.reshape(n, x.shape[1], -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos_embedding
        x, _ = self.self_attention(x, x, x, need_weights=False)
        return self.head(self.ln(x)[:, 0])


class TransposedTokens(nn.Module):
    """Patch tokens as a transposed view, x.flatten(2).transpose(1, 2), straight into
    nn.MultiheadAttention(batch_first=True): its input projection then sees a 3-D tensor that
    torch cannot flatten without a copy, and multiplies it by the weight expanded over the
    tokens (a bmm, not an mm)."""

    def __init__(self, dim: int = 16, heads: int = 2, patch: int = 4) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        return self.attn(t, t, t, need_weights=False)[0]


class ChannelsLastWeights(nn.Module):
    """Weights applied to a channels-last view by matmul and einsum: a 4-D view torch cannot
    flatten without a copy times a 2-D parameter (a bmm by the weight expanded over the
    positions), and an einsum with a parameter (a bmm by a batch of one matrix)."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, 4)
        self.w = nn.Parameter(torch.zeros(16, 24))
        self.q = nn.Parameter(torch.zeros(24, 24))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.patch(x).permute(0, 2, 3, 1) @ self.w
        return torch.einsum("nhwc,cd->nhwd", y, self.q)


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(F.relu(self.norm(torch.cat(features, 1))))


class DenseNet(nn.Module):
    """torchvision's _DenseBlock: each layer concatenates the list of all earlier outputs,
    the first one a list of one tensor."""

    def __init__(self, growth: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layers = nn.ModuleList([DenseLayer(8, growth), DenseLayer(8 + growth, growth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.stem(x)]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class AuxHeads(nn.Module):
    """GoogLeNet's pattern: auxiliary classifiers that run only in training."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.aux1 = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10))
        self.aux2 = nn.Linear(8, 10)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.conv(x)
        pooled = x.mean((2, 3))
        if self.training:
            return self.fc(pooled), self.aux1(x), self.aux2(pooled)
        return self.fc(pooled)


class HeadBias(nn.Module):
    """Swin's relative position bias: a table gathered by a buffer of indices into an L x L
    bias that broadcasts over the heads' scores (heads x L x L)."""

    def __init__(self, tokens: int = 4, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.table = nn.Parameter(torch.zeros(2 * tokens - 1))
        index = torch.arange(tokens)[:, None] - torch.arange(tokens)[None, :] + tokens - 1
        self.register_buffer("index", index)
        self.qk = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k = self.qk(x).reshape(b, n, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return (q @ k.transpose(-2, -1) + self.table[self.index]).softmax(-1)


class CosineAttention(nn.Module):
    """Swin V2's cosine attention in small: F.normalize of q and k (a vector norm, clamp_min
    and a division), one head."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k = F.normalize(self.q(x), dim=-1), F.normalize(self.k(x), dim=-1)
        return (q @ k.transpose(-2, -1)).softmax(-1) @ self.v(x)


class MaskedWindows(nn.Module):
    """Swin's shifted-window mask: built by the forward from x.new_zeros (no parameter, no
    buffer) and added to the heads' scores (heads x L x L)."""

    def __init__(self, tokens: int = 4, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads, self.tokens = heads, tokens
        self.qk = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k = self.qk(x).reshape(b, n, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        mask = x.new_zeros(n, n)
        mask[: n // 2, n // 2:] = -100.0
        return (q @ k.transpose(-2, -1) + mask).softmax(-1)


class BiasMLP(nn.Module):
    """Swin V2's continuous position bias: an MLP run on a constant table of coordinates (no
    activation flows in), its output added to the heads' scores."""

    def __init__(self, tokens: int = 4, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.register_buffer("coords", torch.zeros(tokens, tokens, 2))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, heads, bias=False))
        self.qk = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k = self.qk(x).reshape(b, n, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = self.cpb_mlp(self.coords).permute(2, 0, 1)          # heads x L x L
        return (q @ k.transpose(-2, -1) + bias).softmax(-1)


class SplitAttention(nn.Module):
    """ResNeSt's split attention in small, with Darknet's leaky ReLU: a conv makes `radix`
    branches, stacked on a new dimension and summed over it."""

    def __init__(self, c: int = 4, radix: int = 2) -> None:
        super().__init__()
        self.radix = radix
        self.conv = nn.Conv2d(c, c * radix, 3, padding=1)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x))
        b, rc, h, w = x.shape
        return x.reshape(b, self.radix, rc // self.radix, h, w).sum(dim=1)


class LinearNorm(nn.Module):
    """LeViT's linear + BatchNorm1d on tokens: the norm runs on (B*N, C), the batch folded
    with the N positions, the channels last."""

    def __init__(self, cin: int = 8, cout: int = 6) -> None:
        super().__init__()
        self.linear = nn.Linear(cin, cout, bias=False)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        return self.bn(x.flatten(0, 1)).reshape_as(x)


class SplitBias(nn.Module):
    """BEiT's qkv bias: learned q and v biases around a k bias that is a zero buffer,
    concatenated into the bias of one F.linear."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer("k_bias", torch.zeros(dim), persistent=False)
        self.v_bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = torch.cat((self.q_bias, self.k_bias, self.v_bias))
        return F.linear(x, self.qkv.weight, bias)


class SelectiveKernel(nn.Module):
    """SKNet's selective kernel in small: two branches stacked on a new dimension, summed,
    pooled, and weighted back."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.paths = nn.ModuleList([nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=2,
                                                                             dilation=2)])
        self.fc = nn.Conv2d(c, 2 * c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.stack([path(x) for path in self.paths], dim=1)       # B x 2 x C x H x W
        b, k, c, h, w = x.shape
        attn = self.fc(x.sum(1).mean((2, 3), keepdim=True)).view(b, k, c, 1, 1).softmax(1)
        return (x * attn).sum(1)


class AffineTokens(nn.Module):
    """ResMLP's Affine: torch.addcmul(beta, alpha, x) with alpha, beta of shape (1, 1, D)."""

    def __init__(self, dim: int = 6) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.addcmul(self.beta, self.alpha, x))
