"""Static analysis speed against a forward pass of the built model on the meta device.

For every spec: the median time of archprof.analyze() (expansion + every op rule, no weights)
next to the median time of building the model on `meta` and running one forward on it (what a
meta-device summary tool such as torchinfo does), and their ratio. Run: python benchmarks/static_speed.py
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

import archprof


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def meta_forward(name: str) -> None:
    graph = archprof.expand(name)
    model = archprof.build(graph, device="meta")
    with torch.inference_mode():
        model(torch.zeros((1, *graph.input), device="meta"))


def main(repeat: int = 7) -> None:
    names = sorted(archprof.registry())
    meta_forward(names[0])                        # warm up torch's lazy imports
    print(f"{'network':<22} {'ops':>5} {'static ms':>10} {'meta build+forward ms':>22} {'ratio':>7}")
    for name in names:
        static = median_ms(lambda n=name: archprof.analyze(n), repeat)
        meta = median_ms(lambda n=name: meta_forward(n), max(3, repeat // 2))
        ops = archprof.analyze(name).totals["ops"]
        print(f"{name:<22} {ops:>5} {static:>10.2f} {meta:>22.2f} {meta / static:>6.1f}x")


if __name__ == "__main__":
    main()
