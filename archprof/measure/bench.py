"""Measuring built models: latency, memory, power and achieved MAC/s, swept over networks and
batch sizes into a results CSV that survives interruption.

Timing (see `measure`): the model is built once per network and configuration, in eval mode,
and run under `torch.inference_mode()`; a few warm-up runs, then timed runs one by one (CPU:
`time.perf_counter_ns`; CUDA: CUDA events and a synchronize, `cudnn.benchmark` on) until the
relative IQR (IQR / median) is under 5 % with at least 5 runs, or the time budget is spent (at
least 3 timed runs are always made). Median, IQR, min and the number of runs are reported.

Memory: `mem_context_bytes` is what is allocated before the forward (weights, buffers, input);
`mem_peak_bytes` the most allocated at once during the forward, the context included. CUDA:
`memory_allocated` and `max_memory_allocated` after `reset_peak_memory_stats`. CPU: the context
is counted from the tensors themselves (the CPU allocator keeps no running total) and the peak
adds the highest running sum of the allocations and frees that the torch profiler records
(profile_memory=True) during one extra forward.

Results file: one row per configuration, columns `COLUMNS` in that order; each finished row
is written at once: under a lock file (`.NAME.lock`, filelock) the file is read again, the row
merged in (replacing the row of the same configuration), and the result written to a temporary
file in the same folder and renamed over the old one. So any number of concurrent writers lose
and duplicate nothing, and an interrupt never leaves a half-written file. `--shard K/N` splits
the plan into disjoint parts balanced by static cost for job arrays (`shard_plan`).
"""
from __future__ import annotations

import csv
import io
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from archprof.analysis import DTYPE_BYTES, analyze
from archprof.errors import SpecError, short
from archprof.files import probe, replacing
from archprof.interrupts import handling, held
from archprof.ir.graph import Graph
from archprof.ir.ops import dims
from archprof.progress import progress_bar
from archprof.source import Network, resolve
from archprof.training import Plan, plan

COLUMNS = ["network", "params", "input", "batch", "device", "device_name", "dtype",
           "channels_last", "compile", "threads", "mode", "status", "runs", "median_ms", "iqr_ms",
           "min_ms", "ms_per_image", "images_per_s", "macs", "model_params", "static_peak_bytes",
           "mem_peak_bytes", "mem_context_bytes", "power_w", "macs_per_s", "peak_macs_per_s",
           "fraction_of_peak", "torch", "cpu", "host", "date"]
KEY = ["network", "params", "input", "batch", "device", "dtype", "channels_last", "compile",
       "threads", "mode"]
INT_COLUMNS = ["batch", "threads", "runs", "macs", "model_params", "static_peak_bytes",
               "mem_peak_bytes", "mem_context_bytes"]
FLOAT_COLUMNS = ["median_ms", "iqr_ms", "min_ms", "ms_per_image", "images_per_s", "power_w",
                 "macs_per_s", "peak_macs_per_s", "fraction_of_peak"]
BOOL_COLUMNS = ["channels_last", "compile"]
DTYPES = ("float32", "float16", "bfloat16")
# "inference", or "train-<optimizer>": a training step (archprof.training.OPTIMIZERS)
MODES = ("inference", "train-sgd", "train-momentum", "train-adam", "train-adamw")
LEGACY = [c for c in COLUMNS if c != "mode"]     # files written before the mode column
DONE = ("ok", "oom")          # statuses a rerun skips; errors are retried
MIN_RUNS, FLOOR_RUNS, REL_IQR, WARMUP = 5, 3, 0.05, 3
# the peak that `fraction_of_peak` divides by gets its own budget, never a configuration's:
# a short --budget once left the small matmuls time only (H100 float16: 3.6 TMAC/s "peak")
PEAK_BUDGET_S = 2.0

Row = dict[str, str]


# --- timing -----------------------------------------------------------------------------------
def rel_iqr(times: Sequence[float]) -> float:
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else math.inf


