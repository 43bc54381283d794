"""The whole zoo at a glance: one row per network of specs/."""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from itertools import product
from typing import TYPE_CHECKING, Any

from archprof import interrupts
from archprof.analysis import analyze
from archprof.errors import SpecError
from archprof.ir.ops import dims
from archprof.progress import progress_bar
from archprof.source import graph, is_callable_ref, parameters
from archprof.spec import memo
from archprof.spec.expand import expand, program_names
from archprof.spec.load import IMAGENET, load_spec, registry

if TYPE_CHECKING:        # pandas is imported by what returns a DataFrame, not by `list`
    import pandas as pd


def overview() -> pd.DataFrame:
    import pandas as pd
    return pd.DataFrame(overview_columns())


def overview_columns() -> dict[str, list[Any]]:
    """`overview` as plain columns (what `archprof list` prints, without pandas)."""
    columns: dict[str, list[Any]] = {}
    for name, spec in sorted(registry().items()):
        t = analyze(spec).totals
        row = {"name": name, "title": spec.title, "year": spec.year, "input": t["input"],
               "params": t["params"], "macs": t["macs"], "activations": t["activations"],
               "peak_activations": t["peak_activations"],
               "top1": spec.accuracy.get("top1"), "top5": spec.accuracy.get("top5"),
               "dataset": spec.accuracy.get("dataset", IMAGENET) if spec.accuracy else None}
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    return columns


def compare(names: list[str], params: dict | None = None) -> pd.DataFrame:
    """Totals of several networks side by side, with ratios to the first."""
    import pandas as pd
    rows = []
    for name in names:
        used = _known(name, params)
        a = analyze(graph(name, used))
        # a spec's accuracy is that of its defaults, not of a variant (another head, width)
        default = all(a.spec.params.get(k) == v for k, v in used.items())
        rows.append({"name": a.spec.name, "input": a.totals["input"], "params": a.totals["params"],
                     "macs": a.totals["macs"], "activations": a.totals["activations"],
                     "peak_activations": a.totals["peak_activations"],
                     "param_mb": a.totals["param_bytes"] / 1e6,
                     "top1": a.spec.accuracy.get("top1") if default else None})
    df = pd.DataFrame(rows)
    for key in ("params", "macs", "activations"):
        df[f"{key}_ratio"] = df[key] / df[key].iloc[0]
    return df


PROGRESS_FROM = 2_000     # variants: a grid this long shows a progress bar (on a terminal)
# variants: each worker gets at least this many (a 200-variant MobileNet grid gained nothing
# from two workers: a tenth of a second of work, and each worker expands what it needs afresh),
# so a grid needs twice as many to be spread at all
WORKER_LEAST = 250
PARALLEL_FROM = 2 * WORKER_LEAST
PARTS_PER_JOB = 8         # a grid in parallel is cut into about this many parts per worker,
PART_MOST = 1_000         # of at most this many variants (a bar's step; Ctrl-C waits for a part)

Variant = tuple[dict[str, Any], tuple | None]


