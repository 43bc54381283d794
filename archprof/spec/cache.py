"""Parsed spec files and compiled programs kept on disk between processes, as Python keeps
bytecode.

Parsing YAML is the slowest step of a look-up in a fresh process: every command reads all
the spec files (to find a name, and to refuse one defined twice), and the shipped ones take
~80 ms to parse against ~4 ms to load from a pickle. Expanding a network's rows (expressions,
blocks, names) is the slowest step of its first analysis; what it compiles to, a program
(archprof.spec.program: ops, wiring, the decisions its rows made), is kept for the network's
default parameters. Shapes and counts are never kept: each process works them out by the op
rules, so an analysis stays cold.

One file per spec path (its parse) and per network (its program), each starting with a key:
the digest of what made it (the file's bytes, the code that parses or expands it, the YAML
library's and Python's versions, the parameter values), so an edit, an upgrade or another
Python misses and rewrites it. Written atomically (archprof.files), so concurrent processes
never read half of one; whatever cannot be read or loaded is made again. Loaded by an
unpickler that makes no objects but plain data and the loader's two classes, so a planted
file cannot run code.

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

from archprof.errors import SpecError
from archprof.files import replacing

KEY_BYTES = 32
MAX_ENTRIES = 2_000     # files kept per folder; past that the oldest quarter goes (tests write
                        # specs to new temporary paths every run)
PROGRAMS = "programs"   # the subfolder of programs
# Classes a kept entry may hold (beyond plain data): what archprof.spec.load makes (a program
# is plain data: archprof.spec.program.Program.portable).
ALLOWED = {("archprof.spec.load", "Spec"), ("archprof.spec.load", "Located"),
           ("archprof.spec.load", "LocatedList")}


def folder() -> Path | None:
    """Where entries are kept, or None when $ARCHPROF_CACHE is `off`."""
    chosen = os.environ.get("ARCHPROF_CACHE")
    if chosen:
        return None if chosen.lower() == "off" else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "archprof"


def fetch(file: str, data: bytes) -> Any:
    """The parse kept for this file with these bytes, or None."""
    where, parser = _entry(file), _parser()
    return None if where is None or parser is None else _read(where, _key(parser, data))


def store(file: str, data: bytes, parsed: Any) -> None:
    """Keep a parse for the next process."""
    where, parser = _entry(file), _parser()
    if where is not None and parser is not None:
        _write(where, _key(parser, data), parsed)


def fetch_program(file: str, digest: bytes, name: str, values: tuple) -> Any:
    """The program kept for network `name` of spec file `file` whose bytes hash to `digest`,
    made with these parameter values (archprof.spec.memo.env_key), as Program.portable()
    gave it; or None."""
    where, key = _program_place(file, digest, name, values)
    return None if where is None else _read(where, key)


def store_program(file: str, digest: bytes, name: str, values: tuple, portable: Any) -> None:
    """Keep a network's program for the next process (one per network of a file: the last
    made)."""
    where, key = _program_place(file, digest, name, values)
    if where is not None:
        _write(where, key, portable)


def _read(where: Path, key: bytes) -> Any:
    try:
        with open(where, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    if blob[:KEY_BYTES] != key:
        return None
    try:
        return _Unpickler(io.BytesIO(blob[KEY_BYTES:])).load()
    except Exception:       # truncated, corrupt or planted: made again (and rewritten)
        return None


def _write(where: Path, key: bytes, value: Any) -> None:
    """Atomically (archprof.files); a folder that cannot be written is passed over."""
    try:
        with replacing(where, binary=True) as f:
            f.write(key)
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    except (OSError, SpecError, pickle.PicklingError, RecursionError):
        return
    _prune(where.parent)


def _prune(base: Path) -> None:
    """The oldest written entries removed while there are more than MAX_ENTRIES (another
    process may remove the same ones: a missing file is no error)."""
    try:
        with os.scandir(base) as found:
            entries = [e for e in found if e.name.endswith(".pickle")]
        if len(entries) <= MAX_ENTRIES:     # (the names alone: no stat per entry per write)
            return
        by_age = sorted((e.stat().st_mtime_ns, e.path) for e in entries)
        for _, path in by_age[:len(entries) - MAX_ENTRIES * 3 // 4]:
            Path(path).unlink(missing_ok=True)
    except OSError:
        pass


def _entry(file: str) -> Path | None:
    """Where a spec file's parse is kept (None where nothing is kept)."""
    base = folder()
    return None if base is None else base / f"{_digest(os.fsencode(file), 16).hex()}.pickle"


def _program_place(file: str, digest: bytes, name: str, values: tuple
                   ) -> tuple[Path | None, bytes]:
    """Where a network's program is kept (None where nothing is kept), and its key."""
    base, compiler = folder(), _compiler()
    if base is None or compiler is None or not digest:
        return None, b""
    network = b"\0".join((os.fsencode(file), name.encode()))
    where = base / PROGRAMS / f"{_digest(network, 16).hex()}.pickle"
    return where, _key(compiler, b"\0".join((digest, network, repr(values).encode())))


def _key(code: bytes, data: bytes) -> bytes:
    return _digest(code + data, KEY_BYTES)


def _digest(data: bytes, size: int = 64) -> bytes:
    return hashlib.blake2b(data, digest_size=size).digest()


@lru_cache(maxsize=1)
def _parser() -> bytes | None:
    """What a parse depends on besides the file: the loader's code and the names it finds
    (None where they cannot be read, e.g. from a zip: then nothing is kept) and the YAML
    library."""
    return _code(Path(__file__).with_name("load.py"), Path(__file__).with_name("memo.py"))


@lru_cache(maxsize=1)
def _compiler() -> bytes | None:
    """What a program depends on besides the spec file: the code of the spec language and of
    the IR (parsing, expansion, op rules)."""
    package = Path(__file__).parents[1]
    return _code(*sorted(package.glob("spec/*.py")), *sorted(package.glob("ir/*.py")),
                 package / "units.py", package / "errors.py")


def _code(*files: Path) -> bytes | None:
    try:
        sources = [file.read_bytes() for file in files]
    except OSError:
        return None
    return _digest(b"\0".join((*sources, yaml.__version__.encode(), sys.version.encode(),
                               str(hasattr(yaml, "CSafeLoader")).encode())))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not spec data")
        return super().find_class(module, name)
