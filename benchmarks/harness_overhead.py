"""Harness overhead of archprof's timing: the same model and input timed by
archprof.measure.bench.measure(), by a bare perf_counter_ns loop and by torch.utils.benchmark.Timer.

Each method runs for about the same time in many short interleaved rounds, the order rotating
each round, so drift in machine load hits all three alike; the figure per method is the median
over rounds of its per-round median, shown with the spread over rounds (IQR) so noise can be
told apart from overhead. Ratios are measure() / the other; the target is within 2 % of 1.

Run: python benchmarks/harness_overhead.py [NETWORK] [--batch N] [--rounds R] [--seconds S]
     [--threads T]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.benchmark import Timer

import archprof
from archprof.measure.bench import measure


def bare_loop(model: Callable, x: torch.Tensor, seconds: float) -> float:
    """The simplest honest timing: warm-up, then one perf_counter_ns pair per forward."""
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(times) < 5:
            t0 = time.perf_counter_ns()
            model(x)
            times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def torch_timer(model: Callable, x: torch.Tensor, seconds: float) -> float:
    # Timer defaults to one thread. Inference mode is entered in setup, which shares the timed
    # statement's scope; the guard must stay referenced (a temporary would exit it at once)
    setup = "import torch; _mode = torch.inference_mode(); _mode.__enter__(); model(x)"
    timer = Timer("model(x)", setup=setup,
                  globals={"model": model, "x": x}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=seconds).median * 1e3


def archprof_measure(model: Callable, x: torch.Tensor, seconds: float) -> float:
    # the stability rule could stop early; a tight threshold makes it use its whole budget
    # like the others, so the three medians rest on similar numbers of runs
    return measure(model, x, "cpu", budget_s=seconds, threshold=0.0, memory=False).median_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", nargs="?", default="resnet18")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.5, help="per method per round")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    graph = archprof.expand(args.network)
    model = archprof.build(graph)
    x = torch.randn(args.batch, *graph.input)
    methods = {"archprof measure()": archprof_measure, "bare loop": bare_loop,
               "torch.utils.benchmark.Timer": torch_timer}
    results: dict[str, list[float]] = {name: [] for name in methods}
    order = list(methods)
    for r in range(args.rounds):
        for name in order[r % 3:] + order[:r % 3]:
            results[name].append(methods[name](model, x, args.seconds))

    print(f"{args.network}, batch {args.batch}, input {'x'.join(map(str, graph.input))}, CPU, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{args.rounds} rounds x {args.seconds:g} s per method, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    medians = {name: statistics.median(v) for name, v in results.items()}
    for name, values in results.items():
        q1, _, q3 = statistics.quantiles(values, n=4)
        print(f"  {name:<28} median {medians[name]:9.3f} ms   "
              f"(IQR over rounds {100 * (q3 - q1) / medians[name]:.1f} %)")
    ours = medians["archprof measure()"]
    for name in ("bare loop", "torch.utils.benchmark.Timer"):
        ratio = ours / medians[name]
        verdict = "within 2 %" if abs(ratio - 1) <= 0.02 else "outside 2 %"
        print(f"  measure() / {name:<28} {ratio:.4f}  ({100 * (ratio - 1):+.2f} %, {verdict})")


if __name__ == "__main__":
    main()
