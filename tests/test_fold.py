"""Copies of a repeated block folded onto one of them (archprof.ir.graph.Run): an analysis of
the folded graph gives exactly what one of the whole graph gives, and the graph unfolds into
exactly the nodes and expectations a plain expansion makes. The reference is an expansion with
memoisation off, which never folds. Not timed."""
from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archprof
from archprof.check import Report, check_expectations
from archprof.errors import SpecError
from archprof.ir.graph import Graph
from archprof.spec import memo


@pytest.fixture(autouse=True)
def nothing_kept_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", "off")
    memo.clear()


def fresh(name, **kw) -> Graph:
    with memo.enabled(False):
        return archprof.expand(name, **kw)


def folded_count(graph: Graph) -> int:
    """The nodes the folded graph holds (before anything unfolds it)."""
    return len(graph.columns()[0])


def assert_same(folded: Graph, reference: Graph, train: bool = False) -> None:
    """Totals first (read from the folded columns), then every node and expectation."""
    totals = archprof.analyze(folded).totals
    assert totals == archprof.analyze(reference).totals
    assert [(n.name, n.op, n.inputs, n.ins, n.out, n.line, n.inplace) for n in folded.nodes] == [
        (n.name, n.op, n.inputs, n.ins, n.out, n.line, n.inplace) for n in reference.nodes]
    assert [(e.path, e.line, e.nodes, e.values) for e in folded.expectations] == [
        (e.path, e.line, e.nodes, e.values) for e in reference.expectations]
    assert folded.liveness is None or folded.liveness == reference.liveness


def test_a_stage_of_identical_bottlenecks_is_three_copies() -> None:
    """ResNet-152's conv4_x has 36 bottlenecks: the first projects, the second and third are
    one block on 1024x14x14, so the 4th to 36th (33 copies of 10 nodes) fold onto the third.
    conv3_x (8 blocks) folds 5, conv2_x (3) and conv5_x (3) none: 515 - 330 - 50 = 135 nodes."""
    graph = archprof.expand("resnet152")
    runs = graph.columns()[3]
    assert [(r.prefix, r.first, r.more, r.stop - r.start) for r in runs] == [
        ("conv3_x.", 3, 5, 10), ("conv4_x.", 3, 33, 10)]
    assert folded_count(graph) == 515 - 33 * 10 - 5 * 10
    assert_same(graph, fresh("resnet152"))
    assert len(graph.nodes) == 515


@pytest.mark.parametrize("depth,k", [(10, 1), (16, 3), (28, 10), (40, 4), (100, 2)])
def test_wide_resnets_fold_to_what_they_expand_to(depth: int, k: int) -> None:
    """WRN-d-k has n = (d - 4) / 6 blocks of 7 nodes per group (the first, with its
    projection, of 8): the block's output is an `add`, which owns its memory, so from the 3rd
    on they fold onto the 2nd: 51 nodes at any depth from 22 (WRN-100: 345)."""
    params = {"depth": depth, "k": k}
    graph, reference = archprof.expand("wrn_28_10", params=params), fresh("wrn_28_10", params=params)
    n, runs = (depth - 4) // 6, graph.columns()[3]
    assert [(r.prefix, r.first, r.more) for r in runs] == [
        (group, 2, n - 2) for group in ("conv2.", "conv3.", "conv4.")] * (n >= 3)
    assert all(r.stop - r.start == 7 for r in runs)
    assert folded_count(graph) + sum(7 * r.more for r in runs) == len(reference.nodes)
    if n >= 3:      # conv1, per group a projecting block (8) and its stand-in (7), 5 in the head
        assert folded_count(graph) == 1 + 3 * (8 + 7) + 5
    assert_same(graph, reference)


BROKEN = """
b:
  let: {kk: "1 if i == 4 else 3"}
  layers:
    - {conv: 8, k: kk, p: "kk // 2", name: c}
    - {relu: , name: r}
"""


