"""A sweep spread over worker processes gives the rows one process gives, in grid order, and
the error the first failing variant gives."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from itertools import product
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from archprof import zoo
from archprof.cli import main
from archprof.errors import SpecError

# MobileNet v1 width x resolution: Tables 6 and 7's settings among 600 variants
ALPHAS = [1.0, 0.75, 0.5, 0.25] + [round(0.26 + 0.05 * i, 2) for i in range(16)]
RES = [224, 192, 160, 128] + [66 + 4 * i for i in range(26)]


@pytest.fixture
def parallel_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker counts the parallel path was taken with (so that a test cannot pass by
    running everything in this process)."""
    taken: list[int] = []
    real = zoo._in_parallel

    def spy(name, variants, parts, workers, advance):  # noqa: ANN001, ANN202
        taken.append(workers)
        return real(name, variants, parts, workers, advance)
    monkeypatch.setattr(zoo, "_in_parallel", spy)
    return taken


def test_workers_give_the_rows_of_one_process_in_grid_order(parallel_runs: list[int]) -> None:
    grid = {"alpha": ALPHAS, "res": RES}
    assert len(ALPHAS) * len(RES) >= zoo.PARALLEL_FROM
    alone = zoo.sweep("mobilenet_v1", grid, progress=False)
    assert parallel_runs == []
    spread = zoo.sweep("mobilenet_v1", grid, progress=False, jobs=8)
    assert parallel_runs == [len(ALPHAS) * len(RES) // zoo.WORKER_LEAST] == [2]    # not 8
    pd.testing.assert_frame_equal(spread, alone)
    macs = spread.set_index(["alpha", "res"])["macs"]
    # Howard et al. 2017, Table 6 (width at 224) and Table 7 (resolution at width 1.0); 160
    # counts 290.68M, printed 290 (README)
    assert [round(macs[a, 224] / 1e6) for a in (1.0, 0.75, 0.5, 0.25)] == [569, 325, 149, 41]
    assert [round(macs[1.0, r] / 1e6) for r in (224, 192, 160, 128)] == [569, 418, 291, 186]


def test_a_short_grid_stays_in_this_process(parallel_runs: list[int]) -> None:
    zoo.sweep("mobilenet_v1", {"alpha": ALPHAS[:4], "res": RES[:4]}, progress=False, jobs=2)
    assert parallel_runs == []


def test_a_worker_error_is_the_first_failing_variant_s_as_in_one_process(
        parallel_runs: list[int]) -> None:
    # alpha 0 gives the first conv int(32 * 0) = 0 channels; alpha 0.01 gives conv1 0 too, but
    # comes later in the grid: the error is the one a single process meets first
    grid = {"alpha": [*ALPHAS[:10], 0, *ALPHAS[10:19], 0.01], "res": RES}
    error = failure_alone_and_spread("mobilenet_v1", grid)
    assert parallel_runs == [2]
    assert "conv1" in error and "positive" in error, error
    assert error.endswith("(in the variant alpha=0, res=224)"), error


def failure_alone_and_spread(name: str, grid: dict) -> str:
    """The error of a sweep in one process, the same as over two workers."""
    errors = []
    for jobs in (1, 2):
        with pytest.raises(SpecError) as caught:
            zoo.sweep(name, grid, progress=False, jobs=jobs)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    return errors[0]


# Wide-ResNet depth x width, depth outer: a width's depths share one program (the depth is
# the count of top-level `repeat:` rows, which a program replays), spread across the grid
DEPTHS = [10 + 6 * i for i in range(8)]
WIDTHS = list(range(1, 65))


@pytest.mark.parametrize(("name", "grid", "shared"), [
    ("wrn_28_10", {"depth": DEPTHS, "k": WIDTHS}, "k"),
    ("mobilenet_v1", {"alpha": ALPHAS, "res": RES}, "alpha")])
def test_variants_that_share_a_program_go_to_one_part(name: str, grid: dict, shared: str,
                                                      parallel_runs: list[int]) -> None:
    """Each part holds every variant of the values it has of the parameter the program is keyed
    on (the other one is read by the input or a top-level repeat alone), lists positions in
    grid order, and the parts cover the grid once; the rows are those of one process."""
    cut: list[list[list[int]]] = []
    real = zoo._parts
    zoo._parts = lambda *args: cut.append(real(*args)) or cut[-1]   # type: ignore[assignment]
    try:
        spread = zoo.sweep(name, grid, progress=False, jobs=2)
    finally:
        zoo._parts = real   # type: ignore[assignment]
    assert parallel_runs == [2] and len(cut) == 1
    parts = cut[0]
    variants = [dict(zip(grid, values)) for values in product(*grid.values())]
    assert sorted(k for part in parts for k in part) == list(range(len(variants)))
    assert all(part == sorted(part) and len(part) <= zoo.PART_MOST for part in parts)
    owner = {}
    for number, part in enumerate(parts):
        for k in part:
            assert owner.setdefault(variants[k][shared], number) == number, (k, variants[k])
    assert len(parts) >= 2 * zoo.PARTS_PER_JOB // 2          # work for both workers
    alone = zoo.sweep(name, grid, progress=False, jobs=1)
    pd.testing.assert_frame_equal(spread, alone)


def test_the_first_failure_in_grid_order_wins_across_parts(parallel_runs: list[int]) -> None:
    """Parts hold a width's depths, so they are not contiguous in the grid: the first part
    fails at depth 27 (not 6N + 4) for k = 1, later in the grid than k = 0 at depth 10 (a conv
    of 0 channels), which a later part meets. As in one process, k = 0 at depth 10 raises."""
    grid = {"depth": [10, 16, 27, *DEPTHS[3:]], "k": [*WIDTHS[:50], 0, *WIDTHS[50:]]}
    error = failure_alone_and_spread("wrn_28_10", grid)
    assert parallel_runs == [2]
    assert error.endswith("(in the variant depth=10, k=0)"), error


def test_the_cli_spreads_a_long_grid_over_the_cpus(parallel_runs: list[int]) -> None:
    args = ["sweep", "mobilenet_v1", "--param", "alpha=" + ",".join(map(str, ALPHAS)),
            "--param", "res=" + ",".join(map(str, RES)), "--format", "csv"]
    outputs = []
    for jobs in ("1", "0"):
        result = CliRunner().invoke(main, [*args, "--jobs", jobs])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    workers = min(zoo.cpus(), len(ALPHAS) * len(RES) // zoo.WORKER_LEAST)
    assert parallel_runs == ([workers] if workers > 1 else [])
    assert outputs[0] == outputs[1]
    rows = pd.read_csv(io.StringIO(outputs[1]))
    assert len(rows) == len(ALPHAS) * len(RES) and list(rows["alpha"][:len(RES)]) == [1.0] * len(RES)


def processes(field: int, value: int) -> list[int]:
    """The processes whose /proc stat `field` (3: parent, 4: process group) is `value`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):     # gone meanwhile
            continue
        if int(fields[field - 2]) == value:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("when", [1, 2], ids=["as the first worker starts", "as both work"])
def test_ctrl_c_stops_the_workers_without_a_traceback_from_each(when: int) -> None:
    """Ctrl-C reaches the whole foreground process group, workers included: the sweep stops
    with click's one line for it (no traceback from the parent or any worker, no rows) and
    leaves no worker running. Sent as the first worker is forked, it came (before the workers
    started with it held) in the middle of the pool starting them: 5 of 10 runs either went
    on to print every row (the parent's KeyboardInterrupt raised in a fork hook, which
    swallows it), printed a worker's traceback, or never exited (a worker the pool did not
    know yet, never told to stop)."""
    alphas = ",".join(str(round(0.25 + 0.005 * i, 3)) for i in range(200))
    res = ",".join(str(r) for r in range(64, 464, 4))       # 20,000 variants: seconds of work
    proc = subprocess.Popen(
        [sys.executable, "-m", "archprof", "sweep", "mobilenet_v1", "--param", f"alpha={alphas}",
         "--param", f"res={res}", "--jobs", "2", "--format", "csv"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while len(processes(3, proc.pid)) < when:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.001)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and err.strip() == "Aborted!", err[-2000:]
    assert out == ""                        # stopped before the grid was done
    assert processes(4, proc.pid) == []     # no worker left in the sweep's process group
