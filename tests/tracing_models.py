"""Hand-written torch modules for tests/test_trace.py: small versions of what classification
models execute (torchvision and timm cannot be test dependencies)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck: one ReLU module called three times, a functional
    residual add."""

    def __init__(self, c: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(c, 4 * width, 1, stride, bias=False),
                                        nn.BatchNorm2d(4 * width)) if stride != 1 or c != 4 * width else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    """A ResNet-50 layout at 1/8 width: stem, four stages of bottlenecks, pooled classifier."""

    def __init__(self, width: int = 8, blocks: tuple[int, ...] = (3, 4, 6, 3),
                 classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c, stages = width, []
        for i, n in enumerate(blocks):
            w = width * 2 ** i
            layer = []
            for j in range(n):
                layer.append(Bottleneck(c, w, 2 if j == 0 and i > 0 else 1))
                c = 4 * w
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class LayerScaled(nn.Module):
    """Parameters read as data (a layer scale, a class token, a position embedding) and a
    head the forward never runs: params must still equal numel."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gamma = nn.Parameter(torch.ones(8, 1, 1))
        self.aux = nn.Sequential(nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(4 * 16 * 16, 10))
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x) * self.gamma
        return self.fc(x.mean((2, 3), keepdim=True).flatten(1))


class Uncountable(nn.Module):
    """A forward with an op no rule covers (a cumulative sum)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(self.conv(x), dim=1)


class Declined(nn.Module):
    """Ops that have rules, called with arguments no rule fits: a dilated max pool, a batch
    norm without running statistics (in eval mode too: the batch's), a 1-norm, a mean over
    the whole batch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.MaxPool2d(2, dilation=2)
        self.bn = nn.BatchNorm2d(4, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.bn(self.pool(self.conv(x)))
        return torch.linalg.vector_norm(y.flatten(1), ord=1, dim=1), y.mean()


class Elementwise(nn.Module):
    """RMSNorm (x * rsqrt(mean(x^2) + eps) * w) before a linear layer, then elementwise
    functions of its output, the last one in place."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(16))
        self.lin = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.w)
        z = torch.exp(y).sqrt() + torch.sin(y) - y.abs().log1p() + y.neg() * torch.erf(y)
        return z.square().reciprocal() + torch.cos(y).log().sin_()


class Attentive(nn.Module):
    """A conv with Mish, CBAM's spatial attention (the mean and the max over channels, a 7x7
    conv, a sigmoid), then ELU, SELU (in place) and Softplus, and the max over the map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)
        self.selu = nn.SELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.mish(self.conv(x))
        pooled = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True)[0]], 1)
        x = x * torch.sigmoid(self.spatial(pooled))
        y = self.selu(F.elu(x, 0.5)) + F.softplus(x, beta=2.0)
        return y - y.amax((2, 3), keepdim=True) + y.amin(1, keepdim=True)


class SubPixel(nn.Module):
    """ESPCN's sub-pixel upsampling (a conv to 4x the channels, pixel shuffle by 2), space to
    depth back, ConvNeXt's channels-first LayerNorm written with var, a std, a GLU over
    channels and a hardtanh to [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 16, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pixel_unshuffle(F.pixel_shuffle(self.conv(x), 2), 2)
        norm = (y - y.mean(1, keepdim=True)) / torch.sqrt(y.var(1, keepdim=True, unbiased=False)
                                                           + 1e-6)
        return F.glu(norm, 1) * y.std((2, 3), keepdim=True)[:, :8] + F.hardtanh(norm[:, 8:])


class ResnetGenerator(nn.Module):
    """CycleGAN's generator in small: reflection padding before the 7x7 convs and in the
    residual blocks, instance norms (one with running statistics), a transposed conv up and a
    replication-padded 7x7 conv out, and a batch norm without affine."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, c, 7), nn.InstanceNorm2d(c),
                                  nn.ReLU(True))
        self.down = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c, affine=True),
                                  nn.ReLU(True))
        self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2 * c, 2 * c, 3),
                                   nn.InstanceNorm2d(2 * c, track_running_stats=True), nn.ReLU(True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(2 * c, 2 * c, 3),
                                   nn.BatchNorm2d(2 * c, affine=False))
        self.up = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 3, 2, 1, output_padding=1),
                                nn.InstanceNorm2d(c), nn.ReLU(True))
        self.out = nn.Sequential(nn.ReplicationPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(self.stem(x))
        return self.out(self.up(y + self.block(y)))


class HandPadded(nn.Module):
    """Circular padding (which torch runs as copies into a new tensor), then padding by hand:
    torch's zeros of the padded size, the map assigned to its middle."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pad(self.conv1(x), (1, 1, 1, 1), mode="circular")
        out = y.new_zeros(y.shape[0], 4, y.shape[2] + 2, y.shape[3] + 2)
        out[:, :, 1:-1, 1:-1] = y
        return self.conv2(out)


class ExplicitConv(nn.Module):
    """A 3x3 conv written out: F.unfold's columns times the flattened weight, folded back
    into a map (involution and local-attention layers unfold so)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 3 * 3 * 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(x, 3, padding=1, stride=2)                    # N, 27, L
        y = cols.transpose(1, 2) @ self.weight.t()                    # N, L, 8
        return y.transpose(1, 2).reshape(x.shape[0], 8, (x.shape[2] + 1) // 2, -1)


class Shifted(nn.Module):
    """TSM's shift, along channels here: torch.zeros_like, then three slices assigned (two
    shifted by one row, the rest as it is), then a conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        out[:, :2, :-1] = x[:, :2, 1:]
        out[:, 2:4, 1:] = x[:, 2:4, :-1]
        out[:, 4:] = x[:, 4:]
        return self.conv(out)