def test_a_copy_unlike_the_others_ends_a_run_and_another_begins(write_spec) -> None:
    """Eight copies on 8x8x8, the fifth a 1x1 conv: blocks 1 and 2 made (3x3, one block), 3
    and 4 folded onto 2; 5 made (1x1); 6 and 7 made (3x3: the copy before 6 is another
    block), 8 folded onto 7. Params 3x3: 8*8*9 + 8 = 584, 1x1: 72."""
    path = write_spec("- {block: b, repeat: 8, name: s}", blocks=BROKEN, input="[8, 8, 8]")
    graph = archprof.expand(path)
    assert [(r.first, r.more) for r in graph.columns()[3]] == [(2, 2), (7, 1)]
    assert archprof.analyze(graph).totals["params"] == 7 * 584 + 72
    assert_same(graph, fresh(path))


EXPECTED = """
b:
  layers:
    - {conv: 8, k: 3, p: 1, name: c, expect: {shape: 8x8x8, params: 584}}
    - {relu: , name: r}
"""


def test_expectations_inside_and_around_folded_copies(write_spec) -> None:
    """Each of the 6 copies keeps its own `expect:` (on its conv) and the `repeat:` row's
    covers all 12 nodes; `archprof check` reads them all from the unfolded graph."""
    path = write_spec("- {block: b, repeat: 6, name: s, expect: {params: 3504}}\n"
                      "- {conv: 2, k: 1, name: head, expect: {params: 18}}",
                      blocks=EXPECTED, input="[8, 8, 8]")
    graph = archprof.expand(path)
    assert folded_count(graph) < len(fresh(path).nodes)
    assert_same(graph, fresh(path))
    assert [(e.path, e.nodes) for e in graph.expectations][-2:] == [
        ("s", range(0, 12)), ("head", range(12, 13))]
    report = Report("net")
    check_expectations(archprof.analyze(archprof.expand(path)), report)
    # 6 copies x (shape, params), the repeated row's params, head's params
    assert report.ok and len(report.passed) == 6 * 2 + 1 + 1, report.failed


VIEWED = """
b:
  args: {c: null}
  let: {first: "i == 0"}
  layers:
    - {relu: , name: a}
    - {conv: c, k: 3, p: 1, name: x}
    - {add: [x, x], if: first, name: y}
    - {identity: , from: x, if: first, name: t}
"""


def test_no_copy_folds_onto_one_whose_input_is_a_view_of_another_block(write_spec) -> None:
    """The first copy ends in a view (t) of a tensor two ops read (x); the others are relu,
    conv. The second copy's relu cannot overwrite its input (x is read again), every later
    copy's can (its input is the conv before, read once): the second copy is no stand-in
    for them, the third is. 5 copies: 2 made like the third, folded onto it. Activations of
    4x8x8 (256): the input, the first copy's a (on the input: not in place), x and y (t is a
    view), the second copy's a and the four convs: 256 * (1 + 3 + 1 + 4)."""
    path = write_spec("- {block: b, c: 4, repeat: 5, name: s}", blocks=VIEWED, input="[4, 8, 8]")
    graph = archprof.expand(path)
    assert [(r.first, r.more) for r in graph.columns()[3]] == [(3, 2)]
    assert archprof.analyze(graph).totals["activations"] == 256 * (1 + 3 + 1 + 4)
    assert_same(graph, fresh(path))
    assert [graph.node(f"s.block{i}.a").inplace for i in range(1, 6)] == [False, False] + [True] * 3


NESTED = """
unit:
  layers:
    - {conv: 4, k: 3, p: 1, bias: false, name: c, expect: {params: 144}}
    - {relu: , name: r}
stage:
  args: {n: null}
  layers:
    - {block: unit, repeat: n, name: units, expect: {shape: 4x8x8}}
    - {maxpool: 3, s: 1, p: 1, name: pool}
"""