def repeat(step: Callable[[], float], budget_s: float, min_runs: int = MIN_RUNS,
           threshold: float = REL_IQR, floor_runs: int = FLOOR_RUNS,
           clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Call `step` (which returns one run's time) until the times are stable (relative IQR
    under `threshold` with at least `min_runs` runs) or `budget_s` seconds of `clock` have
    passed; never fewer than `floor_runs` runs, so no result rests on a single run."""
    times: list[float] = []
    start, next_check = clock(), min_runs
    while True:
        times.append(step())
        n = len(times)
        if n >= next_check:
            if rel_iqr(times) < threshold:
                return times
            next_check = n + max(1, n // 20)     # keeps the checks O(n) over long runs
        if n >= floor_runs and clock() - start >= budget_s:
            return times


@dataclass
class Measurement:
    times_ms: list[float]
    mem_peak_bytes: int | None = None
    mem_context_bytes: int | None = None
    power_w: float | None = None

    @property
    def runs(self) -> int:
        return len(self.times_ms)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.times_ms))

    @property
    def iqr_ms(self) -> float:
        q1, q3 = np.percentile(self.times_ms, [25, 75])
        return float(q3 - q1)

    @property
    def min_ms(self) -> float:
        return float(min(self.times_ms))


def measure(model: Callable[[Any], Any], example: Any, device: str | torch.device, *,
            budget_s: float = 10.0, warmup: int = WARMUP, min_runs: int = MIN_RUNS,
            threshold: float = REL_IQR, memory: bool = True) -> Measurement:
    """Time `model(example)` on `device` (see the module docstring for method and memory).
    The model must already be on the device in eval mode."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    # events and streams belong to the current CUDA device: make it the one measured
    on_device = torch.cuda.device(device) if cuda else nullcontext()
    with torch.inference_mode(), _cudnn_benchmark(cuda), on_device:
        for _ in range(warmup):
            model(example)
        if cuda:
            return _measure_cuda(model, example, device, budget_s, min_runs, threshold, memory)
        def step() -> float:
            t0 = time.perf_counter_ns()
            model(example)
            return (time.perf_counter_ns() - t0) / 1e6
        result = Measurement(repeat(step, budget_s, min_runs, threshold))
        if memory:
            result.mem_context_bytes = _tensor_bytes(model, example)
            result.mem_peak_bytes = result.mem_context_bytes + _cpu_peak_delta(model, example)
        return result


def _measure_cuda(model: Callable[[Any], Any], example: Any, device: torch.device,
                  budget_s: float, min_runs: int, threshold: float, memory: bool) -> Measurement:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    power: list[float] = []
    can_power = _power_draw(device) is not None

    def step() -> float:
        start.record()
        model(example)
        end.record()
        end.synchronize()
        if can_power:     # sampled between runs: NVML reports an average over its own window
            power.append(_power_draw(device) or 0.0)
        return start.elapsed_time(end)

    torch.cuda.synchronize(device)
    context = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    result = Measurement(repeat(step, budget_s, min_runs, threshold))
    torch.cuda.synchronize(device)
    if memory:
        result.mem_context_bytes = context
        result.mem_peak_bytes = torch.cuda.max_memory_allocated(device)
    result.power_w = float(np.mean(power)) if power else None
    return result


def measure_train(model: torch.nn.Module, example: torch.Tensor, device: str | torch.device,
                  optimizer: str = "adam", *, budget_s: float = 10.0, warmup: int = WARMUP,
                  min_runs: int = MIN_RUNS, threshold: float = REL_IQR) -> Measurement:
    """Time training steps of `model` on `example`: zero_grad, forward, cross-entropy (summed
    over the outputs, against random labels), backward, optimizer step. The warm-up steps
    allocate the optimizer state, so the peak is a steady-state step's. CUDA: events and
    max_memory_allocated after reset_peak_memory_stats; CPU: tensors and optimizer state plus
    the profiler's peak of one more step. The model must already be on the device."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    model.train()
    opt = make_optimizer(optimizer, model.parameters())
    scores = model(example[:1])
    classes = (scores[0] if isinstance(scores, tuple) else scores).shape[1]
    labels = torch.randint(0, classes, (example.shape[0],), device=device)
    del scores

    def step(_: Any = None) -> None:
        opt.zero_grad()
        out = model(example)
        outs = out if isinstance(out, tuple) else (out,)
        torch.stack([torch.nn.functional.cross_entropy(o.float(), labels) for o in outs]).sum().backward()
        opt.step()

    on_device = torch.cuda.device(device) if cuda else nullcontext()
    with _cudnn_benchmark(cuda), on_device:
        for _ in range(max(warmup, 1)):
            step()
        if cuda:
            return _measure_cuda(step, None, device, budget_s, min_runs, threshold, True)

        def timed() -> float:
            t0 = time.perf_counter_ns()
            step()
            return (time.perf_counter_ns() - t0) / 1e6
        result = Measurement(repeat(timed, budget_s, min_runs, threshold))
        state = [t for v in opt.state.values() for t in v.values() if isinstance(t, torch.Tensor)]
        grads = [p.grad for p in model.parameters() if p.grad is not None]   # until zero_grad
        result.mem_context_bytes = _tensor_bytes(model, example) + labels.untyped_storage().nbytes() \
            + sum(t.untyped_storage().nbytes() for t in state + grads)
        result.mem_peak_bytes = result.mem_context_bytes + _cpu_peak_delta(step, None)
        return result


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizers archprof.training models, with foreach steps (what GPUs use)."""
    if name == "adam":
        return torch.optim.Adam(params, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, foreach=True)
    return torch.optim.SGD(params, lr=0.01, momentum=0.9 if name == "momentum" else 0.0,
                           foreach=True)


def _power_draw(device: torch.device) -> float | None:
    """Board power in W through NVML, None where the device or driver does not report it."""
    try:
        return torch.cuda.power_draw(device) / 1000.0
    except Exception:   # noqa: BLE001 - pynvml missing, not NVIDIA, or not supported: no number
        return None


@contextmanager
def _cudnn_benchmark(on: bool) -> Iterator[None]:
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or old
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def _tensor_bytes(model: Any, example: Any) -> int:
    """Bytes of the distinct storages of the model's parameters and buffers plus the input."""
    tensors = [example] if isinstance(example, torch.Tensor) else []
    if isinstance(model, torch.nn.Module):
        tensors += [*model.parameters(), *model.buffers()]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def _cpu_peak_delta(model: Callable[[Any], Any], example: Any) -> int:
    """Highest running sum of CPU allocations minus frees during one forward (profiler)."""
    from torch.profiler import ProfilerActivity, profile
    with held(signal.SIGINT, signal.SIGTERM), _quiet_stderr(), \
            profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(example)
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU)
    running = peak = 0
    for _, nbytes in events:
        running += nbytes
        peak = max(peak, running)
    return peak


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Kineto prints start/stop lines on fd 2 for every trace; they would break the progress
    bar. Only the profiled forward is silenced (the same forward already ran unsilenced)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_matmul(device: str | torch.device, dtype: str | torch.dtype = "float32",
                budget_s: float = PEAK_BUDGET_S) -> float:
    """Attainable MAC/s on `device`: the best rate of square matmuls (n^3 MACs each, fastest
    run: interference from other work only ever slows a run down), n doubling from 256 while
    the next size still fits the remaining budget (fp16 on a CPU is slow: it stops early).
    Each size gets an equal share of what is left, so launch jitter at the small sizes (whose
    runs never settle) cannot starve the large ones that reach the peak. CUDA float32: the
    matmuls run in the precision cuDNN's convolutions use (TF32 by default), so a CNN's
    fraction of peak compares like with like."""
    device = torch.device(device)
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    sizes = [256 * 2**k for k in range(6)]                   # up to 8192
    best, deadline = 0.0, time.perf_counter() + budget_s
    with _matmul_precision_of_convs(device.type == "cuda"):
        for i, n in enumerate(sizes):
            try:
                a = torch.randn(n, n, device=device, dtype=dtype)
                b = torch.randn(n, n, device=device, dtype=dtype)
                share = max(deadline - time.perf_counter(), 0.0) / (len(sizes) - i)
                m = measure(a.matmul, b, device, budget_s=share, warmup=1, memory=False)
            except (RuntimeError, MemoryError) as err:
                if best and is_oom(err):     # a small device: the sizes that fitted decide
                    break
                raise
            best = max(best, n**3 / (m.min_ms / 1e3))
            # the next size costs 8x per run; it needs warm-up plus FLOOR_RUNS runs
            if 8 * m.median_ms / 1e3 * (FLOOR_RUNS + 1) > deadline - time.perf_counter():
                break
    return best


