"""Four `archprof bench` processes started together into one results file: every configuration
ends up in it exactly once (the issue-12 scenario: the last atomic replace used to win)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from archprof.measure.bench import KEY, read_rows


def test_four_concurrent_bench_processes_keep_every_row_once(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    # disjoint batch sizes per process, and batch 9 measured by all four (contended row)
    batches = [f"{k},{k + 4},9" for k in range(1, 5)]
    procs = [subprocess.Popen([sys.executable, "-m", "archprof", "bench", "lenet5", "mnist_cnn",
                               "--device", "cpu", "--threads", "1", "--budget", "0.02",
                               "--batch-sizes", b, "--out", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for b in batches]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        assert b"6 rows in" in stdout                # each reports its own six configurations
    rows = read_rows(out)
    keys = [tuple(r[c] for c in KEY) for r in rows]
    assert len(keys) == len(set(keys))               # nothing duplicated
    assert sorted((r["network"], int(r["batch"])) for r in rows) == sorted(
        (name, b) for name in ("lenet5", "mnist_cnn") for b in range(1, 10))   # nothing lost
    assert {r["status"] for r in rows} == {"ok"}