def test_copies_fold_inside_a_block_and_in_its_copies(write_spec) -> None:
    """A stage of n units, twice: in each stage units 3..n fold onto the 2nd (the block keeps
    the runs it made; its copy makes them again), at the spec's input size and, replayed by
    the program, at another. Params: 2 stages x n units x 4*4*9 = 288 n."""
    path = write_spec("- {block: stage, n: 6, repeat: 2, name: s}\n"
                      "- {block: stage, n: 3, name: t}", blocks=NESTED, input="[4, 8, 8]")
    graph = archprof.expand(path)
    assert [(r.prefix, r.first, r.more) for r in graph.columns()[3]] == [
        ("s.block1.units.", 2, 4), ("s.block2.units.", 2, 4), ("t.units.", 2, 1)]
    assert archprof.analyze(graph).totals["params"] == 144 * (6 + 6 + 3)
    assert_same(graph, fresh(path))
    for size in (16, 8, 16):
        assert_same(archprof.expand(path, input=(4, size, size)), fresh(path, input=(4, size, size)))
    deepest = archprof.expand("resnet1202_stochastic_depth")
    assert folded_count(deepest) == 66
    assert_same(deepest, fresh("resnet1202_stochastic_depth"))


KEEPS_SOME = """
b:
  layers:
    - {maxpool: 2, s: 2, ceil: true, name: pool}
    - {upsample: 2, name: up}
"""


def test_a_program_replays_a_run_only_where_its_copies_keep_their_shape(write_spec) -> None:
    """Pooling 2x2 with ceil then upsampling 2x keeps an even size (8 -> 4 -> 8) but not an
    odd one (9 -> 5 -> 10): compiled at 8 and 16, the program folds copies that at 9 would
    grow; there it gives way to a full expansion."""
    path = write_spec("- {block: b, repeat: 5, name: s}", blocks=KEEPS_SOME, input="[2, 8, 8]")
    for size in (8, 16, 9, 12, 11):
        graph = archprof.expand(path, input=(2, size, size))
        assert_same(graph, fresh(path, input=(2, size, size)))


def test_folded_copies_count_toward_the_node_limit(write_spec) -> None:
    """60,000 copies of a 2-node block are 120,000 ops: refused as when every copy was made."""
    path = write_spec("- {block: b, repeat: 60000, name: s}", blocks=KEEPS_SOME,
                      input="[2, 8, 8]")
    with pytest.raises(SpecError, match="more than 100,000 ops"):
        archprof.expand(path)


def test_training_costs_of_a_folded_graph() -> None:
    """The training columns are worked out on the unfolded nodes: the same as the plain graph's."""
    a = archprof.analyze(archprof.expand("resnet50"), train=True)
    b = archprof.analyze(fresh("resnet50"), train=True)
    assert a.totals == b.totals
    assert a.layers.equals(b.layers)


# --- one program for other repeat counts --------------------------------------------------------
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The repeat counts each program replay was asked for (archprof.spec.program.Program),
    so that a test cannot pass by expanding every variant in full."""
    from archprof.spec.program import Program
    asked: list[int] = []
    recounted = Program.recounted

    def spy(self: Program, counts: list[int | None], limit: int) -> Any:
        runs = recounted(self, counts, limit)
        if runs is not None:
            asked.append(counts[0] or 0)
        return runs
    monkeypatch.setattr(Program, "recounted", spy)
    return asked


@pytest.mark.parametrize("outer", ["depth", "k"])
def test_wide_resnet_depths_share_one_program(monkeypatch: pytest.MonkeyPatch, outer: str) -> None:
    """WRN's depth is read by the groups' `repeat:` alone, and its blocks differ only in the
    first copy (`stride: "s if i == 0 else 1"`): a program made at one depth from 16 (2
    blocks per group, a third would fold onto the second) replays every other such depth,
    its runs standing for more or fewer copies (none at 16); 10 (1 block per group, unlike
    the others) is expanded. Grid order either way, and depths coming back down."""
    asked = replays(monkeypatch)
    depths, widths = [10, 16, 22, 28, 34, 100, 40, 22, 16, 10, 28], [1, 3]
    grid = [(d, k) for d in depths for k in widths] if outer == "depth" else [
        (d, k) for k in widths for d in depths]
    for depth, k in grid:
        params = {"depth": depth, "k": k}
        assert_same(archprof.expand("wrn_28_10", params=params),
                    fresh("wrn_28_10", params=params))
    assert {(d - 4) // 6 for d in (16, 22, 34, 100, 40)} <= set(asked)
    assert 1 not in asked


BY_INDEX = """
b:
  let: {kk: "1 if i == 6 else 3"}
  layers:
    - {conv: 8, k: kk, p: "kk // 2", name: c}
    - {relu: , name: r}
