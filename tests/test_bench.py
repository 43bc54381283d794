"""archprof.measure.bench: repetition logic, results schema and store (atomic, resumable, foreign files
refused), OOM / error / Ctrl-C / SIGTERM paths by injection, the CLI. Tiny specs, CPU, fast."""
from __future__ import annotations

import csv
import io
import math
import os
import re
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from archprof import analyze, build, interrupts, load_spec
from archprof.cli import main
from archprof.cli.bench import bench as bench_command
from archprof.errors import SpecError
from archprof.measure import bench as B
from archprof.model import Network

TINY = """family: Test
params: {{width: 8}}
networks:
  {name}:
    input: [3, 32, 32]
    layers:
      - {{conv: width, k: 3, p: 1, act: relu, name: conv1}}
      - {{maxpool: 2, s: 2, name: pool1}}
      - {{conv: 16, k: 3, p: 1, act: relu, name: conv2}}
      - {{flatten: , name: flatten}}
      - {{linear: 10, name: fc}}
"""
FAST = {"device": "cpu", "budget_s": 0.05, "progress": False}


@pytest.fixture
def nets(tmp_path: Path) -> list[str]:
    paths = []
    for name in ("tiny_a", "tiny_b"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(TINY.format(name=name))
        paths.append(str(path))
    return paths


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "res" / "results.csv"


def files(folder: Path) -> list[str]:
    """The folder's files but the writers' lock file."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def fail_forward(monkeypatch: pytest.MonkeyPatch, error: BaseException, from_batch: int) -> list[int]:
    """Make Network.forward raise `error` for batches >= from_batch; returns the batch sizes
    that reached the forward."""
    seen: list[int] = []
    original = Network.forward

    def forward(self: Network, x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        if x.shape[0] >= from_batch:
            raise error
        return original(self, x)
    monkeypatch.setattr(Network, "forward", forward)
    return seen


# --- repetition -------------------------------------------------------------------------------
def test_repeat_stops_at_the_first_stable_point() -> None:
    values = iter([1.0, 3.0, 1.0, 3.0, 1.0, 3.0] + [2.0] * 100)
    times = B.repeat(lambda: next(values), budget_s=1e9)
    assert len(times) >= B.MIN_RUNS
    assert B.rel_iqr(times) < B.REL_IQR
    assert B.rel_iqr(times[:-1]) >= B.REL_IQR    # one run earlier it was not yet stable


def test_repeat_stable_from_the_start_needs_min_runs() -> None:
    assert len(B.repeat(lambda: 5.0, budget_s=1e9)) == B.MIN_RUNS


def test_repeat_respects_budget() -> None:
    now = [0.0]

    def step() -> float:       # alternates 1 and 10 ms: never stable; each run takes 1 s
        now[0] += 1.0
        return 1.0 if now[0] % 2 else 10.0
    times = B.repeat(step, budget_s=7.5, clock=lambda: now[0])
    assert len(times) == math.ceil(7.5 / 1.0)
    assert B.rel_iqr(times) >= B.REL_IQR


def test_repeat_never_stops_before_floor_runs() -> None:
    now = [0.0]

    def step() -> float:
        now[0] += 100.0            # each run alone is over the budget
        return now[0]
    assert len(B.repeat(step, budget_s=1.0, clock=lambda: now[0])) == B.FLOOR_RUNS


def test_measure_times_and_memory(nets: list[str]) -> None:
    model = build(nets[0])
    x = torch.randn(2, 3, 32, 32)
    m = B.measure(model, x, "cpu", budget_s=0.2)
    assert m.runs == len(m.times_ms) >= B.FLOOR_RUNS
    assert m.min_ms == min(m.times_ms) <= m.median_ms <= max(m.times_ms)
    assert m.median_ms == pytest.approx(float(np.median(m.times_ms)))
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    assert m.mem_context_bytes == weights + x.numel() * x.element_size()
    # the forward holds at least conv1's output (2 x 8 x 32 x 32 floats) beyond the context
    assert m.mem_peak_bytes - m.mem_context_bytes >= 2 * 8 * 32 * 32 * 4
    assert m.power_w is None


def test_peak_matmul_is_the_best_rate_of_its_matmuls(monkeypatch: pytest.MonkeyPatch) -> None:
    rates: list[float] = []
    real = B.measure

    def spy(model, example, device, **kwargs):  # noqa: ANN001, ANN202
        m = real(model, example, device, **kwargs)
        rates.append(example.shape[0] ** 3 / (m.min_ms / 1e3))
        return m
    monkeypatch.setattr(B, "measure", spy)
    peak = B.peak_matmul("cpu", "float32", budget_s=0.2)
    assert rates and peak == max(rates)


def test_peak_matmul_shares_its_budget_among_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each of the 6 sizes (256..8192) gets at most an equal share of what is left (size i of
    6: at most 1/(6 - i) of the budget, since time only passes): the small
    sizes, whose runs may never settle, cannot use up the time of the large ones."""
    budgets: list[float] = []
    real = B.measure

    def spy(model, example, device, **kwargs):  # noqa: ANN001, ANN202
        budgets.append(kwargs["budget_s"])
        return real(model, example, device, **kwargs)
    monkeypatch.setattr(B, "measure", spy)
    B.peak_matmul("cpu", "float32", budget_s=0.6)
    assert budgets and all(b <= 0.6 / (6 - i) for i, b in enumerate(budgets))


def test_sweep_peak_has_its_own_budget(nets: list[str], out: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A short --budget per configuration must not shorten the peak measurement (it once left
    an H100 a float16 'peak' of 3.6 TMAC/s)."""
    asked: list[float] = []
    monkeypatch.setattr(B, "peak_matmul", lambda device, dtype, budget_s=B.PEAK_BUDGET_S:
                        asked.append(budget_s) or 1e9)
    B._session_peak.cache_clear()
    df = B.sweep(nets[:1], (1,), out=out, **FAST)
    B._session_peak.cache_clear()
    assert asked == [B.PEAK_BUDGET_S] and FAST["budget_s"] < B.PEAK_BUDGET_S
    assert df["peak_macs_per_s"].tolist() == [1e9]


# --- sweep and results schema ------------------------------------------------------------------
def test_sweep_rows_schema_and_values(nets: list[str], out: Path) -> None:
    df = B.sweep(nets, (2, 1), out=out, **FAST)
    assert list(df.columns) == B.COLUMNS
    assert list(zip(df["network"], df["batch"])) == [
        ("tiny_a", 1), ("tiny_a", 2), ("tiny_b", 1), ("tiny_b", 2)]
    assert (df["status"] == "ok").all()
    with out.open(newline="") as f:
        assert next(csv.reader(f)) == B.COLUMNS
    back = B.load_results(out)
    assert back.equals(df)
    spec = load_spec(nets[0])
    static = analyze(spec).totals
    model = build(spec)
    for row in df.itertuples():
        assert row.ms_per_image == pytest.approx(row.median_ms / row.batch)
        assert row.images_per_s == pytest.approx(1000 * row.batch / row.median_ms)
        assert row.min_ms <= row.median_ms and row.iqr_ms >= 0 and row.runs >= B.FLOOR_RUNS
        assert row.macs == static["macs"]
        assert row.model_params == sum(p.numel() for p in model.parameters())
        assert row.static_peak_bytes == analyze(spec, batch=row.batch).totals["peak_bytes"]
        assert row.macs_per_s == pytest.approx(row.macs * row.batch / (row.median_ms / 1e3))
        assert row.fraction_of_peak == pytest.approx(row.macs_per_s / row.peak_macs_per_s)
        assert row.mem_peak_bytes > row.mem_context_bytes > 0
        assert (row.input, row.device, row.dtype, row.params) == ("3x32x32", "cpu", "float32", "")
        assert row.threads == torch.get_num_threads()
        assert row.torch == torch.__version__ and row.date.endswith("+00:00")
        assert math.isnan(row.power_w)


def test_sweep_params_threads_and_input_recorded(nets: list[str], out: Path) -> None:
    threads = torch.get_num_threads()
    df = B.sweep(nets[:1], (1,), params={"width": 4}, input=(3, 16, 16), threads=1, out=out,
                 **FAST)
    row = df.iloc[0]
    assert (row["params"], row["input"], row["threads"]) == ("width=4", "3x16x16", 1)
    assert row["macs"] == analyze(nets[0], params={"width": 4}, input=(3, 16, 16)).totals["macs"]
    assert torch.get_num_threads() == threads      # restored after the sweep


def test_bad_arguments_fail_before_any_work(nets: list[str], out: Path) -> None:
    for kwargs in ({"device": "tpu"}, {"dtype": "int8"}, {"params": {"nope": 1}},
                   {"batch_sizes": (0,)}):
        with pytest.raises(SpecError):
            B.sweep(nets, **{**FAST, "out": out, **kwargs})
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_asked_without_cuda_is_a_spec_error(nets: list[str], out: Path) -> None:
    with pytest.raises(SpecError, match="CUDA is not available"):
        B.sweep(nets, **{**FAST, "out": out, "device": "cuda"})


# --- store: resume, force, atomicity, foreign files -------------------------------------------
def test_rerun_skips_measured_configs_and_force_replaces(nets: list[str], out: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = B.sweep(nets, (1, 2), out=out, **FAST)
    calls: list[int] = []
    real = B.measure

    def spy(model, example, device, **kwargs):  # noqa: ANN001, ANN202 - counts network runs
        calls.extend([example.shape[0]] if isinstance(model, Network) else [])
        return real(model, example, device, **kwargs)
    monkeypatch.setattr(B, "measure", spy)
    again = B.sweep(nets, (1, 2), out=out, **FAST)
    assert calls == []
    assert again.equals(first)
    more = B.sweep(nets, (1, 2, 4), out=out, **FAST)       # only the new batch size is run
    assert calls == [4, 4] and len(more) == 6
    assert len(B.load_results(out)) == 6
    B.sweep(nets[:1], (1,), out=out, force=True, **FAST)
    assert calls == [4, 4, 1]
    after = B.load_results(out)
    assert len(after) == 6                                   # replaced, not duplicated
    assert after.iloc[-1]["network"] == "tiny_a" and after.iloc[-1]["batch"] == 1


def test_write_is_atomic(nets: list[str], out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    B.sweep(nets[:1], (1,), out=out, **FAST)
    before = out.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk gone")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SpecError, match="cannot write results there: disk gone") as err:
        B.sweep(nets[:1], (2,), out=out, **FAST)
    assert str(out) in str(err.value)
    assert out.read_bytes() == before
    assert files(out.parent) == [out.name]          # no temporary left behind


@pytest.mark.parametrize("content", [b"hello,world\n1,2\n", b"\x89PNG\r\n\x1a\n\x00\xff",
                                     b"", None])
def test_foreign_or_corrupt_results_file_is_reported_and_kept(nets: list[str], out: Path,
                                                              content: bytes | None) -> None:
    out.parent.mkdir(parents=True)
    if content is None:        # our header, then a truncated row
        content = (",".join(B.COLUMNS) + "\ntiny_a,,3x32x32,1\n").encode()
    out.write_bytes(content)
    with pytest.raises(SpecError) as err:
        B.sweep(nets, (1,), out=out, **FAST)
    assert str(out) in str(err.value)
    with pytest.raises(SpecError, match="not an archprof results file"):
        B.load_results([out])
    assert out.read_bytes() == content


def test_bad_value_in_a_numeric_column_is_reported(nets: list[str], out: Path) -> None:
    B.sweep(nets[:1], (1,), out=out, **FAST)
    text = out.read_text().splitlines()
    row = text[1].split(",")
    row[B.COLUMNS.index("median_ms")] = "fast"
    out.write_text("\n".join([text[0], ",".join(row)]) + "\n")
    with pytest.raises(SpecError, match=str(out)):
        B.load_results(out)


def test_load_results_concatenates_files(nets: list[str], tmp_path: Path) -> None:
    a = B.sweep(nets[:1], (1, 2), out=tmp_path / "a.csv", **FAST)
    b = B.sweep(nets[1:], (1,), out=tmp_path / "b.csv", **FAST)
    both = B.load_results([tmp_path / "a.csv", tmp_path / "b.csv"])
    assert len(both) == len(a) + len(b) == 3
    assert list(both["network"]) == ["tiny_a", "tiny_a", "tiny_b"]


def row_for(network: str, batch: int, median_ms: str = "1.0") -> dict[str, str]:
    """A results row written by hand (only the key and one timing set)."""
    row = {c: "" for c in B.COLUMNS}
    row.update(network=network, input="3x32x32", batch=str(batch), device="cpu", dtype="float32",
               channels_last="False", compile="False", threads="1", mode="inference", status="ok",
               median_ms=median_ms)
    return row


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """Eight threads, each with its own ResultsFile (its own lock handle), put 25 rows each into
    one file; two of them also rewrite a row every thread writes (batch 0)."""
    out = tmp_path / "shared.csv"
    B.ResultsFile(out).create()

    def writer(t: int) -> None:
        results = B.ResultsFile(out)
        for i in range(25):
            results.put(row_for(f"net{t}", i + 1))
            if i % 10 == 0:
                results.put(row_for("everyone", 0, median_ms=str(t)))
    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = B.read_rows(out)
    keys = [(r["network"], r["batch"]) for r in rows]
    assert len(keys) == len(set(keys)) == 8 * 25 + 1
    assert set(keys) == {(f"net{t}", str(i + 1)) for t in range(8) for i in range(25)} | {
        ("everyone", "0")}


def test_shard_plan_parts_are_disjoint_complete_balanced_and_deterministic() -> None:
    costs = [float(c) for c in (90, 5, 40, 40, 7, 1, 300, 12, 12, 60, 2, 33)]
    for n in (1, 2, 3, 5, 12, 15):
        parts = [B.shard_plan(costs, k, n) for k in range(1, n + 1)]
        assert sorted(i for part in parts for i in part) == list(range(len(costs)))
        assert all(part == sorted(part) for part in parts)          # plan order kept
        loads = [sum(costs[i] for i in part) for part in parts]
        # greedy onto the least loaded part: no part exceeds another by more than its costliest
        # item, and the costliest item (300) alone bounds the largest part from below
        for part, load in zip(parts, loads):
            assert load - min(loads) <= max((costs[i] for i in part), default=0)
        assert parts == [B.shard_plan(costs, k, n) for k in range(1, n + 1)]
    # by hand: 300 to part 1; 90, 60, 40, 40, 33, 12, 12, 7, 5, 2 (= 301) to part 2, each while
    # it is the lighter; the last item (1) to part 1 at 300 < 301: 301 each
    assert B.shard_plan(costs, 1, 2) == [5, 6]
    with pytest.raises(SpecError, match="between 1 and N"):
        B.shard_plan(costs, 3, 2)


def test_sharded_sweeps_cover_the_plan_once_and_merge(nets: list[str], tmp_path: Path) -> None:
    whole = B.sweep(nets, (1, 2, 3), out=tmp_path / "all.csv", **FAST)
    parts = [B.sweep(nets, (1, 2, 3), out=tmp_path / f"part{k}.csv", shard=(k, 2), **FAST)
             for k in (1, 2)]
    keys = [set(zip(p["network"], p["batch"])) for p in parts]
    assert keys[0] and keys[1] and not keys[0] & keys[1]
    assert keys[0] | keys[1] == set(zip(whole["network"], whole["batch"]))
    # balanced by MACs x batch: the two tiny networks cost the same, so 3 configs each
    assert len(parts[0]) == len(parts[1]) == 3
    merged = tmp_path / "merged.csv"
    result = CliRunner().invoke(main, ["merge", str(tmp_path / "part1.csv"),
                                       str(tmp_path / "part2.csv"), "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert "6 rows from 2 files" in result.output
    rows = B.read_rows(merged)
    assert sorted(rows, key=lambda r: (r["network"], r["batch"])) == sorted(
        B.read_rows(tmp_path / "part1.csv") + B.read_rows(tmp_path / "part2.csv"),
        key=lambda r: (r["network"], r["batch"]))
    again = CliRunner().invoke(main, ["merge", str(tmp_path / "part1.csv"), "-o", str(merged)])
    assert again.exit_code == 0 and len(B.read_rows(merged)) == 6    # identical rows: once


def test_report_shards_split_the_networks_by_macs(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from archprof.measure import report
    swept: list[list[str]] = []
    monkeypatch.setattr(B, "sweep", lambda names, batch_sizes, **kw: swept.append(list(names)))
    names = ["alexnet", "resnet18", "resnet50", "vgg16", "zfnet"]
    for k in (1, 2):      # "cuda" is only a label here: the sweep is replaced, no README written
        assert report.run(out=tmp_path, names=names, device="cuda", shard=(k, 2)) is None
    assert sorted(swept[0] + swept[1]) == names and not set(swept[0]) & set(swept[1])
    macs = {n: analyze(n).totals["macs"] for n in names}
    # VGG-16 (15.5 G) outweighs the four others together (about 7.6 G): it is a part alone
    assert macs["vgg16"] > sum(macs.values()) - macs["vgg16"]
    assert swept == [["vgg16"], ["alexnet", "resnet18", "resnet50", "zfnet"]]


def test_merge_rejects_the_same_config_with_different_results(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    B.write_rows(a, [row_for("n", 1), row_for("n", 2)])
    B.write_rows(b, [row_for("n", 3), row_for("n", 2, median_ms="2.5")])
    result = CliRunner().invoke(main, ["merge", str(a), str(b), "-o", str(tmp_path / "m.csv")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert f"{a}:3 and {b}:3" in result.output and "median_ms 1.0 vs 2.5" in result.output
    assert not (tmp_path / "m.csv").exists()
    with pytest.raises(SpecError, match="different results"):
        B.load_results([a, b])                    # plot and report read several files so too


def damaged(text: str, damage: str) -> str:
    """The results file's text with one kind of damage: the last row cut after its tenth cell
    (as a killed copy or a full disk leaves it), a header column renamed, a bad cell."""
    records = list(csv.reader(io.StringIO(text)))
    if damage == "truncated":
        records[-1] = records[-1][:10]
    elif damage == "header":
        records[0][records[0].index("median_ms")] = "median"
    elif damage == "runs":
        records[1][B.COLUMNS.index("runs")] = "three"
    elif damage == "bool":
        records[1][B.COLUMNS.index("channels_last")] = "maybe"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(records)
    return buffer.getvalue().rstrip("\n") if damage == "truncated" else buffer.getvalue()


@pytest.mark.parametrize("damage, where", [
    ("truncated", "results.csv:3: the row ends after column 10 (threads)"),
    ("header", "results.csv:1: the header lacks column median_ms"),
    ("runs", "results.csv:2: column 13 (runs): 'three' is not a whole number"),
    ("bool", "results.csv:2: column 8 (channels_last): 'maybe' is not True or False"),
])
def test_damaged_results_file_is_one_line_naming_file_line_and_column(
        nets: list[str], out: Path, damage: str, where: str) -> None:
    B.sweep(nets[:1], (1, 2), out=out, **FAST)
    out.write_text(damaged(out.read_text(), damage))
    before = out.read_bytes()
    for args in (["bench", nets[0], "--device", "cpu", "--out", str(out)],
                 ["merge", str(out), "-o", str(out.parent / "m.csv")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
        assert where in result.output, result.output
    assert out.read_bytes() == before and not (out.parent / "m.csv").exists()


# --- OOM, errors, interruption -----------------------------------------------------------------
@pytest.mark.parametrize("error", [MemoryError(),
                                   RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("DefaultCPUAllocator: can't allocate memory")])
def test_oom_is_recorded_and_larger_batches_are_not_tried(nets: list[str], out: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          error: BaseException) -> None:
    seen = fail_forward(monkeypatch, error, from_batch=4)
    df = B.sweep(nets, (1, 2, 4, 8), out=out, **FAST)
    assert list(df["status"]) == ["ok", "ok", "oom", "oom"] * 2
    assert 8 not in seen                       # recorded as oom without running it
    oom = df[df["status"] == "oom"]
    assert oom["median_ms"].isna().all() and oom["runs"].isna().all()
    assert (oom["static_peak_bytes"] > 0).all()
    # a rerun keeps the oom rows: nothing is measured again
    seen.clear()
    B.sweep(nets, (1, 2, 4, 8), out=out, **FAST)
    assert seen == []


def test_other_errors_are_recorded_and_retried(nets: list[str], out: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fail_forward(monkeypatch, ValueError("shape mismatch\nmore detail"), from_batch=2)
    df = B.sweep(nets[:1], (1, 2, 4), out=out, **FAST)
    assert list(df["status"]) == ["ok", "error: ValueError: shape mismatch",
                                  "error: ValueError: shape mismatch"]
    monkeypatch.undo()
    df = B.sweep(nets[:1], (1, 2, 4), out=out, **FAST)
    assert list(df["status"]) == ["ok", "ok", "ok"]
    assert len(B.load_results(out)) == 3


@pytest.mark.parametrize("interrupt", ["ctrl-c", "sigterm"])
def test_interrupt_keeps_finished_rows(nets: list[str], out: Path,
                                       monkeypatch: pytest.MonkeyPatch, interrupt: str) -> None:
    original = Network.forward

    def forward(self: Network, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 4:
            if interrupt == "ctrl-c":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, x)
    monkeypatch.setattr(Network, "forward", forward)
    old_handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        B.sweep(nets, (1, 2, 4), out=out, **FAST)
    assert signal.getsignal(signal.SIGTERM) == old_handler
    kept = B.load_results(out)
    assert list(zip(kept["network"], kept["batch"], kept["status"])) == [
        ("tiny_a", 1, "ok"), ("tiny_a", 2, "ok")]
    assert files(out.parent) == [out.name]
    monkeypatch.undo()
    df = B.sweep(nets, (1, 2, 4), out=out, **FAST)           # resumes where it stopped
    assert (df.iloc[:2]["date"] == kept["date"]).all()
    assert len(B.load_results(out)) == 6


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_the_profiled_forward_waits_for_the_profiler(signum: int) -> None:
    """A signal that lands while the CPU peak is profiled is acted on once the profiler has
    stopped: the forward finishes, the profiler is off, then KeyboardInterrupt (SIGTERM too,
    as a sweep turns it into one). Interrupted inside, torch.profiler was left half stopped
    ("Requested callback is not found") and the process died of SIGSEGV at exit instead of
    exiting with 130, in 2 of ~94 runs interrupted while profiling."""
    model = torch.nn.Conv2d(3, 8, 3)
    ran = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        signal.raise_signal(signum)
        ran.append("the rest of the forward")
        return model(x)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), B._sigterm_as_interrupt():
        B._cpu_peak_delta(forward, torch.zeros(1, 3, 8, 8))
    assert ran == ["the rest of the forward"]
    assert not torch.autograd.profiler._is_profiler_enabled
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_a_signal_held_for_the_profiler_goes_to_the_handler_there_before() -> None:
    """Held signals are delivered again to the handler in place before the block: ignored
    SIGINT (a background job) stays ignored."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts.held(signal.SIGINT, signal.SIGTERM):
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


# --- CLI ---------------------------------------------------------------------------------------
def test_cli_measures_and_summarises(nets: list[str], out: Path) -> None:
    result = CliRunner().invoke(bench_command, [*nets, "--batch-sizes", "2,1", "--device", "cpu",
                                                "--budget", "0.05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    df = B.load_results(out)
    assert list(zip(df["network"], df["batch"])) == [
        ("tiny_a", 1), ("tiny_a", 2), ("tiny_b", 1), ("tiny_b", 2)]
    assert "tiny_b" in result.output and f"4 rows in {out}" in result.output


@pytest.mark.parametrize("args", [["--batch-sizes", "1,x"], ["--device", "tpu"],
                                  ["--param", "nope=1"], ["--input", "3x0x2"], []])
def test_cli_bad_input_exits_2(nets: list[str], out: Path, args: list[str]) -> None:
    names = nets[:1] if args else []           # no names and no --all is an error too
    device = [] if "--device" in args else ["--device", "cpu"]
    result = CliRunner().invoke(bench_command, [*names, *device, "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert not out.exists()


# --- CUDA ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sweep_reports_memory_and_device(nets: list[str], out: Path) -> None:
    df = B.sweep(nets[:1], (1, 2), out=out, **{**FAST, "device": "cuda"})
    assert (df["device"] == f"cuda:{torch.cuda.current_device()}").all()
    assert (df["status"] == "ok").all()
    assert (df["mem_peak_bytes"] >= df["mem_context_bytes"]).all()
    model = build(nets[0])
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert (df["mem_context_bytes"] >= weights).all()
    assert (df["device_name"] == torch.cuda.get_device_name()).all()


def test_bench_module_not_needed_for_cli_import() -> None:
    import subprocess
    import sys
    code = ("import sys, archprof.cli, archprof.cli.bench; "
            "print('archprof.measure.bench' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]


def test_bench_table_compares_memory_like_with_like(tmp_path: Path) -> None:
    """The printed memory columns have one scope per row: an inference's activations above
    the weights and input (measured: peak minus the context; static: static_peak_bytes), a
    training step's whole peak (both as written in the results)."""
    from archprof.units import human_bytes
    out = tmp_path / "r.csv"
    for mode in ("inference", "train"):
        result = CliRunner().invoke(main, ["bench", "lenet5", "--device", "cpu", "--batch-sizes",
                                           "2", "--budget", "0.05", "--mode", mode, "--out",
                                           str(out)])
        assert result.exit_code == 0, result.output
        row = B.load_results(out).iloc[-1]
        measured = row["mem_peak_bytes"] - (row["mem_context_bytes"] if mode == "inference" else 0)
        line = next(x for x in result.output.splitlines() if x.startswith("lenet5"))
        cells = re.split(r"\s{2,}", line.strip())          # ... memory, static, % of peak
        assert cells[-3:-1] == [human_bytes(measured), human_bytes(row["static_peak_bytes"])]
        scope = "inference" if mode == "inference" else "training"
        assert f"memory, static ({scope})" in result.output