class LeftWeights(nn.Module):
    """Weights on the left of matrix products: a conv written as its weight times F.unfold's
    columns, token mixing (W @ tokens, plus a bias per token) and a graph convolution's fixed
    adjacency (a buffer) times the node features."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.mix = nn.Parameter(torch.randn(16, 64))
        self.bias = nn.Parameter(torch.zeros(16, 1))
        self.register_buffer("adjacency", torch.rand(16, 16))
        self.lin = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.weight.view(8, -1) @ F.unfold(x, 3, padding=1)         # N, 8, 64
        tokens = self.mix @ y.transpose(1, 2) + self.bias               # N, 16, 8
        return torch.relu(self.lin(self.adjacency @ tokens))            # N, 16, 4


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.sum() > 0 else -x


class BranchOnValue(nn.Module):
    """Data-dependent control flow: which branch runs depends on the input's values."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.conv(x))


class SizeSwitch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) if x.shape[-1] > 100 else x


class BranchOnSize(nn.Module):
    """Control flow on the input size: large inputs get an extra convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.switch = SizeSwitch()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.switch(self.stem(x)))


class NeedsTwoInputs(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x * mask


class FunctionalOnly(nn.Module):
    """A forward of functional calls on parameters held by the root module."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(16, 3, 3, 3))
        self.b1 = nn.Parameter(torch.empty(16))
        self.w2 = nn.Parameter(torch.empty(10, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.w1, self.b1, stride=2, padding=1))
        x = F.max_pool2d(x, 2)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.linear(x, self.w2)


