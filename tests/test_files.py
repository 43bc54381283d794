"""archprof.files.replacing: a file is written whole or not at all, by any number of writers
at once, keeping the mode of the file it replaces."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from archprof.files import replacing


def test_a_new_file_gets_what_open_gives(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        with replacing(tmp_path / "deep" / "new.txt") as f:
            f.write("één\n")
        with open(tmp_path / "plain.txt", "w") as g:
            g.write("x")
    finally:
        os.umask(umask)
    made = tmp_path / "deep" / "new.txt"
    assert made.read_bytes() == "één\n".encode()
    assert made.stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("old")
    path.chmod(0o640)
    with replacing(path, sync=True) as f:
        f.write("new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with replacing(path, binary=True) as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_concurrent_writers_never_leave_half_a_file(tmp_path: Path) -> None:
    """Four writers of four contents (1 MB each, so a write takes many system calls) and a
    reader at once: every write succeeds, every read is one whole content, and no temporary
    file is left. (With one temporary name shared by all writers, a writer finds it renamed
    away by another, or renames a file that another is still writing.)"""
    path = tmp_path / "index.html"
    contents = [bytes([65 + k]) * 1_000_000 for k in range(4)]
    torn: list[bytes] = []
    failed: list[BaseException] = []

    def write(data: bytes) -> None:
        for _ in range(10):
            try:
                with replacing(path, binary=True) as f:
                    f.write(data)
            except OSError as err:
                failed.append(err)

    def read() -> None:
        for _ in range(200):
            if path.exists():
                data = path.read_bytes()
                if data not in contents:
                    torn.append(data[:10])

    threads = [threading.Thread(target=write, args=(c,)) for c in contents]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not torn and not failed
    assert path.read_bytes() in contents
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