@contextmanager
def _matmul_precision_of_convs(cuda: bool) -> Iterator[None]:
    matmul = torch.backends.cuda.matmul
    old = matmul.fp32_precision
    if cuda:
        matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision  # type: ignore[attr-defined]  # set at import, not in the stubs
    try:
        yield
    finally:
        matmul.fp32_precision = old


# --- results file -----------------------------------------------------------------------------
LOCK_TIMEOUT_S = 120.0     # a writer holds the lock for one read-merge-replace: milliseconds


class ResultsFile:
    """One results CSV shared by any number of writers (processes, machines on one file
    system): every change is a read-merge-replace under a lock file next to it, so no writer's
    row is lost and none is duplicated (a row replaces the row of the same configuration)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[Row] = read_rows(self.path, True) if self.path.exists() else []

    def create(self) -> None:
        """Write the header now if the file is new, so that an unwritable path fails early."""
        with self.lock():
            if not self.path.exists():
                write_rows(self.path, [])

    def find(self, key: tuple[str, ...]) -> Row | None:
        """The row of this configuration as of the last read (the start, or the last put)."""
        return next((r for r in self.rows if _key(r) == key), None)

    def put(self, row: Row) -> None:
        """Replace the row of the same configuration (or append) in the file as it is now."""
        key = _key(row)
        with self.lock():
            current = read_rows(self.path, True) if self.path.exists() else []
            self.rows = [r for r in current if _key(r) != key] + [row]
            write_rows(self.path, self.rows)

    @contextmanager
    def lock(self) -> Iterator[None]:
        from filelock import FileLock, Timeout

        lock = FileLock(self.path.with_name(f".{self.path.name}.lock"), timeout=LOCK_TIMEOUT_S)
        probe(self.path)        # a place no file can be made: now, not after the timeout
        try:
            lock.acquire()
        except Timeout:
            raise SpecError(f"another writer has held {lock.lock_file} for {LOCK_TIMEOUT_S:.0f} s",
                            file=str(self.path)) from None
        except OSError as err:
            raise SpecError(f"cannot write results there: {err.strerror}",
                            file=str(self.path)) from None
        try:
            yield
        finally:
            lock.release()


def read_rows(path: Path, writing: bool = False) -> list[Row]:
    """A results CSV's rows, every cell checked; a file that is not one raises SpecError naming
    the file, the line and the column (`writing`: and that it is left as it is)."""
    return [row for _, row in read_numbered_rows(path, writing)]


def read_numbered_rows(path: Path, writing: bool = False) -> list[tuple[int, Row]]:
    """(line number, row) of each row of a results CSV (see `read_rows`)."""
    def bad(why: str, line: int | None = None) -> SpecError:
        return SpecError(f"{why}: not an archprof results file" + (
            " (left as it is: fix or move it, or choose another --out)" if writing else ""),
            file=str(path), line=line)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise bad(f"byte {err.start} is not UTF-8 text") from None
    except OSError as err:
        raise SpecError(f"cannot read results: {err.strerror}", file=str(path)) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise bad("the file is empty, without even the header")
        columns = _check_header(header, bad)
        rows = []
        for record in reader:
            rows.append((reader.line_num, _check_record(record, columns, reader.line_num, bad)))
    except csv.Error as err:
        raise bad(str(err), reader.line_num) from None
    return rows


def _check_header(header: list[str], bad: Callable[..., SpecError]) -> list[str]:
    """The file's columns: archprof's, or those of a file written before the mode column."""
    if header in (COLUMNS, LEGACY):
        return header
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise bad(f"the header lacks column{'s' * (len(missing) > 1)} {', '.join(missing)}", 1)
    first = next(i for i, name in enumerate(header) if i >= len(COLUMNS) or name != COLUMNS[i])
    expected = f"'{COLUMNS[first]}'" if first < len(COLUMNS) else f"only {len(COLUMNS)} columns"
    raise bad(f"column {first + 1} of the header is '{header[first]}', expected {expected}", 1)


def _check_record(record: list[str], columns: list[str], line: int,
                  bad: Callable[..., SpecError]) -> Row:
    if len(record) < len(columns):
        after = f"column {len(record)} ({columns[len(record) - 1]})" if record else "no column"
        raise bad(f"the row ends after {after}, expected {len(columns)} columns (truncated?)",
                  line)
    if len(record) > len(columns):
        raise bad(f"the row has {len(record)} columns, expected {len(columns)}", line)
    for number, (column, value) in enumerate(zip(columns, record), start=1):
        why = _cell_problem(column, value)
        if why:
            raise bad(f"column {number} ({column}): {short(value)} {why}", line)
    row = {"mode": "inference"} | dict(zip(columns, record))     # older files: inference
    return {c: row[c] for c in COLUMNS}


def _cell_problem(column: str, value: str) -> str | None:
    """Why `value` cannot be a cell of `column`, or None when it can."""
    if column in BOOL_COLUMNS:
        return None if value in ("True", "False") else "is not True or False"
    if column in KEY and column != "params" and not value:
        return "is empty"
    if value and column in INT_COLUMNS:
        try:
            int(value)
        except ValueError:
            return "is not a whole number"
    if value and column in FLOAT_COLUMNS:
        try:
            float(value)
        except ValueError:
            return "is not a number"
    return None


def write_rows(path: Path, rows: Iterable[Row]) -> None:
    """Write atomically (archprof.files), on disk before it replaces the old file."""
    path = Path(path)
    try:
        with replacing(path, sync=True) as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows([r[c] for c in COLUMNS] for r in rows)
    except OSError as err:
        raise SpecError(f"cannot write results there: {err.strerror or err}", file=str(path)) from None


def merge_rows(paths: Iterable[str | Path]) -> list[Row]:
    """The rows of several results files, in order, each configuration once: a row found again
    identical is dropped; the same configuration with different results is a SpecError naming
    both places (measured twice: keep one file's row, or rerun it with --force)."""
    seen: dict[tuple[str, ...], tuple[str, int, Row]] = {}
    for path in paths:
        for line, row in read_numbered_rows(Path(path)):
            key = _key(row)
            if key not in seen:
                seen[key] = (str(path), line, row)
                continue
            first_path, first_line, first = seen[key]
            differ = [c for c in COLUMNS if first[c] != row[c]]
            if differ:
                what = ", ".join(f"{c} {first[c] or '-'} vs {row[c] or '-'}" for c in differ[:3])
                raise SpecError(f"{_describe(key)} is in {first_path}:{first_line} and "
                                f"{path}:{line} with different results ({what}); keep one of them")
    return [row for _, _, row in seen.values()]


def _describe(key: tuple[str, ...]) -> str:
    row = dict(zip(KEY, key))
    text = f"{row['network']} {row['input']} batch {row['batch']} on {row['device']} {row['dtype']}"
    return text + (f" with {row['params']}" if row["params"] else "")


def to_frame(rows: Sequence[Row], source: str = "results") -> pd.DataFrame:
    """Typed DataFrame of rows as written: nullable integers, floats (NaN where empty), bools."""
    df = pd.DataFrame(list(rows), columns=COLUMNS, dtype=object)
    try:
        for c in INT_COLUMNS:
            df[c] = pd.to_numeric(df[c].replace("", None)).astype("Int64")
        for c in FLOAT_COLUMNS:
            df[c] = pd.to_numeric(df[c].replace("", None)).astype(float)
    except (ValueError, TypeError) as err:
        raise SpecError(f"not an archprof results file ({err})", file=source) from None
    for c in BOOL_COLUMNS:
        if not df[c].isin(["True", "False"]).all():
            raise SpecError(f"not an archprof results file ({c} must be True or False)",
                            file=source)
        df[c] = df[c] == "True"
    return df


def load_results(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One or more results files merged (schema `COLUMNS`, each configuration once, see
    `merge_rows`); SpecError names a bad file, line and column, or a conflict."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return to_frame(merge_rows(paths), ", ".join(map(str, paths)))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _key(row: Row) -> tuple[str, ...]:
    return tuple(row[c] for c in KEY)


# --- environment ------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_device(device: str | None) -> torch.device:
    """'cpu', 'cuda' or 'cuda:N' (None: CUDA when available), with the CUDA index filled in."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise SpecError(f"unknown device '{device}' (use cpu, cuda or cuda:N)") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise SpecError(f"unsupported device '{device}' (use cpu, cuda or cuda:N)")
    if not torch.cuda.is_available():
        raise SpecError(f"device '{device}' asked for, but CUDA is not available here")
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise SpecError(f"device '{device}': only {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def is_oom(err: BaseException) -> bool:
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


# --- sweep ------------------------------------------------------------------------------------
@dataclass
class _Network:
    """What is known about one network before measuring: what was named (a spec or a callable,
    resolved by archprof.source), its static numbers and input."""
    source: Network
    macs: int
    params: int
    peak_activations: int
    train: Plan | None = None      # training modes: the static step, for its peak

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def graph(self) -> Graph:
        return self.source.graph


def sweep(names: Sequence[str], batch_sizes: Sequence[int] = (1,), device: str | None = None,
          dtype: str = "float32", channels_last: bool = False, compile: bool = False,
          threads: int | None = None, params: dict[str, Any] | None = None,
          input: tuple[int, ...] | None = None, out: str | Path = Path("reports/results.csv"),
          force: bool = False, budget_s: float = 10.0, progress: bool = True,
          shard: tuple[int, int] | None = None, mode: str = "inference") -> pd.DataFrame:
    """Measure every network at every batch size; each finished row goes into `out` at once.
    Returns the rows of this sweep: measured now, or skipped because `out` already has them
    with status ok or oom (`force` measures them again and replaces them). `shard` (k, n):
    only the k-th of n disjoint parts of the plan (`shard_plan`), for one job of an array.
    `mode`: inference, or train-<optimizer> (training steps, see measure_train; MACs forward +
    backward)."""
    if dtype not in DTYPES:
        raise SpecError(f"unknown dtype '{dtype}' (use {', '.join(DTYPES)})")
    if mode not in MODES:
        raise SpecError(f"unknown mode '{mode}' (use {', '.join(MODES)})")
    if not batch_sizes or min(batch_sizes) < 1:
        raise SpecError("batch sizes must be positive integers")
    if threads is not None and threads < 1:
        raise SpecError("threads must be at least 1")
    dev = resolve_device(device)
    params = dict(params or {})
    results = ResultsFile(Path(out))          # a foreign file fails here, before any work
    networks = [_static(name, params, input, mode, dtype) for name in names]   # errors first
    results.create()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    env = {"device": str(dev), "device_name": _device_name(dev), "dtype": dtype,
           "channels_last": str(channels_last), "compile": str(compile),
           "threads": str(torch.get_num_threads()), "mode": mode, "torch": torch.__version__,
           "cpu": cpu_name(), "host": platform.node(), "params": _params_text(params)}
    configs = [(net, batch) for net in networks for batch in sorted(set(batch_sizes))]
    if shard is not None:
        configs = [configs[i] for i in shard_plan([n.macs * b for n, b in configs], *shard)]
    rows = [{**env, "network": net.name, "input": dims(net.graph.input), "batch": str(batch)}
            for net, batch in configs]
    kept = [None if force else _finished(results.find(_key(row))) for row in rows]
    bar = progress_bar(sum(old is None for old in kept), "bench", progress, unit="config")
    done: list[Row] = []
    peak: float | None = None
    model, built_for, oom = None, None, False
    try:
        with _sigterm_as_interrupt():
            for (net, batch), row, old in zip(configs, rows, kept):
                if built_for is not net:          # the plan is network by network
                    model, built_for, oom = None, net, False
                if old is not None:
                    oom = oom or old["status"] == "oom"
                    done.append(old)
                    continue
                bar.set_postfix_str(f"{net.name} batch {batch}")
                if oom:
                    status, m = "oom", None      # a smaller batch did not fit already
                else:
                    try:
                        if model is None:
                            model = _prepare(net, dev, dtype, channels_last, compile)
                        if peak is None:
                            peak = _session_peak(str(dev), dtype, torch.get_num_threads())
                        x = _example(net, batch, dev, dtype, channels_last)
                        m = (measure(model, x, dev, budget_s=budget_s) if net.train is None
                             else measure_train(cast(torch.nn.Module, model), x, dev,
                                                mode.split("-")[1], budget_s=budget_s))
                        del x
                        status = "ok"
                    except Exception as err:   # noqa: BLE001 - recorded as the row's status
                        m, status = None, _status(err)
                    oom = status == "oom"
                    if oom and dev.type == "cuda":   # the failed batch's blocks, now unused
                        torch.cuda.empty_cache()
                row = _row(row, net, batch, dtype, status, m, peak)
                results.put(row)
                done.append(row)
                bar.update()
            del model
    finally:
        bar.close()
        torch.set_num_threads(old_threads)
    return to_frame(done, str(out))


def _finished(row: Row | None) -> Row | None:
    """The row if a rerun keeps it (ok or oom), None if it is to be measured."""
    return row if row is not None and row["status"] in DONE else None


def shard_plan(costs: Sequence[float], k: int, n: int) -> list[int]:
    """Indices (in order) of the items in part k (1..n) of n disjoint parts that together hold
    every item once, balanced by cost: the costliest item first, each to the part with the
    least cost so far (ties: the lower part). Deterministic: every job of an array, given the
    same plan, computes the same parts."""
    if not 1 <= k <= n:
        raise SpecError(f"shard {k}/{n}: K must be between 1 and N")
    loads = [0.0] * n
    part_of = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        part = min(range(n), key=lambda p: (loads[p], p))
        part_of[i] = part
        loads[part] += costs[i]
    return [i for i in range(len(costs)) if part_of[i] == k - 1]


@cache
def _session_peak(device: str, dtype: str, threads: int) -> float:
    """peak_matmul once per process and setting: sweeps run one after another (as `archprof
    report` does, network by network) then share one peak, measured in the same run."""
    return peak_matmul(device, dtype)


def _static(name: str, params: dict[str, Any], input: tuple[int, ...] | None, mode: str,
            dtype: str) -> _Network:
    """A spec expanded, or a MODULE:CALLABLE's module traced (archprof.source): its params,
    MACs (forward, or forward + backward in training modes) and peak."""
    source = resolve(name, params, input, dtype)
    graph = source.graph
    if mode == "inference":
        t = analyze(graph).totals
        return _Network(source, t["macs"], t["params"], t["peak_activations"])
    t = analyze(graph, train=True, dtype=dtype, optimizer=mode.split("-")[1]).totals
    return _Network(source, t["train_macs"], t["params"], t["peak_activations"],
                    plan(graph, dtype, mode.split("-")[1]))


def _prepare(net: _Network, dev: torch.device, dtype: str, channels_last: bool,
             compile: bool) -> Callable[[Any], Any]:
    model = net.source.build(dev, dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
    return torch.compile(model) if compile else model


def _example(net: _Network, batch: int, dev: torch.device, dtype: str,
             channels_last: bool) -> torch.Tensor:
    x = torch.randn(batch, *net.graph.input, device=dev, dtype=getattr(torch, dtype))
    return x.to(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def _row(row: Row, net: _Network, batch: int, dtype: str, status: str, m: Measurement | None,
         peak: float | None) -> Row:
    static_peak = (net.train.peak(batch)[0] if net.train is not None
                   else net.peak_activations * batch * DTYPE_BYTES[dtype])
    static = {"macs": net.macs, "model_params": net.params, "static_peak_bytes": static_peak,
              "peak_macs_per_s": peak}
    timing: dict[str, Any] = {}
    if m is not None:
        rate = net.macs * batch / (m.median_ms / 1e3)
        timing = {"runs": m.runs, "median_ms": m.median_ms, "iqr_ms": m.iqr_ms,
                  "min_ms": m.min_ms, "ms_per_image": m.median_ms / batch,
                  "images_per_s": batch / (m.median_ms / 1e3),
                  "mem_peak_bytes": m.mem_peak_bytes, "mem_context_bytes": m.mem_context_bytes,
                  "power_w": m.power_w, "macs_per_s": rate,
                  "fraction_of_peak": rate / peak if peak else None}
    values = {**row, "status": status, **static, **timing,
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return {c: _cell(values.get(c)) for c in COLUMNS}


def _status(err: BaseException) -> str:
    if is_oom(err):
        return "oom"
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return f"error: {type(err).__name__}: {first}" if first else f"error: {type(err).__name__}"


def _params_text(params: dict[str, Any]) -> str:
    return ";".join(f"{k}={params[k]}" for k in sorted(params))


def _device_name(dev: torch.device) -> str:
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the sweep like Ctrl-C does: between atomic writes, keeping every row."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    with handling((signal.SIGTERM,), interrupt):
        yield