def sweep(name: str, grid: dict[str, list], inputs: Sequence[tuple | None] | None = None,
          progress: bool | None = None, jobs: int = 1) -> pd.DataFrame:
    """One row per combination of parameter values (and input shapes), in grid order. A spec
    is loaded once; blocks and rows repeated across variants are expanded once
    (archprof.spec.memo). `progress`: a bar on stderr (when it is a terminal); by default for
    long grids. `jobs`: worker processes (0 or less: one per CPU), each analysing parts of
    the grid (`_parts`: the variants that share a program together), at most one per
    WORKER_LEAST variants (none under PARALLEL_FROM variants, where the grid runs in this
    process); as with any use of multiprocessing, a script that asks for them calls this
    under `if __name__ == "__main__":` (where workers are spawned, each imports the script's
    main module again)."""
    import pandas as pd
    source = _source(name)      # a spec's errors here, once
    keys = list(grid)
    shapes: list[tuple | None] = list(inputs) if inputs else [None]
    variants: list[Variant] = [(dict(zip(keys, values)), shape)
                               for values in product(*grid.values()) for shape in shapes]
    workers = min(jobs if jobs > 0 else cpus(), len(variants) // WORKER_LEAST)
    with progress_bar(len(variants), f"sweep {name}", unit="variant",
                      enabled=len(variants) >= PROGRESS_FROM if progress is None else progress) as bar:
        if workers > 1:
            # the grid's parameters that the spec's program is keyed on (a module's variants
            # share nothing, each is traced afresh: all its parameters count)
            keyed = keys if isinstance(source, str) else [
                k for k in keys if k in program_names(source)]
            rows = _in_parallel(name, variants, _parts(variants, keyed, workers), workers,
                                bar.update)
        else:
            rows = list(_rows(source, variants, bar.update))
    return pd.DataFrame(rows)


def cpus() -> int:
    """The CPUs this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _rows(source: Any, variants: list[Variant], advance: Callable[[int], object]
          ) -> Iterator[dict]:
    """Each variant's totals, one after the other in this process."""
    traced = isinstance(source, str)        # a module's trace makes cycles: collect as usual
    with nullcontext() if traced else memo.collector_paused():
        for params, shape in variants:
            try:
                made = graph(source, params, shape) if traced else expand(source, params, shape)
            except SpecError as err:        # which of the grid's variants it is
                err.message += " (in the variant " + ", ".join(
                    [f"{k}={v}" for k, v in params.items()]
                    + ([f"input {dims(shape)}"] if shape else [])) + ")"
                raise err.located() from None
            t = analyze(made).totals
            yield {**params, "input": t["input"], "params": t["params"], "macs": t["macs"],
                   "activations": t["activations"], "peak_activations": t["peak_activations"]}
            advance(1)


def _source(name: str) -> Any:
    """What `_rows` analyses: a spec, loaded, or a callable's reference (traced per variant)."""
    return name if is_callable_ref(name) else load_spec(name)


def _parts(variants: list[Variant], keyed: list[str], workers: int) -> list[list[int]]:
    """The grid's positions cut into parts for `workers` processes: about PARTS_PER_JOB parts
    each, of at most PART_MOST variants. The variants that share the values of the `keyed`
    parameters share a program (each MobileNet alpha's resolutions, each Wide-ResNet width's
    depths), which a worker makes once: they stay in one part where they fit in one. Each part
    lists its positions in grid order."""
    size = min(-(-len(variants) // (workers * PARTS_PER_JOB)), PART_MOST)
    groups: dict[Any, list[int]] = {}
    for k, (params, _) in enumerate(variants):
        try:
            groups.setdefault(tuple([params[key] for key in keyed]), []).append(k)
        except TypeError:       # a value that cannot be hashed (a list): a group of its own
            groups[object()] = [k]
    parts: list[list[int]] = []
    part: list[int] = []
    for group in groups.values():
        for start in range(0, len(group), size):
            piece = group[start:start + size]
            if part and len(part) + len(piece) > PART_MOST:
                parts.append(part)
                part = []
            part.extend(piece)
            if len(part) >= size:
                parts.append(part)
                part = []
    if part:
        parts.append(part)
    return [sorted(part) for part in parts]


def _part(name: str, variants: list[Variant]) -> tuple[list[dict], SpecError | None]:
    """A worker's part of a parallel sweep: its rows up to the first variant that fails, and
    that variant's error (None where none fails)."""
    rows: list[dict] = []
    try:
        rows.extend(_rows(_source(name), variants, lambda n: None))
    except SpecError as err:
        return rows, err
    return rows, None


def _quiet() -> None:
    """A worker leaves Ctrl-C to the parent, which cancels the parts not started and waits for
    the running ones (a part is short); a worker waiting for a part would print a traceback.
    It starts with SIGINT held (`_in_parallel`), so it ignores one first, then unblocks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interrupts.unblock(signal.SIGINT)


def _in_parallel(name: str, variants: list[Variant], parts: list[list[int]], workers: int,
                 advance: Callable[[int], object]) -> list[dict]:
    """The variants at the positions of each part (`_parts`) analysed by a pool of `workers`
    processes; the rows come back in grid order, and the variant that fails first in grid
    order raises its error, as in one process. On Linux the workers are forked: they start at
    once, with the spec and what this process has memoised. A fork copies only the calling
    thread; the workers run archprof's expansion (a module's trace: torch on fake tensors,
    whose thread pools torch makes anew after a fork), never the code of this process's other
    threads (BLAS's, tqdm's) whose locks a fork may copy held. Elsewhere they are spawned
    (fork is unsafe on macOS), and each imports the caller's main module again, which must
    keep its work under `if __name__ == "__main__":`."""
    import multiprocessing
    import warnings
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet)
    rows: dict[int, dict] = {}     # by position in the grid
    failed: tuple[int, SpecError] | None = None     # the earliest failing position yet
    try:
        # Ctrl-C while the workers start would leave one unknown to the pool (never told to
        # stop: the exit waits for it forever) or raise in one before `_quiet` (a traceback)
        with warnings.catch_warnings(), interrupts.held(signal.SIGINT):
            warnings.filterwarnings("ignore", "This process .* is multi-threaded",
                                    DeprecationWarning)     # 3.12+ on a fork: see above
            futures = [pool.submit(_part, name, [variants[k] for k in part])
                       for part in parts]       # starts the workers
        for part, future in zip(parts, futures):
            if future.cancelled():
                continue
            done, err = future.result()
            rows.update(zip(part, done))
            if err is not None and (failed is None or part[len(done)] < failed[0]):
                failed = (part[len(done)], err)
                for later, other in zip(parts, futures):    # no earlier failure there
                    if later[0] > failed[0]:
                        other.cancel()
            advance(len(part))
    except BrokenProcessPool as err:     # its own stderr says why, if it could
        raise SpecError("a worker process of the sweep died (killed? out of memory? a script "
                        "that starts workers outside `if __name__ == '__main__':`?); jobs=1 "
                        "runs the sweep in this process") from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failed is not None:
        raise failed[1]
    return [rows[k] for k in range(len(variants))]


def _known(name: str, params: dict | None) -> dict:
    """The overrides that this network has (compare applies --param to all that know it)."""
    known = parameters(name)
    return {k: v for k, v in (params or {}).items() if k in known}
