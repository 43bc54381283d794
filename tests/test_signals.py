"""A benchmark sweep killed by a real signal (SIGINT, SIGTERM, SIGKILL) in a subprocess leaves
a valid results file holding every finished row, and a rerun resumes where it stopped."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archprof.measure.bench import load_results

BATCHES = [1, 2, 3, 4, 5, 6, 7, 8]
SPEC = """family: Test
networks:
  tiny:
    input: [3, 32, 32]
    layers:
      - {conv: 16, k: 3, p: 1, act: relu}
      - {maxpool: 2}
      - {conv: 32, k: 3, p: 1, act: relu}
      - {gap: }
      - {flatten: }
      - {linear: 10}
"""


def bench(spec: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "archprof", "bench", str(spec), "--device", "cpu",
               "--threads", "1", "--budget", "0.4", "--out", str(out),
               "--batch-sizes", ",".join(map(str, BATCHES))]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def rows(out: Path) -> int:
    return len(load_results(out)) if out.exists() else 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killed_sweep_keeps_rows_and_resumes(tmp_path: Path, sig: signal.Signals) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "results.csv"
    proc = bench(spec, out)
    deadline = time.monotonic() + 120
    while rows(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    kept = load_results(out)                   # a valid file: it parses, every row is complete
    assert 2 <= len(kept) < len(BATCHES)
    assert set(kept["status"]) == {"ok"} and kept["batch"].is_unique
    # a rerun measures only what is missing and keeps what was there
    rerun = bench(spec, out)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()[-2000:]
    final = load_results(out)
    assert sorted(final["batch"]) == BATCHES
    before = kept.set_index("batch")["median_ms"]
    assert (final.set_index("batch").loc[before.index, "median_ms"] == before).all()