"""


def test_copies_told_apart_by_more_than_the_first_index_are_made_again(
        monkeypatch: pytest.MonkeyPatch, write_spec) -> None:
    """The 7th copy of this block is a 1x1 conv: a program made with 5 or 6 copies (the 3rd
    on folded) must not stand for 7 or 8 by folding more 3x3 copies (584 params each): 8
    copies have 72 + 7 * 584 params. No count but its own is replayed (the index is compared
    with more than 0)."""
    asked = replays(monkeypatch)
    path = write_spec("- {block: b, repeat: n, name: s}", blocks=BY_INDEX, input="[8, 8, 8]",
                      params="{n: 5}")
    for n in (5, 6, 8, 4, 7, 3):
        graph = archprof.expand(path, params={"n": n})
        assert_same(graph, fresh(path, params={"n": n}))
        assert archprof.analyze(graph).totals["params"] == (n - (n >= 7)) * 584 + 72 * (n >= 7)
    assert asked == []


def test_a_program_recounted_past_the_node_limit_gives_way_to_the_expansion(
        write_spec) -> None:
    """Made at 28 (4 blocks per group), WRN at 6 * 20,000 + 4 would be 3 * 20,000 blocks
    of 7 nodes: refused as the expansion refuses it with no program made; a depth not of the
    form 6N + 4 too."""
    for depth in (6 * 20_000 + 4, 27):
        memo.clear()
        with pytest.raises(SpecError) as raised:
            archprof.expand("wrn_28_10", params={"depth": depth})
        assert re.search("more than 100,000 ops|whole number", str(raised.value))
        archprof.expand("wrn_28_10", params={"depth": 28})
        archprof.expand("wrn_28_10", params={"depth": 34})      # replays 28's program
        with pytest.raises(SpecError) as again:
            archprof.expand("wrn_28_10", params={"depth": depth})
        assert str(again.value) == str(raised.value)


# --- random blocks ------------------------------------------------------------------------------
KEEPING = [        # rows that keep a c x h x w input's shape
    {"conv": "c", "k": 3, "p": 1}, {"conv": "c", "k": "kk", "p": "kk // 2"}, {"conv": "c", "k": 1},
    {"bn": None}, {"relu": None}, {"relu": None, "inplace": False}, {"dropout": 0.1},
    {"identity": None}, {"avgpool": 3, "s": 1, "p": 1},
    {"conv": "c", "k": 3, "p": 1, "expect": {"params": 1}},
]
ROWS = KEEPING * 3 + [{"flatten": None}, {"maxpool": 2, "s": 2, "ceil": True},
                      {"upsample": 2}, {"conv": "2 * c", "k": 1}]


@st.composite
def repeated_blocks(draw: st.DrawFn) -> tuple[str, int, list[tuple[int, int]]]:
    """A network of a stem, one or two `repeat:` rows of a random block (as many copies as
    parameters n and m + 1 say: three pairs of them are drawn) and a head: the
    block's rows from ROWS (some keep the shape, some change it, some work in place or are
    views), maybe a residual add, a concat, an `out:` naming an earlier row, a row nothing
    reads, a `let:` or a last row's `if:` that tells copies apart by `i`; the head maybe reading
    the stem again; all but the stem maybe a block of its own, repeated."""
    names = []
    layers: list[dict[str, Any]] = []
    for k, row in enumerate(draw(st.lists(st.sampled_from(ROWS), min_size=1, max_size=5))):
        layers.append({**row, "name": f"r{k}"})
        names.append(f"r{k}")
    extra = draw(st.sampled_from(["", "", "add", "add", "concat", "side", "out"]))
    if extra == "add":
        layers.append({"add": [names[-1], "in"], "name": "sum"})
    elif extra == "concat":
        layers.append({"concat": [names[-1], "in"], "name": "cat"})
    elif extra == "side":
        layers.append({"conv": 2, "k": 1, "from": names[0], "name": "side"})
    if draw(st.booleans()):     # a tail only some copies have: in place, a view, or neither
        layers.append({**draw(st.sampled_from([{"relu": None}, {"identity": None}, {"bn": None}])),
                       "if": draw(st.sampled_from(["i == 0", "i % 2 == 0", "i < 3", "first",
                                                   "i > 0"])),
                       "name": "tail"})
    block: dict[str, Any] = {"args": {"c": None}, "let": {"kk": draw(st.sampled_from(
        ["3", "3 if i % 3 else 1", "1 if i == 2 else 3", "1 if 0 == i else 3",
         "1 if i == 4 else 3"])),
        "first": "i == 0"},
        "layers": layers}
    if extra == "out":
        block["out"] = names[0]
    net = [{"conv": 4, "k": 1, "name": "stem"},
           {"block": "b", "c": 4, "repeat": "n", "name": "s"}]
    if draw(st.booleans()):
        net.append({"block": "b", "c": 4, "repeat": "m + 1", "name": "t",
                    "expect": {"params": 1}})
    blocks = {"b": block}
    if draw(st.booleans()):     # the rows inside a block, itself repeated
        blocks["stage"] = {"layers": net[1:]}
        net = [net[0], {"block": "stage", "repeat": draw(st.integers(1, 3)), "name": "u"}]
    if draw(st.booleans()):
        net.append({"add": ["stem", "stem"], "name": "again"})
    n, m, more, fewer = (draw(st.integers(*bounds)) for bounds in ((2, 6), (0, 4), (1, 3), (1, 2)))
    counts = [(n, m), (n + more, m + more), (max(n - fewer, 1), max(m - fewer, 0))]
    doc = {"family": "Fuzz", "blocks": blocks, "params": {"n": 2, "m": 0},
           "networks": {"net": {"input": [4, 8, 8], "layers": net}}}
    return yaml.safe_dump(doc, sort_keys=False), draw(st.sampled_from([8, 12, 9, 16])), counts


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(repeated_blocks())
def test_random_repeated_blocks_fold_to_what_they_expand_to(tmp_path, case) -> None:
    """Whatever folds or does not, at the spec's input size and another (a program replay
    after the second size asks for one), for three pairs of repeat counts (a program made
    for one pair replayed for the next where its runs may stand for more or fewer copies):
    the totals and, unfolded, every node and expectation of a plain expansion; or the same
    error."""
    text, size, counts = case
    path = tmp_path / "net.yaml"
    path.write_text(text)
    memo.clear()
    for n, m in counts:
        for shape in ((4, 8, 8), (4, size, size), (4, 8, 8)):
            params = {"n": n, "m": m}
            try:
                reference = fresh(path, input=shape, params=params)
            except SpecError as err:
                with pytest.raises(SpecError) as raised:
                    archprof.expand(path, input=shape, params=params)
                assert str(raised.value) == str(err)
                continue
            assert_same(archprof.expand(path, input=shape, params=params), reference)
