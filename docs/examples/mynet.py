"""A small residual CNN written in plain torch: the model of the README's "Your own model".

    archprof table docs/examples/mynet.py:build --input 3x32x32 --param width=16
    archprof import docs/examples/mynet.py:build --input 3x32x32 -o mynet.yaml
    archprof check docs/examples/mynet.yaml --against docs/examples/mynet.py:build
"""
from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """x + BN(conv(ReLU(BN(conv(x))))), then ReLU."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class MyNet(nn.Module):
    def __init__(self, width: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = conv_bn(3, width)
        self.stage1 = nn.Sequential(Residual(width), Residual(width))
        self.down = conv_bn(width, 2 * width, stride=2)
        self.stage2 = nn.Sequential(Residual(2 * width), Residual(2 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def build(width: int = 32, num_classes: int = 10) -> MyNet:
    return MyNet(width, num_classes)
