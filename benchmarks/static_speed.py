"""Static analysis speed, every target of issue 11 next to its baseline, run side by side.

1. Cold analysis (`analyze(name, input=...)` then `.totals`, on an input size not analysed
   before in the process) against `torchinfo.summary` of the model built on the meta device
   (the build itself not timed), and against building the model on meta plus one forward.
   Each tool runs blocks of rounds, the blocks alternating so that load drift hits all alike;
   archprof analyses a new input size each round. The first archprof round of a block runs
   right after torch's work and is also shown apart: with the CPU caches full of torch's
   code and data, archprof's first analysis spends as long again bringing its own back.
2. The whole zoo analysed cold in a fresh process (target < 100 ms), with the cache
   (archprof.spec.cache) empty, holding the parses, and holding parses and programs.
3. `archprof.sweep` variants per second, in a fresh process, on a MobileNet v1 alpha x
   resolution grid and a Wide-ResNet depth x width grid (target >= 5,000/s), and a 10,000-
   variant grid; grids of PARALLEL_FROM variants or more also with one worker process per
   CPU; then the peak memory of a fresh process sweeping the largest Wide-ResNet grid.
4. `archprof table vgg16` as a process against `python -c "import torch"` (target < 1/2).

Wall and CPU time are both shown where the machine may be shared: CPU time is what the
process itself spent. Run: python benchmarks/static_speed.py [--rounds N] [--only PART] (needs
the `bench` extra: torchinfo).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from itertools import count, islice
from pathlib import Path
from typing import Any

import torch
import torchinfo

import archprof
from archprof.ir.graph import Graph
from archprof.spec import cache, memo
from archprof.zoo import PARALLEL_FROM, cpus, sweep

COLD_TARGETS = {"vgg16": 50, "resnet152": 200, "densenet201": 100, "inception_v3": 100,
                "nasnet_a_mobile": 100}
BLOCKS = 5      # per tool, alternating (see `cold`)
STEP = 32       # a new input size each round, keeping every network's stage arithmetic valid


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cold_totals(name: str, shape: tuple[int, ...]) -> object:
    return archprof.analyze(name, input=shape).totals


def cold(rounds: int, blocks: int = BLOCKS) -> None:
    print(f"1. cold analysis (an input size never analysed before in the process), median ms: "
          f"{blocks} blocks of {rounds} rounds per tool,\n   the blocks alternating so that drift "
          "in the machine's load hits all alike; ratio = baseline / archprof. Each archprof\n   "
          "block starts with one more round, right after torch's work has filled the CPU caches"
          " with its own code and data:\n   `after torch` (torchinfo, 100x longer, takes as long "
          "either way; README.md, 'Measuring the real models')")
    print(f"{'network':<16} {'ops':>5} {'archprof':>9} {'rounds':>13} {'torchinfo':>10} "
          f"{'ratio':>7} {'target':>7} {'meta build+fwd':>15} {'ratio':>7} {'after torch':>12} "
          f"{'ratio':>7}")
    for name, target in COLD_TARGETS.items():
        c, h, w = archprof.expand(name).input
        sizes = [(c, h + STEP * (k + 10), w + STEP * (k + 10)) for k in range(1, rounds + 1)]
        with memo.enabled(False):   # the baselines' graphs leave nothing memoised for archprof
            graphs = [archprof.expand(name, input=shape) for shape in sizes]
        models = [archprof.build(graph, device="meta") for graph in graphs]
        ours: list[float] = []
        info: list[float] = []
        meta: list[float] = []
        first: list[float] = []
        fresh = count(rounds + 11)      # archprof's new sizes
        for _ in range(blocks):
            for graph, shape in zip(graphs, sizes):
                meta.append(timed(partial(meta_forward, graph, shape)))
            for model, shape in zip(models, sizes):
                info.append(timed(partial(torchinfo.summary, model, input_size=(1, *shape),
                                          device="meta", verbose=0)))
            first.append(timed(partial(cold_totals, name, new_size(c, h, w, next(fresh)))))
            ours.extend(timed(partial(cold_totals, name, new_size(c, h, w, k)))
                        for k in islice(fresh, rounds))
        a, b, m, f = (statistics.median(x) * 1e3 for x in (ours, info, meta, first))
        spread = f"{min(ours) * 1e3:.3f}-{max(ours) * 1e3:.3f}"
        print(f"{name:<16} {len(graphs[0].nodes):>5} {a:>9.3f} {spread:>13} {b:>10.2f} "
              f"{b / a:>6.0f}x {target:>6}x {m:>15.2f} {m / a:>6.0f}x {f:>12.3f} {b / f:>6.0f}x")


def new_size(c: int, h: int, w: int, k: int) -> tuple[int, int, int]:
    return c, h + STEP * k, w + STEP * k


def meta_forward(graph: Graph, shape: tuple[int, ...]) -> None:
    """The model built on the meta device and run once: what it costs torch to see shapes."""
    model = archprof.build(graph, device="meta")
    with torch.inference_mode():
        model(torch.zeros((1, *shape), device="meta"))


ZOO = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import archprof
t1, c1 = time.perf_counter(), time.process_time()
for name in sorted(archprof.registry()):
    archprof.analyze(name).totals
t2, c2 = time.perf_counter(), time.process_time()
print((t1 - t0) * 1e3, (c1 - c0) * 1e3, (t2 - t1) * 1e3, (c2 - c1) * 1e3)
"""


