"""Parsed spec files kept on disk between processes, as Python keeps bytecode.

Parsing YAML is the slowest step of a look-up in a fresh process: every command reads all
the spec files (to find a name, and to refuse one defined twice), and the shipped ones take
~80 ms to parse against ~4 ms to load from a pickle. Only the parse is kept; expansion,
shapes and counts are worked out in each process as before, so an analysis stays cold.

One file per spec path, starting with a key: the digest of the file's bytes and of the
parser (archprof.spec.load's source, the YAML library's version, Python's), so an edit, an
upgrade or another Python misses and rewrites it. Written atomically (archprof.files), so
concurrent processes never read half of one; whatever cannot be read or loaded is parsed
again. Loaded by an unpickler that makes no objects but plain data and the loader's two
classes, so a planted file cannot run code.

$ARCHPROF_CACHE: the folder (default $XDG_CACHE_HOME/archprof, else ~/.cache/archprof);
`off` turns the cache off. The folder can be deleted at any time.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from archprof.files import replacing

KEY_BYTES = 32
MAX_ENTRIES = 2_000     # spec paths kept; past that the oldest quarter goes (tests write
                        # specs to new temporary paths every run)
# Classes a cached parse may hold (beyond plain data): what archprof.spec.load makes.
ALLOWED = {("archprof.spec.load", "Spec"), ("archprof.spec.load", "Located")}


def folder() -> Path | None:
    """Where parses are kept, or None when $ARCHPROF_CACHE is `off`."""
    chosen = os.environ.get("ARCHPROF_CACHE")
    if chosen:
        return None if chosen.lower() == "off" else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "archprof"


def fetch(file: str, data: bytes) -> Any:
    """The parse kept for this file with these bytes, or None."""
    place = _place(file, data)
    if place is None:
        return None
    where, key = place
    try:
        with open(where, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    if blob[:KEY_BYTES] != key:
        return None
    try:
        return _Unpickler(io.BytesIO(blob[KEY_BYTES:])).load()
    except Exception:       # truncated, corrupt or planted: parse again (and rewrite)
        return None


def store(file: str, data: bytes, parsed: Any) -> None:
    """Keep a parse for the next process, atomically (archprof.files); a folder that cannot
    be written is passed over."""
    place = _place(file, data)
    if place is None:
        return
    where, key = place
    try:
        with replacing(where, binary=True) as f:
            f.write(key)
            pickle.dump(parsed, f, protocol=pickle.HIGHEST_PROTOCOL)
    except (OSError, pickle.PicklingError, RecursionError):
        return
    _prune(where.parent)


def _prune(base: Path) -> None:
    """The oldest written entries removed while there are more than MAX_ENTRIES (another
    process may remove the same ones: a missing file is no error)."""
    try:
        with os.scandir(base) as found:
            entries = [(e.stat().st_mtime_ns, e.path) for e in found if e.name.endswith(".pickle")]
    except OSError:
        return
    if len(entries) <= MAX_ENTRIES:
        return
    try:
        for _, path in sorted(entries)[:len(entries) - MAX_ENTRIES * 3 // 4]:
            Path(path).unlink(missing_ok=True)
    except OSError:
        pass


def _place(file: str, data: bytes) -> tuple[Path, bytes] | None:
    """The entry's path and the key it must start with; None where nothing is kept."""
    where = _entry(file)
    key = None if where is None else _key(data)
    return None if where is None or key is None else (where, key)


def _entry(file: str) -> Path | None:
    base = folder()
    if base is None:
        return None
    return base / f"{hashlib.blake2b(os.fsencode(file), digest_size=16).hexdigest()}.pickle"


def _key(data: bytes) -> bytes | None:
    parser = _parser()
    return None if parser is None else hashlib.blake2b(parser + data, digest_size=KEY_BYTES).digest()


@lru_cache(maxsize=1)
def _parser() -> bytes | None:
    """What a parse depends on besides the file: the loader's code (None where it cannot be
    read, e.g. from a zip: then nothing is kept) and the YAML library."""
    try:
        source = Path(__file__).with_name("load.py").read_bytes()
    except OSError:
        return None
    return hashlib.blake2b(b"\0".join((source, yaml.__version__.encode(), sys.version.encode(),
                                       str(hasattr(yaml, "CSafeLoader")).encode()))).digest()


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not spec data")
        return super().find_class(module, name)
