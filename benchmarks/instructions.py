"""Instructions, not seconds: issue 11's workloads counted by valgrind's callgrind, for this
checkout and, side by side, another one.

Wall time on a shared machine swings by tens of percent from one process to the next (on
this project's 2-core machine the same loop took 0.97 to 1.42 s), which hides a 5-10%
change; callgrind counts the same instructions on every run of the same code on the same
input (hash and address-space randomisation off). Each workload runs in two processes per
checkout, its loop 0 and N times: the difference over N is one iteration, with the
interpreter's start, the imports, the spec parse and any warm-up cancelled out. Memory
stalls are not counted: the cyclic collector's passes, for one, cost more time than their
instructions say. Workloads run in parallel (counts do not depend on load).

Run: python benchmarks/instructions.py [--against OTHER_CHECKOUT] [--only NAME ...]
(needs valgrind; e.g. `git worktree add /tmp/before HEAD~1` for the other checkout).
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Workload(NamedTuple):
    setup: str      # run in both processes
    loop: str       # run N times in the second (`n`: the iteration)
    n: int
    unit: str
    kept: bool = False      # the network programs kept on disk (a warmed cache folder)


# a first sweep of another grid: pandas and tqdm imported, and what they import on first use
SWEEP = "from archprof.zoo import sweep\nsweep('mobilenet_v1', {'alpha': [0.3], 'res': [64]})\n"
WORKLOADS = {
    "mobilenet_v1 sweep, 4 alpha x 20 res": Workload(
        SWEEP + "grid = {'alpha': [0.25, 0.5, 0.75, 1.0], 'res': [96 + 8 * r for r in range(20)]}",
        "sweep('mobilenet_v1', grid)", 1, "sweep of 80"),
    "wrn_28_10 sweep, 8 depth x 4 k": Workload(
        SWEEP + "grid = {'depth': [10 + 6 * d for d in range(8)], 'k': [1, 2, 3, 4]}",
        "sweep('wrn_28_10', grid)", 1, "sweep of 32"),
    "vgg16 cold": Workload(
        "import archprof\narchprof.analyze('vgg16').totals",
        "archprof.analyze('vgg16', input=(3, 256 + 32 * n, 256 + 32 * n)).totals", 5, "analysis"),
    "resnet152 cold": Workload(
        "import archprof\narchprof.analyze('resnet152').totals",
        "archprof.analyze('resnet152', input=(3, 256 + 32 * n, 256 + 32 * n)).totals", 3,
        "analysis"),
    "zoo, fresh process, programs kept": Workload(
        "import archprof\nnames = sorted(archprof.registry())",
        "for name in names:\n    archprof.analyze(name).totals", 1, "zoo", kept=True),
}


def program(work: Workload) -> str:
    """The workload as a script whose argument is the number of iterations."""
    loop = "\n".join("    " + line for line in work.loop.splitlines())
    return f"import sys\n{work.setup}\nfor n in range(int(sys.argv[1])):\n{loop}\n"


def run(checkout: Path, work: Workload, loops: int, cache: Path, folder: str,
        wrap: tuple[str, ...] = ()) -> None:
    """One process (under `wrap`) running the workload's loop `loops` times, from `folder`, a
    neutral one: `-c` puts the current folder first on sys.path, which would pick a checkout
    there over PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0",
               OPENBLAS_NUM_THREADS="1", ARCHPROF_CACHE=str(cache))
    subprocess.run([*wrap, sys.executable, "-c", program(work), str(loops)], check=True,
                   env=env, cwd=folder, capture_output=True)


def count(checkout: Path, work: Workload, loops: int, cache: Path) -> int:
    """Instructions of one process running the workload's loop `loops` times."""
    fixed = ("setarch", platform.machine(), "-R") if shutil.which("setarch") else ()
    with tempfile.TemporaryDirectory() as out:
        profile = Path(out) / "callgrind.out"
        run(checkout, work, loops, cache, out,
            (*fixed, "valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}"))
        for line in profile.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no instruction count in callgrind's output for {work.loop!r}")


def per_iteration(checkout: Path, work: Workload) -> float:
    with tempfile.TemporaryDirectory() as base:
        caches = [Path(base) / "none", Path(base) / "some"]
        for cache in caches:
            cache.mkdir()
            if work.kept:       # the parses and programs a first process leaves
                run(checkout, work, 1, cache, base)
        with ThreadPoolExecutor(2) as pool:
            idle, busy = pool.map(lambda args: count(checkout, work, *args),
                                  [(0, caches[0]), (work.n, caches[1])])
    return (busy - idle) / work.n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout, counted side by side")
    parser.add_argument("--only", nargs="*", default=None, help="workload names containing these")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    checkouts = [ROOT] + ([args.against.resolve()] if args.against else [])
    chosen = {name: work for name, work in WORKLOADS.items()
              if not args.only or any(word in name for word in args.only)}
    jobs = [(checkout, work) for work in chosen.values() for checkout in checkouts]
    with ThreadPoolExecutor(max(1, (os.cpu_count() or 2) // 2)) as pool:
        counts = list(pool.map(lambda job: per_iteration(*job), jobs))
    header = f"{'workload':<38} {'per':<12} {'this checkout':>15}"
    if args.against:
        header += f" {str(args.against)[-20:]:>20} {'this / other':>12}"
    print(f"instructions per iteration ({ROOT})\n{header}")
    for k, (name, work) in enumerate(chosen.items()):
        ours = counts[k * len(checkouts)]
        line = f"{name:<38} {work.unit:<12} {ours:>15,.0f}"
        if args.against:
            theirs = counts[k * len(checkouts) + 1]
            line += f" {theirs:>20,.0f} {ours / theirs:>12.3f}"
        print(line)


if __name__ == "__main__":
    main()
