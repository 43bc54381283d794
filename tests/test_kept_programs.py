"""Programs kept on disk between processes (archprof.spec.cache, archprof.spec.program): a
network's first expansion at its default parameters is kept, and the next process replays it
instead of expanding the rows. A replayed kept program must equal a full expansion in every
node, shape, count and expectation, and an edit, new code, a damaged or planted entry, a
parameter override or `ARCHPROF_CACHE=off` must never give a wrong graph. Not timed."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import archprof
from archprof.spec import cache, memo
from archprof.spec.expand import _Expander
from archprof.spec.load import load_spec
from tests.test_cache import assert_same, fresh

NAMES = sorted(archprof.registry())
WIDTHS = """
- {conv: 8, k: 3, p: 1, bn: true, act: relu}
- {block: pair, repeat: 3}
- {conv: 4, k: 3, s: 2, name: down, expect: {shape: 4x16x16}}
- {block: pair, repeat: 2}
"""
PAIR = """
pair:
  layers:
    - {conv: cin, k: 3, p: 1, bn: true, act: relu}
    - {conv: cin, k: 3, p: 1, bn: true, name: second}
    - {add: [in, second]}
"""


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache folder, nothing memoised in the process."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ARCHPROF_CACHE", str(folder))
    memo.clear()
    yield folder / cache.PROGRAMS
    memo.clear()


def refuse(self: object) -> None:
    """In place of expanding rows: a graph must come from a kept program."""
    raise AssertionError("the rows were expanded")


def new_process() -> None:
    """What a new process lacks: everything memoised (the spec files stay parsed)."""
    memo.clear()


@pytest.mark.parametrize("name", NAMES)
def test_every_network_replays_its_kept_program_exactly(name: str, kept: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reference, _ = fresh(name)
    archprof.expand(name)                       # expanded, and its program kept
    assert len(list(kept.glob("*.pickle"))) == 1
    new_process()
    monkeypatch.setattr(_Expander, "run", refuse)
    replayed = archprof.expand(name)
    assert_same(replayed, reference)


def test_the_names_found_when_parsed_are_those_the_rows_read() -> None:
    """A spec read from a file carries the names its rows (and blocks) read, found when it
    was parsed and kept with the parse: the programs are keyed on their values, so they must
    be the names found in its rows now."""
    for name in NAMES:
        spec = load_spec(name)
        memo.clear()
        assert spec.reads == memo.network_names(spec.blocks, spec.layers), name
    assert {"alpha"} <= set(load_spec("mobilenet_v1").reads or ())


def test_a_kept_program_takes_another_input_shape(kept: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept program's guards let ResNet-152 at 160x160 replay it (no rows expanded), with
    its segments worked out once per kind of bottleneck."""
    reference = fresh("resnet152", input=(3, 160, 160))[0]
    archprof.expand("resnet152")
    new_process()
    monkeypatch.setattr(_Expander, "run", refuse)
    again = archprof.expand("resnet152", input=(3, 160, 160))
    assert again.node("conv4_x.block36.conv3.conv").out == (1024, 10, 10)    # 160 / 16
    assert len(memo.SEGMENTS.entries) == 4
    assert_same(again, reference)


def test_an_edited_file_is_expanded_again(write_spec, kept: Path) -> None:
    path = write_spec(WIDTHS, blocks=PAIR)
    first = archprof.analyze(str(path)).totals
    new_process()
    path.write_text(path.read_text().replace("{conv: 8, k: 3", "{conv: 16, k: 3"))
    edited = archprof.expand(str(path))
    assert edited.node("conv1.conv").out == (16, 32, 32)
    assert archprof.analyze(edited).totals != first
    assert_same(edited, fresh(str(path))[0])
    assert len(list(kept.glob("*.pickle"))) == 1       # one entry per network: rewritten


