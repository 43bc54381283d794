"""A benchmark sweep killed by a real signal (SIGINT, SIGTERM, SIGKILL) in a subprocess leaves
a valid results file holding every finished row, and a rerun resumes where it stopped.

Event-driven: the test waits for rows to appear in the file (however long a loaded machine
takes to start torch), then signals. The sweep still has at least six configurations of at least
0.4 s each to go at that moment, so it cannot finish before the signal lands."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archprof.measure.bench import load_results

# Many: a row of this tiny network can take ~20 ms once stable, and the signal must find
# the sweep unfinished after the test has seen two rows.
BATCHES = list(range(1, 33))
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
PATIENCE_S = 900      # only a hung process gets here; a slow one is waited for


def bench(spec: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "archprof", "bench", str(spec), "--device", "cpu",
               "--threads", "1", "--budget", "0.4", "--out", str(out),
               "--batch-sizes", ",".join(map(str, BATCHES))]
    # SIGINT as a terminal delivers it: a shell's background job (`pytest &`) inherits it
    # ignored, and the bench process would then never see it (exit 0, not 130)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_rows(out: Path, n: int, proc: subprocess.Popen) -> None:
    """Return once `out` holds n rows; fail if the process ends first. The file is parsed only
    when it changed (every write replaces it: a new inode or mtime)."""
    seen, deadline = None, time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        try:
            stat = out.stat()
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            version = None
        if version is not None and version != seen:
            seen = version
            if len(load_results(out)) >= n:
                return
        time.sleep(0.02)
    pytest.fail(f"no {n} rows in {out} after {PATIENCE_S} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killed_sweep_keeps_rows_and_resumes(tmp_path: Path, sig: signal.Signals) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "results.csv"
    proc = bench(spec, out)
    wait_for_rows(out, 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == {signal.SIGKILL: -signal.SIGKILL}.get(sig, 130), err.decode()[-2000:]
    assert b"\r" not in err                  # no progress bar when stderr is not a terminal
    kept = load_results(out)                 # a valid file: it parses, every row is complete
    assert 2 <= len(kept) < len(BATCHES)
    assert set(kept["status"]) == {"ok"} and kept["batch"].is_unique
    # a rerun measures only what is missing and keeps what was there
    rerun = bench(spec, out)
    _, err = rerun.communicate(timeout=PATIENCE_S)
    assert rerun.returncode == 0, err.decode()[-2000:]
    final = load_results(out)
    assert sorted(final["batch"]) == BATCHES
    before = kept.set_index("batch")["median_ms"]
    assert (final.set_index("batch").loc[before.index, "median_ms"] == before).all()