# The high-water mark of the process's own memory: Linux's VmHWM (ru_maxrss starts from the
# parent's size at the fork, which here has torch loaded), else ru_maxrss (bytes on macOS).
SWEEP_PEAK = """
import resource, sys
from archprof.zoo import sweep
import pandas, tqdm
def peak():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 2**10
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
before = peak()
sweep({name!r}, {grid!r}, progress=False)
print(before, peak())
"""


def fresh_process(argv: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    """A new Python process on the archprof this process imported: run from a neutral folder
    (`-c` and `-m` put the current folder first on sys.path, which would pick a checkout
    there over PYTHONPATH and spoil an A/B run) with that package's folder on PYTHONPATH,
    and `extra` in its environment."""
    root = str(Path(archprof.__file__).resolve().parents[1])
    env = dict(os.environ, **extra, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())


def zoo(rounds: int) -> None:
    """Each run in a new cache folder (archprof.spec.cache): empty, then with the parses the
    run before kept (its programs removed), then with parses and programs kept. Cold all three
    ways: shapes and counts are worked out by the op rules in the process. The first two runs
    also write the programs (a network's first analysis after an install or an edit)."""
    cases: dict[str, list[list[float]]] = {"cache empty": [], "parses kept": [],
                                           "parses, programs kept": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            for label, runs in cases.items():
                if label == "parses kept":
                    shutil.rmtree(Path(folder) / cache.PROGRAMS, ignore_errors=True)
                out = fresh_process([sys.executable, "-c", ZOO], ARCHPROF_CACHE=folder).stdout
                runs.append(list(map(float, out.split())))
    n = len(archprof.registry())
    print(f"\n2. whole zoo ({n} networks) cold in a fresh process, median of {rounds} "
          f"(archprof from {Path(archprof.__file__).parents[1]}; target < 100 ms)")
    for label, runs in cases.items():
        imp, _, wall, cpu = (statistics.median(r[i] for r in runs) for i in range(4))
        print(f"   {label:<22} {wall:6.1f} ms wall, {cpu:6.1f} ms CPU ({100 / wall:.2f}x the "
              f"target); import archprof {imp:.1f} ms")


def sweeps() -> None:
    # A sweep's table is a DataFrame and its bar tqdm: imported once per process, the first
    # sweep's; timed apart so that the first grid's rate is a rate like the others'. So is a
    # first parallel sweep (multiprocessing's first use).
    start = time.perf_counter()
    import pandas  # noqa: F401
    import tqdm  # noqa: F401
    imports = time.perf_counter() - start
    workers = cpus()
    start = time.perf_counter()
    sweep("lenet5", {}, [(1, 32 + k, 32) for k in range(PARALLEL_FROM)], progress=False,
          jobs=workers)
    print(f"\n3. sweep (variants/s, wall and CPU of all processes; target 5,000/s), each grid "
          f"with nothing memoised, in one process and, for a grid of {PARALLEL_FROM:,} variants "
          f"or more, with jobs={workers} (one worker per CPU). Once per process before the "
          f"first: importing pandas and tqdm, {imports * 1e3:.0f} ms; a first parallel sweep "
          f"({PARALLEL_FROM:,} LeNet-5 inputs), {(time.perf_counter() - start) * 1e3:.0f} ms")
    grids: dict[str, tuple[str, dict[str, list[Any]]]] = {
        "mobilenet_v1 alpha x res (40 x 25)": (
            "mobilenet_v1", {"alpha": [round(0.25 + 0.025 * i, 3) for i in range(40)],
                             "res": [96 + 8 * i for i in range(25)]}),
        "wrn_28_10 depth x width (16 x 16)": (
            "wrn_28_10", {"depth": [10 + 6 * i for i in range(16)], "k": list(range(1, 17))}),
        "mobilenet_v1 10,000 variants (100 x 100)": (
            "mobilenet_v1", {"alpha": [round(0.25 + 0.01 * i, 3) for i in range(100)],
                             "res": [64 + 4 * i for i in range(100)]}),
        "wrn_28_10 depth x width (16 x 128)": (
            "wrn_28_10", {"depth": [10 + 6 * i for i in range(16)], "k": list(range(1, 129))}),
    }
    for label, (name, grid) in grids.items():
        n = 1
        for values in grid.values():
            n *= len(values)
        for jobs in (1, workers) if n >= PARALLEL_FROM and workers > 1 else (1,):
            memo.clear()    # nothing from an earlier grid (forked workers would inherit it)
            start, cpu = time.perf_counter(), cpu_time()
            df = sweep(name, grid, progress=False, jobs=jobs)
            wall, cpu = time.perf_counter() - start, cpu_time() - cpu
            assert len(df) == n
            print(f"{label:<42} {n:>6} variants, jobs={jobs}: {wall:6.2f} s, {n / wall:>7,.0f}/s "
                  f"wall, {n / cpu:>7,.0f}/s CPU ({n / wall / 5000:.2f}x the target)")
    name, grid = grids["wrn_28_10 depth x width (16 x 128)"]
    peak = fresh_process([sys.executable, "-c", SWEEP_PEAK.format(name=name, grid=grid)],
                         ARCHPROF_CACHE="off").stdout.split()
    print(f"peak resident memory of a fresh process: {float(peak[0]):.0f} MB after importing "
          f"archprof, pandas and tqdm, {float(peak[1]):.0f} MB after the {name} 16 x 128 sweep "
          "(only the latest drafts are kept)")


def cpu_time() -> float:
    """CPU seconds of this process and of its ended children (a parallel sweep's workers)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                        resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def process(argv: list[str], **extra: str) -> tuple[float, float]:
    start = time.perf_counter()
    usage = os.times()
    fresh_process(argv, **extra)
    after = os.times()
    cpu = (after.children_user - usage.children_user) + (after.children_system - usage.children_system)
    return time.perf_counter() - start, cpu


def table(rounds: int) -> None:
    table_cmd = [sys.executable, "-m", "archprof", "table", "vgg16"]
    torch_cmd = [sys.executable, "-c", "import torch"]
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as folder:
        fresh_process(table_cmd, ARCHPROF_CACHE=folder)     # fills the cache, untimed
        for _ in range(rounds):                 # interleaved
            ours.append(process(table_cmd, ARCHPROF_CACHE=folder))
            theirs.append(process(torch_cmd))
    a, b = (statistics.median(t[0] for t in x) * 1e3 for x in (ours, theirs))
    ac, bc = (statistics.median(t[1] for t in x) * 1e3 for x in (ours, theirs))
    print(f"\n4. processes, median of {rounds}: `archprof table vgg16` {a:.0f} ms wall ({ac:.0f} ms"
          f" CPU, cache kept); `python -c 'import torch'` {b:.0f} ms wall ({bc:.0f} ms CPU);"
          f" ratio {a / b:.2f} wall, {ac / bc:.2f} CPU (target < 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["cold", "zoo", "sweeps", "table"],
                        help="one part, in this process")
    args = parser.parse_args()
    if args.only in (None, "cold"):
        torchinfo.summary(archprof.build("lenet5", device="meta"), input_size=(1, 1, 32, 32),
                          device="meta", verbose=0)       # torch's and torchinfo's lazy imports
        cold(args.rounds)
    if args.only in (None, "zoo"):
        zoo(args.rounds)
    if args.only == "sweeps":
        sweeps()
    elif args.only is None:     # in a fresh process, as `archprof sweep` runs: not after the
        # models, torchinfo's work and the heap of part 1 (a tenth slower here)
        print(fresh_process([sys.executable, str(Path(__file__).resolve()), "--only", "sweeps"]
                            ).stdout, end="")
    if args.only in (None, "table"):
        table(args.rounds)


if __name__ == "__main__":
    main()
