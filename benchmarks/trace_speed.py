"""Analysing a torch module: archprof.analyze(module) against torchinfo.summary on the meta
device, same module, same process.

The module is a ResNet-50 written out as torchvision writes it (Bottleneck with a shared
ReLU, a functional residual add, torch.flatten), built on `meta`. Both tools run in
interleaved rounds (order alternating, so drift in machine load hits both alike) after one
warm-up each; the figure per tool is the median over rounds. archprof's time includes the
second trace at another input size that checks for control flow on the input size.

Then the analysis of a traced graph alone (the trace done beforehand, each round on a fresh
trace so that nothing is counted yet) per op, next to the cold analysis of the `resnet50` spec
per op (an input size not analysed before): the trace is what costs, not its analysis.

Run: python benchmarks/trace_speed.py [--rounds R]     (needs torchinfo: pip install .[bench])
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
import torchinfo
from torch import nn

import archprof
from archprof.trace import trace


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        out = 4 * width
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False),
                                         nn.BatchNorm2d(out))
                           if stride != 1 or cin != out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        y += identity
        return self.relu(y)


class ResNet50(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, stages = 64, []
        for i, blocks in enumerate((3, 4, 6, 3)):
            width, layer = 64 * 2 ** i, []
            for j in range(blocks):
                layer.append(Bottleneck(cin, width, 2 if i and not j else 1))
                cin = 4 * width
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with torch.device("meta"):
        model = ResNet50().eval()
    x = torch.empty(1, 3, 224, 224, device="meta")
    tools = {
        "archprof.analyze": lambda: archprof.analyze(model, input=(3, 224, 224)),
        "torchinfo.summary": lambda: torchinfo.summary(model, input_data=x, device="meta",
                                                       verbose=0),
    }
    a = archprof.analyze(model, input=(3, 224, 224))
    s = torchinfo.summary(model, input_data=x, device="meta", verbose=0)
    print(f"same module: params archprof {a.totals['params']:,}, torchinfo "
          f"{s.total_params:,}; MACs archprof {a.totals['macs']:,}, torchinfo {s.total_mult_adds:,}")
    times: dict[str, list[float]] = {name: [] for name in tools}
    names = list(tools)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(seconds(tools[name]))
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:18s} median {median[name]:.3f} s over {len(t)} rounds "
              f"(min {min(t):.3f}, max {max(t):.3f})")
    ratio = median["torchinfo.summary"] / median["archprof.analyze"]
    print(f"torchinfo / archprof = {ratio:.2f} (above 1: archprof is faster)")
    per_op(model, args.rounds)


def totals(what: object, input: tuple[int, ...] | None = None) -> object:
    return archprof.analyze(what, input=input).totals


def per_op(model: nn.Module, rounds: int) -> None:
    traced: list[float] = []
    spec: list[float] = []
    for r in range(rounds):
        graph = trace(model, (3, 224, 224))
        size = 224 + 32 * (r + 1)                   # never analysed before in this process
        ops = len(archprof.expand("resnet50", input=(3, size + 1, size + 1)).nodes)
        # both after the trace and an expansion, in alternating order: neither runs first
        # after torch's work (which fills the CPU caches) more often than the other
        runs: list[tuple[list[float], Callable[[], object], int]] = [
            (traced, partial(totals, graph), len(graph.nodes)),
            (spec, partial(totals, "resnet50", (3, size, size)), ops)]
        for times, analysis, count in runs if r % 2 == 0 else runs[::-1]:
            times.append(seconds(analysis) / count)
    a, b = statistics.median(traced) * 1e6, statistics.median(spec) * 1e6
    print(f"analysis per op, median over {rounds} rounds: traced graph {a:.1f} us "
          f"({len(graph.nodes)} ops, trace excluded), resnet50 spec cold {b:.1f} us "
          f"(expansion included); traced / spec = {a / b:.2f}")


if __name__ == "__main__":
    main()
