"""Files written whole or not at all: results, charts, pages, diagrams, imported specs, kept
parses and programs.

Each write goes to a temporary file of its own beside the target (so concurrent writers never
share one), which then replaces the target in one rename: a reader sees the old file or the
new one, never half of one, and a failed or interrupted write leaves the old file as it was
and no temporary file behind.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from archprof.errors import SpecError


@contextmanager
def replacing(path: Path, binary: bool = False, sync: bool = False) -> Iterator[IO[Any]]:
    """A file to write `path`'s new content to (text: UTF-8, newlines as written). `sync`:
    on disk before the rename (results a crash must not lose). The new file gets the mode of
    the one it replaces, else what a plain open() gives (not mkstemp's owner-only 0600). A
    folder that cannot hold it is a SpecError naming the target."""
    fd, tmp = _create(path)
    try:
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
            try:
                os.chmod(tmp, path.stat().st_mode & 0o777)
            except FileNotFoundError:
                pass
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def probe(path: Path) -> None:
    """A SpecError now where no file can be made beside `path` (its folder made if missing):
    a lock file there would be retried until its timeout."""
    fd, tmp = _create(path)
    os.close(fd)
    tmp.unlink()


def _create(path: Path) -> tuple[int, Path]:
    """A new file of a name no other writer has beside `path` (its folder made if missing),
    with open()'s mode (0666 less the umask)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:      # a file where a folder should be, a read-only or missing place
        raise SpecError(f"cannot write {path}: {err.strerror or err} ({err.filename})") from None
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                           0o666), tmp
        except FileExistsError:
            continue
        except OSError as err:
            raise SpecError(f"cannot write {path}: {err.strerror or err}") from None
