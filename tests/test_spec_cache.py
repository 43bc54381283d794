"""Parsed spec files kept on disk between processes (archprof.spec.cache): a kept parse must
equal a fresh one in every value and line number, and an edit, a new parser, a damaged or
planted file, a folder that cannot be written or `ARCHPROF_CACHE=off` must never give a
wrong spec."""
from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest

from archprof.spec import cache, load
from archprof.spec.load import Located, load_file, spec_dir


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache folder, and the in-process caches emptied (as in a new process)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ARCHPROF_CACHE", str(folder))
    forget()
    yield folder
    forget()


PARSE = load._parse     # the in-process parse cache (a test may replace load._parse)


def forget() -> None:
    load._load.cache_clear()
    PARSE.cache_clear()
    load._registry.cache_clear()


def fresh(path: Path) -> Any:
    """The file parsed from its YAML, no cache of any kind."""
    return PARSE.__wrapped__(str(path), path.read_bytes())


def same_tree(a: Any, b: Any, where: str = "") -> None:
    """Equal values, equal types, and every mapping on the same line."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert getattr(a, "line", None) == getattr(b, "line", None), where
        assert list(a) == list(b), where
        for key in a:
            same_tree(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(file: str, data: bytes) -> Any:
        raise AssertionError(f"{file} was parsed again")
    monkeypatch.setattr(load, "_parse", refuse)


@pytest.mark.parametrize("path", sorted(spec_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_a_kept_parse_equals_a_fresh_one(path: Path, kept: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    load_file(path)                     # parsed, and kept
    assert len(list(kept.glob("*.pickle"))) == 1
    forget()
    no_yaml(monkeypatch)                # a new process: read back, not parsed
    again, expected = load_file(path), fresh(path)
    assert list(again) == list(expected)
    for name, spec in again.items():
        assert spec == expected[name]
        for field in ("layers", "blocks", "params", "input", "accuracy", "reference"):
            same_tree(getattr(spec, field), getattr(expected[name], field), f"{name}.{field}")
        assert spec.line == expected[name].line
    # the networks of a file still share its blocks, as a parse makes them
    assert len({id(s.blocks) for s in again.values()}) == 1


def test_an_edited_file_is_parsed_again(write_spec, kept: Path) -> None:
    path = write_spec("- conv: 8 k3\n- relu")
    assert load_file(path)["net"].layers == [{"conv": "8 k3"}, "relu"]
    path.write_text(path.read_text().replace("- relu", "- relu\n      - pool: max k2"))
    forget()
    layers = load_file(path)["net"].layers
    assert layers == [{"conv": "8 k3"}, "relu", {"pool": "max k2"}]
    assert layers[2].line == path.read_text().splitlines().index("      - pool: max k2") + 1
    assert len(list(kept.glob("*.pickle"))) == 1            # one entry per path, rewritten


def test_a_new_parser_misses(write_spec, kept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_spec("- conv: 8 k3")
    load_file(path)
    assert cache.fetch(str(path), path.read_bytes()) is not None
    monkeypatch.setattr(cache, "_parser", lambda: b"archprof.spec.load changed")
    assert cache.fetch(str(path), path.read_bytes()) is None


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_entry_is_parsed_again_and_rewritten(write_spec, kept: Path,
                                                       damage: str) -> None:
    path = write_spec("- conv: 8 k3\n- relu")
    load_file(path)
    (entry,) = kept.glob("*.pickle")
    blob = entry.read_bytes()
    entry.write_bytes({"truncated": blob[:-20], "garbage": blob[:cache.KEY_BYTES] + b"\x80junk",
                       "empty": b""}[damage])
    forget()
    assert load_file(path)["net"] == fresh(path)["net"]
    assert entry.read_bytes() == blob                       # rewritten whole


class Planted:
    """What an attacker could pickle: loading it would create `marker`."""
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return Path.touch, (self.marker,)


def test_a_planted_entry_runs_no_code(write_spec, kept: Path, tmp_path: Path) -> None:
    path = write_spec("- conv: 8 k3")
    load_file(path)
    (entry,) = kept.glob("*.pickle")
    marker = tmp_path / "ran"
    entry.write_bytes(entry.read_bytes()[:cache.KEY_BYTES] + pickle.dumps(Planted(marker)))
    forget()
    assert load_file(path)["net"] == fresh(path)["net"]
    assert not marker.exists()


def test_off_keeps_nothing(write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ARCHPROF_CACHE", "off")
    forget()
    path = write_spec("- conv: 8 k3")
    assert load_file(path)["net"] == fresh(path)["net"]
    assert not (tmp_path / "xdg").exists()
    monkeypatch.delenv("ARCHPROF_CACHE")
    assert cache.folder() == tmp_path / "xdg" / "archprof"     # the default


def test_a_folder_that_cannot_be_written_is_passed_over(write_spec, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("ARCHPROF_CACHE", str(blocked / "cache"))
    forget()
    path = write_spec("- conv: 8 k3")
    assert load_file(path)["net"] == fresh(path)["net"]
    assert blocked.read_text() == "not a folder"


def test_concurrent_writers_and_readers_see_whole_entries(write_spec, kept: Path) -> None:
    """Writers of two versions of a file and readers at once: a reader gets nothing or one
    whole version (never a mix or a torn file), and no temporary file is left."""
    path = write_spec("- conv: 8 k3")
    versions = {}
    for layers in ("- conv: 8 k3", "- conv: 16 k5\n      - relu"):
        data = path.read_bytes().replace(b"- conv: 8 k3", layers.encode())
        versions[data] = PARSE.__wrapped__(str(path), data)
    seen, errors = [], []

    def write(data: bytes) -> None:
        for _ in range(40):
            cache.store(str(path), data, versions[data])

    def read() -> None:
        for _ in range(200):
            for data, parsed in versions.items():
                got = cache.fetch(str(path), data)
                if got is not None:
                    seen.append(got)
                    if got != parsed:
                        errors.append(got)

    threads = [threading.Thread(target=write, args=(d,)) for d in versions for _ in range(2)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen and not errors
    assert [p.name for p in kept.iterdir()] == [f"{cache._entry(str(path)).name}"]
    assert os.access(kept / cache._entry(str(path)).name, os.R_OK)


def test_lines_survive_as_located_mappings(write_spec, kept: Path) -> None:
    path = write_spec("- conv: 8 k3\n- relu")
    load_file(path)
    forget()
    spec = load_file(path)["net"]
    lines = path.read_text().splitlines()
    assert isinstance(spec.layers[0], Located)
    assert spec.layers[0].line == lines.index("      - conv: 8 k3") + 1
    assert spec.line == lines.index("    input: [3, 32, 32]") + 1     # its mapping's first key


def test_the_folder_keeps_the_newest_entries(write_spec, kept: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_ENTRIES paths the oldest written quarter goes: 8 allowed, the 9th store
    leaves 6, the newest among them."""
    monkeypatch.setattr(cache, "MAX_ENTRIES", 8)
    paths = [write_spec("- conv: 8 k3", name=f"net{i}") for i in range(9)]
    for i, path in enumerate(paths):
        load_file(path)
        entry = cache._entry(str(path))
        os.utime(entry, ns=(i * 10**9, i * 10**9))      # written in this order
        assert len(list(kept.glob("*.pickle"))) == (i + 1 if i < 8 else 6)
    assert {p.name for p in kept.glob("*.pickle")} == {cache._entry(str(p)).name
                                                      for p in paths[3:]}