def test_new_code_misses(write_spec, kept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_spec(WIDTHS, blocks=PAIR)
    archprof.expand(str(path))
    (entry,) = kept.glob("*.pickle")
    before = entry.read_bytes()
    new_process()
    monkeypatch.setattr(cache, "_compiler", lambda: b"another archprof")
    calls = []
    original = _Expander.run

    def counted(self: _Expander) -> object:
        calls.append(self.spec.name)
        return original(self)
    monkeypatch.setattr(_Expander, "run", counted)
    archprof.expand(str(path))
    assert calls == ["net"]
    assert entry.read_bytes()[:cache.KEY_BYTES] != before[:cache.KEY_BYTES]


@pytest.mark.parametrize("damage", [lambda b: b[:len(b) // 2], lambda b: b[:cache.KEY_BYTES]
                                    + b"garbage", lambda b: b""])
def test_a_damaged_entry_is_expanded_again_and_rewritten(damage, write_spec, kept: Path) -> None:
    path = write_spec(WIDTHS, blocks=PAIR)
    archprof.expand(str(path))
    (entry,) = kept.glob("*.pickle")
    whole = entry.read_bytes()
    entry.write_bytes(damage(whole))
    new_process()
    assert_same(archprof.expand(str(path)), fresh(str(path))[0])
    assert entry.read_bytes() == whole


def test_parts_that_do_not_fit_are_expanded_again(write_spec, kept: Path) -> None:
    """A whole entry whose columns differ in length (written by a bug, or by hand) is not
    replayed."""
    path = write_spec(WIDTHS, blocks=PAIR)
    archprof.expand(str(path))
    (entry,) = kept.glob("*.pickle")
    key = entry.read_bytes()[:cache.KEY_BYTES]
    names, *rest = cache._read(entry, key)
    entry.write_bytes(key + pickle.dumps((names[:-1], *rest)))      # one name short
    new_process()
    assert_same(archprof.expand(str(path)), fresh(str(path))[0])


def test_a_planted_entry_runs_no_code(write_spec, kept: Path, tmp_path: Path) -> None:
    path = write_spec(WIDTHS, blocks=PAIR)
    archprof.expand(str(path))
    (entry,) = kept.glob("*.pickle")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    entry.write_bytes(entry.read_bytes()[:cache.KEY_BYTES] + pickle.dumps(Payload()))
    new_process()
    assert_same(archprof.expand(str(path)), fresh(str(path))[0])
    assert not marker.exists()


def test_overridden_parameters_keep_nothing(kept: Path) -> None:
    """A sweep's variants are not written to disk: only the defaults' program is."""
    archprof.sweep("mobilenet_v1", {"alpha": [0.5, 0.75]}, progress=False)
    assert not kept.exists() or not list(kept.glob("*.pickle"))
    archprof.expand("mobilenet_v1")
    assert len(list(kept.glob("*.pickle"))) == 1


def test_off_keeps_nothing(kept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", "off")
    archprof.expand("resnet18")
    assert not kept.parent.exists()


def test_a_spec_given_other_rows_neither_reads_nor_keeps(kept: Path) -> None:
    """A copy of a spec with its own rows or blocks (made in code, not read from the file)
    is not the file's network: the program kept for the file is not replayed for it, and
    nothing is kept for it."""
    spec = load_spec("lenet5")
    archprof.expand(spec)
    (entry,) = kept.glob("*.pickle")
    before = entry.read_bytes()
    rows = [*spec.layers[:-1], {"linear": 7}]
    for other in (replace(spec, layers=rows), replace(spec, blocks=dict(spec.blocks)),
                  replace(spec, origin=None)):
        new_process()
        graph = archprof.expand(other)
        assert_same(graph, fresh(other)[0])
    assert graph.nodes[-1].out == (10,)
    assert archprof.expand(replace(spec, layers=rows)).nodes[-1].out == (7,)
    assert list(kept.glob("*.pickle")) == [entry] and entry.read_bytes() == before


FRESH_PROCESS = """
import json, sys
import archprof.spec.expand
e = sys.modules["archprof.spec.expand"]
expanded = []
run = e._Expander.run
e._Expander.run = lambda self: expanded.append(self.spec.name) or run(self)
import archprof
totals = {name: archprof.analyze(name).totals for name in sys.argv[1:]}
print(json.dumps({"expanded": expanded, "totals": totals}))
"""


def test_a_new_process_replays_what_the_last_one_kept(kept: Path) -> None:
    """Two real processes: the first expands and keeps, the second expands no rows, and
    both print the totals of a full expansion in this process."""
    names = ["resnet50", "densenet121", "inception_v3", "mobilenet_v2", "vgg16"]
    env = dict(os.environ, ARCHPROF_CACHE=str(kept.parent),
               PYTHONPATH=os.pathsep.join([str(Path(archprof.__file__).parents[1]),
                                           os.environ.get("PYTHONPATH", "")]))
    runs = [json.loads(subprocess.run([sys.executable, "-c", FRESH_PROCESS, *names],
                                      capture_output=True, text=True, check=True, env=env,
                                      cwd=kept.parents[1]).stdout) for _ in range(2)]
    assert runs[0]["expanded"] == names
    assert runs[1]["expanded"] == []
    for name in names:
        expected = fresh(name)[1].totals
        assert runs[0]["totals"][name] == runs[1]["totals"][name] == json.loads(
            json.dumps(expected))