class SDPABlock(nn.Module):
    """A pre-norm transformer encoder block with F.scaled_dot_product_attention."""

    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads) \
            .permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.proj(a)
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch embedding, class token, position embedding, two SDPA blocks, token head."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 8, 8)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 17, dim))
        self.blocks = nn.Sequential(SDPABlock(dim), SDPABlock(dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


class MHAEncoder(nn.Module):
    """torch's own encoder layer (nn.MultiheadAttention inside) on a token sequence."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(dim, 4, 64, dropout=0.0, batch_first=True)
        self.attn = nn.MultiheadAttention(dim, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer(x)
        return self.attn(x, x, x, need_weights=True)[0]


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, channels-last LayerNorm, MLP, layer scale, stochastic-depth residual."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pw2(self.act(self.pw1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class SEDepthwise(nn.Module):
    """MobileNet-style depthwise separable conv with squeeze-and-excitation (SiLU, sigmoid,
    hardswish), then a 1-D and a 3-D convolution on reshaped maps."""

    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.SiLU()
        self.se_reduce = nn.Conv2d(8, 2, 1)
        self.se_expand = nn.Conv2d(2, 8, 1)
        self.pw = nn.Conv2d(8, 16, 1)
        self.hs = nn.Hardswish()
        self.conv1d = nn.Conv1d(16, 8, 5, padding=2)
        self.conv3d = nn.Conv3d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn(self.dw(x)))
        s = F.adaptive_avg_pool2d(y, 1)
        y = y * torch.sigmoid(self.se_expand(F.relu(self.se_reduce(s))))
        y = self.hs(self.pw(y))
        seq = self.conv1d(y.flatten(2))                   # (B, 8, H*W)
        return self.conv3d(seq.reshape(seq.shape[0], 1, 8, *x.shape[2:]))


class Decoder(nn.Module):
    """An upsampling decoder: transposed conv, nearest and bilinear interpolation, GroupNorm,
    a skip concatenation, max/avg pooling and an adaptive pool to a fixed size."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 16, 3, 2, 1)
        self.pool = nn.MaxPool2d(2)
        self.up1 = nn.ConvTranspose2d(16, 8, 2, 2)
        self.norm = nn.GroupNorm(4, 8)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = nn.Conv2d(8 + 16, 4, 3, padding=1)
        self.avg = nn.AvgPool2d(2)
        self.out = nn.AdaptiveAvgPool2d((5, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.down(x)                                   # 16 x H/2
        y = self.norm(self.up1(self.pool(d)))              # 8 x H/2
        y = torch.cat([F.interpolate(y, scale_factor=2, mode="bilinear"),
                       self.up2(d)], dim=1)                # 24 x H
        return self.out(self.avg(self.fuse(y)))


class RelativeBias(nn.Module):
    """Attention scores plus a bias gathered from a learned table by a buffer of indices (as
    Swin does): the table is read as data through a gather, not as an operand of its own."""

    def __init__(self, n: int = 4) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(2 * n - 1))
        self.register_buffer("index", torch.arange(n)[:, None] - torch.arange(n)[None, :] + n - 1)
        self.qk = nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k = self.qk(x).chunk(2, dim=-1)
        return (q @ k.transpose(-2, -1) + self.table[self.index]).softmax(-1)



class SharedWeights(nn.Module):
    """Parameters used more than once: a conv and a BatchNorm module called three times, and
    a linear layer whose weight is another's (tied), with a bias of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.encode = nn.Linear(8, 8)
        self.decode = nn.Linear(8, 8)
        self.decode.weight = self.encode.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for _ in range(3):
            x = F.relu(self.bn(self.conv(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.decode(F.relu(self.encode(x)))


class DerivedWeights(nn.Module):
    """Weights that are not one parameter: a low-rank product of two, a projection held as a
    buffer, and a weight-normalised linear layer (its weight made of a norm and a direction)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.a, self.b = nn.Parameter(torch.randn(16, 4)), nn.Parameter(torch.randn(4, 24))
        self.register_buffer("projection", torch.randn(24, 8))
        self.normed = nn.utils.parametrizations.weight_norm(nn.Linear(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x) @ (self.a @ self.b)
        return self.normed(x @ self.projection)


class LoopedLinear(nn.Module):
    """One Linear(256, 256) applied three times, then a head: in training the weight gradients
    of its three uses are summed into one (autograd sums them out of place)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(256, 256)
        self.head = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = F.relu(self.fc(x))
        return self.head(x)


# --- recurrent layers (tests/test_recurrent.py) ----------------------------------------------
class LSTMNet(nn.Module):
    """A sequence classifier: a stacked LSTM, the last step's output into a linear layer."""

    def __init__(self, layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(32, 64, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class RecurrentNet(nn.Module):
    """An input projection, then nn.LSTM, nn.GRU or nn.RNN (`kind`) with the given options,
    then a linear layer on every step's output."""

    def __init__(self, kind: str = "LSTM", features: int = 12, hidden: int = 16,
                 layers: int = 1, bidirectional: bool = False, bias: bool = True,
                 **options: object) -> None:
        super().__init__()
        self.embed = nn.Linear(features, features)
        self.rnn = getattr(nn, kind)(features, hidden, num_layers=layers, bias=bias,
                                     bidirectional=bidirectional, batch_first=True, **options)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.embed(x))[0])


class ZeroStateGiven(nn.Module):
    """The tutorials' pattern: zero initial states made in the forward and passed in."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(2, x.shape[0], 16, device=x.device)
        y, _ = self.lstm(x, (h0, torch.zeros_like(h0)))
        return y


class ReadsFinalState(nn.Module):
    """Classifies from h_n, the final hidden state nn.GRU returns (batch in dimension 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 16, num_layers=2, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)
        return self.fc(h[-1])


class TimeMajor(nn.Module):
    """nn.LSTM left at batch_first=False, fed (steps, batch, features)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 8))
        self.lstm = nn.LSTM(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.encoder(x).transpose(0, 1))[0]
