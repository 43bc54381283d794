"""Small torch modules that the CLI tests name as `tests/cli_models.py:CALLABLE`: an image
classifier to benchmark, and models whose input is not an image (video, audio, tokens)."""
from __future__ import annotations

import torch
from torch import nn


def classifier(width: int = 8, classes: int = 10) -> nn.Sequential:
    """conv 3x3 - BN - ReLU, 2x2 max pool, conv 3x3 - ReLU, global average pool, linear."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))


def video(width: int = 4, classes: int = 5) -> nn.Sequential:
    """A 3-D convolution over (C, T, H, W) clips, a strided one, pooled and classified."""
    return nn.Sequential(
        nn.Conv3d(3, width, 3, padding=1), nn.ReLU(),
        nn.Conv3d(width, 2 * width, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)), nn.ReLU(),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2 * width, classes))


def audio(width: int = 8, classes: int = 4) -> nn.Sequential:
    """1-D convolutions over a (1, samples) waveform."""
    return nn.Sequential(
        nn.Conv1d(1, width, 9, stride=4), nn.ReLU(), nn.Conv1d(width, width, 3, padding=1),
        nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, classes))


class Tokens(nn.Module):
    """A (tokens, dim) sequence: layer norm, an MLP on each token, the mean token classified."""

    def __init__(self, dim: int = 16, classes: int = 3) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((x + self.mlp(self.norm(x))).mean(dim=1))


def tokens(dim: int = 16, classes: int = 3) -> Tokens:
    return Tokens(dim, classes)
