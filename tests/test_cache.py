"""Memoised expansion (ops per row, whole blocks) gives exactly what expanding everything
afresh gives: for every network of the zoo, and after parameters and input shapes change in
between, so that a memoisation bug cannot hide behind a result computed earlier. Not timed."""
from __future__ import annotations

import pytest
import torch
from torch_resnets import resnet50_v15

import archprof
from archprof.errors import SpecError
from archprof.ir.graph import Graph
from archprof.ir.ops import Conv
from archprof.spec import memo
from archprof.spec.program import Draft, Program
from archprof.trace import trace

NAMES = sorted(archprof.registry())


@pytest.fixture(autouse=True)
def nothing_kept_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """memo.clear() then stands for a new process with nothing kept: a first expansion is a
    full one (the programs kept on disk are tested in test_kept_programs.py)."""
    monkeypatch.setenv("ARCHPROF_CACHE", "off")


def fresh(name, **kw) -> tuple[Graph, archprof.Analysis]:
    """The uncached reference: nothing memoised is read or written."""
    with memo.enabled(False):
        graph = archprof.expand(name, **kw)
        return graph, archprof.analyze(graph)


def assert_same(cached: Graph, reference: Graph) -> None:
    totals = archprof.analyze(cached).totals   # first: a replay's come before its nodes exist
    assert len(cached.nodes) == len(reference.nodes)
    for a, b in zip(cached.nodes, reference.nodes):
        assert (a.name, a.op, a.inputs, a.ins, a.out, a.line, a.inplace) == (
            b.name, b.op, b.inputs, b.ins, b.out, b.line, b.inplace), a.name
    assert [(e.path, e.line, e.nodes, e.values) for e in cached.expectations] == [
        (e.path, e.line, e.nodes, e.values) for e in reference.expectations]
    a, b = archprof.analyze(cached), archprof.analyze(reference)
    assert totals == a.totals == b.totals
    assert a.layers.equals(b.layers)


@pytest.mark.parametrize("name", NAMES)
def test_every_network_cached_equals_uncached(name: str) -> None:
    reference, _ = fresh(name)
    memo.clear()
    first = archprof.expand(name)        # fills the tables
    again = archprof.expand(name)        # reads them, blocks included
    assert_same(first, reference)
    assert_same(again, reference)


def test_blocks_are_really_copied() -> None:
    """The cached path is the one under test: ResNet-152's identical bottlenecks share their
    op objects when memoised, and do not when expanded afresh."""
    memo.clear()
    cached, (reference, _) = archprof.expand("resnet152"), fresh("resnet152")
    key = "conv4_x.block{}.conv2.conv"
    assert cached.node(key.format(5)).op is cached.node(key.format(6)).op
    assert reference.node(key.format(5)).op is not reference.node(key.format(6)).op
    assert_same(cached, reference)


def test_equal_ops_are_one_object_and_their_rules_are_worked_out_once() -> None:
    """VGG-16's conv5_1 to conv5_3 (512 -> 512, 3x3, pad 1) are one op object when memoised
    (not afresh), so the rule table, keyed on an op's identity and input shapes, works out
    each distinct (op, input shape) once. Hand count at 224x224, 39 ops: 9 distinct convs
    (1_1, 1_2, 2_1, 2_2, 3_1, 3_2 = 3_3, 4_1, 4_2 = 4_3, 5_1 = 5_2 = 5_3), 5 ReLUs on conv
    outputs (one per stage: 64@224, 128@112, 256@56, 512@28, 512@14), 5 max pools (one op, 5
    input shapes), flatten, fc6, then one ReLU and one dropout on 4096 (fc6 and fc7 share
    them), fc7, fc8: 25. At 256x256 all but the last 4 are new: 21."""
    memo.clear()
    graph = archprof.expand("vgg16")
    assert graph.node("conv5_1.conv").op is graph.node("conv5_3.conv").op
    assert graph.node("conv1_1.relu").op is graph.node("fc7.relu").op
    reference, _ = fresh("vgg16")
    assert reference.node("conv5_1.conv").op is not reference.node("conv5_3.conv").op
    assert len(memo.RULES.entries) == 25
    again = archprof.expand("vgg16", input=(3, 256, 256))
    assert len(memo.RULES.entries) == 25 + 21
    assert_same(again, fresh("vgg16", input=(3, 256, 256))[0])


def test_ops_of_equal_value_but_other_field_types_stay_apart() -> None:
    """An op's value includes its fields' types: padding 1 and padding True compare equal in
    Python but are not the same spelling (a bool is refused as a size by the spec parsers;
    a hand-built op may hold one), so they are not merged."""
    memo.clear()
    a, b = Conv(out=8, k=3, p=1), Conv(out=8, k=3, p=1)
    assert a is not b and memo.canonical(a) is memo.canonical(b) is a
    assert memo.canonical(Conv(out=8, k=3, p=True)) is not a
    assert memo.canonical(Conv(out=8, k=3, p=1, bias=False)) is not a


def test_a_traced_graph_counts_its_copies_as_afresh() -> None:
    """A traced module's equal ops are one object when memoised (ResNet-50's identical
    bottlenecks, as torchvision writes them), so the analysis works out each op's counts on
    the same shapes once; traced afresh each node has an op of its own. Node by node and in
    total both count alike."""
    with torch.device("meta"):
        model = resnet50_v15()
    memo.clear()
    traced = trace(model, (3, 224, 224))
    with memo.enabled(False):
        reference = trace(model, (3, 224, 224))
    key = "layer3.{}.conv2"
    assert traced.node(key.format(1)).op is traced.node(key.format(4)).op
    assert reference.node(key.format(1)).op is not reference.node(key.format(4)).op
    assert len({id(n.op) for n in traced.nodes}) < len(traced.nodes) / 3
    a, b = archprof.analyze(traced), archprof.analyze(reference)
    assert a.totals == b.totals
    assert a.layers.equals(b.layers)


CHANGES = [
    ("mobilenet_v1", {"params": {"alpha": 0.5}}), ("mobilenet_v1", {"input": (3, 160, 160)}),
    ("mobilenet_v1", {"params": {"alpha": 0.75}, "input": (3, 192, 192)}), ("mobilenet_v1", {}),
    ("resnet50", {"params": {"stride_in_1x1": False}}), ("resnet50", {"input": (3, 256, 256)}),
    ("resnet50", {"params": {"num_classes": 10}}), ("resnet50", {}),
    ("resnet152", {"input": (3, 192, 192)}), ("resnet101", {}),
    ("densenet121", {"input": (3, 256, 256)}), ("densenet121", {}),
    ("vgg16", {"input": (3, 160, 160)}), ("vgg16", {"params": {"num_classes": 10}}),
    ("inception_v3", {"input": (3, 331, 331)}), ("inception_v3", {}),
    ("nasnet_a_mobile", {"input": (3, 256, 256)}), ("nasnet_a_mobile", {}),
]


def test_changing_parameters_and_inputs_in_between() -> None:
    """Each variant right after others that filled the tables with near neighbours."""
    memo.clear()
    for _ in range(2):
        for name, kw in CHANGES:
            known = archprof.load_spec(name).params
            kw = {**kw, "params": {k: v for k, v in kw.get("params", {}).items() if k in known}}
            reference, _ = fresh(name, **kw)
            assert_same(archprof.expand(name, **kw), reference)


OUTER = """
b:
  args: {c: null}
  layers:
    - {conv: c, k: 1, name: a}
    - {conv: w, k: 1, name: extra, if: "i == 0"}
"""


def test_a_block_reading_outer_names_is_keyed_on_them(write_spec) -> None:
    """`w` (a network parameter) and `i` (the repeat index, seen by `if:`) are read inside
    the block without being its arguments: copies must not cross their values."""
    path = write_spec("- {block: b, c: 8, repeat: 3, name: s}", blocks=OUTER,
                      input="[8, 8, 8]", params="{w: 8}")
    memo.clear()
    for w in (8, 16, 8):
        graph = archprof.expand(path, params={"w": w})
        assert [n.name for n in graph.nodes] == ["s.block1.a", "s.block1.extra", "s.block2.a",
                                                 "s.block3.a"]
        assert graph.node("s.block1.extra").out == (w, 8, 8)
        assert_same(graph, fresh(path, params={"w": w})[0])


def test_values_equal_but_of_another_type_are_not_confused(write_spec) -> None:
    """1 and True are equal keys to a dict, but a channel count of True is an error."""
    path = write_spec("- {block: b, c: 8, name: s}", blocks=OUTER, input="[8, 8, 8]",
                      params="{w: 8}")
    memo.clear()
    assert archprof.expand(path, params={"w": 1}).node("s.extra").out == (1, 8, 8)
    with pytest.raises(SpecError, match="must be a number"):
        archprof.expand(path, params={"w": True})


NESTED = """
outer:
  args: {c: null}
  layers:
    - {block: inner, c: c, repeat: 2, name: s}
inner:
  args: {c: null}
  let: {wide: "c * w + i"}
  layers:
    - {conv: wide, k: 1, name: a}
"""


def test_a_call_made_before_is_keyed_on_what_its_blocks_read_from_outside(write_spec) -> None:
    """A block call seen before (memo.CALLS: same row, same values of the names it and the
    blocks inside it read, inputs of the same shapes) skips its arguments and let. `w` is
    read only by the let of a block inside the one called, `i` by that let and the row's
    repeat: neither is an argument, and the call must not cross their values."""
    path = write_spec("- {block: outer, c: 2, repeat: 2, name: o}", blocks=NESTED,
                      input="[8, 8, 8]", params="{w: 4}")
    memo.clear()
    for w in (4, 8, 4, 8):
        graph = archprof.expand(path, params={"w": w})
        # o.blockJ.s.blockI.a: 2 * w + I - 1 channels (i counts from 0)
        assert [n.out[0] for n in graph.nodes] == [2 * w, 2 * w + 1] * 2
        assert_same(graph, fresh(path, params={"w": w})[0])
    # at each w: the outer call at i = 0 (on 8 channels) and i = 1 (on 2w + 1); the inner
    # call at i = 0 on 8 and on 2w + 1 channels, at i = 1 on 2w (in both outer copies)
    assert len(memo.CALLS.entries) == 2 * (2 + 3)


INDEXED = """
b:
  let: {kk: "1 + 2 * i", pp: i}
  layers:
    - {conv: 4, k: kk, p: pp, name: c}
"""


def test_copies_on_inputs_of_one_shape_are_keyed_on_the_repeat_index(write_spec) -> None:
    """Each copy of a repeated block sees the same 4x8x8 input; only `i`, read by its let,
    tells them apart: kernels 1, 3, 5 (padding 0, 1, 2 keeps 8x8), so 4 * 4 * k^2 + 4
    parameters each. A call key without `i` would give every copy the first one's."""
    path = write_spec("- {block: b, repeat: 3, name: r}", blocks=INDEXED, input="[4, 8, 8]")
    memo.clear()
    for _ in range(2):      # the second time every call is one made before
        graph = archprof.expand(path)
        assert [n.op.k for n in graph.nodes] == [1, 3, 5]
        assert archprof.analyze(graph).totals["params"] == sum(16 * k * k + 4 for k in (1, 3, 5))
        assert_same(graph, fresh(path)[0])


REPEATED = """
- {conv: 8, k: 1, name: a}
- {conv: 8, k: 3, p: 1, repeat: 3, from: a, name: r}
- {conv: w, k: 1, name: head}
"""


def test_a_repeated_row_is_one_row_to_the_tables(write_spec) -> None:
    """The copies of `repeat: 3` run one row for the first copy (it reads `from: a`) and one
    for the others (each reads the copy before): two ROW_OPS entries, made once, however
    many expansions follow (each copy used to be a new row object, a new entry every time)."""
    path = write_spec(REPEATED, input="[3, 8, 8]", params="{w: 4}")
    memo.clear()
    for w in (4, 8, 4, 16):
        graph = archprof.expand(path, params={"w": w})
        assert [n.inputs for n in graph.nodes[1:4]] == [["a"], ["r.conv1"], ["r.conv2"]]
        assert graph.node("head").out == (w, 8, 8)
        assert_same(graph, fresh(path, params={"w": w})[0])
    # a, the repeated row's two forms, and head at w = 4, 8, 16
    assert len(memo.ROW_OPS.entries) == 1 + 2 + 3


FLAGGED = """
b:
  layers:
    - {conv: 8, k: 1, name: a}
    - {relu: , inplace: false, name: r}
"""


def test_copied_blocks_keep_their_inplace_rows(write_spec) -> None:
    """An `inplace: false` row inside a block holds in every copy of it (a relu after a conv
    would otherwise overwrite the conv's output: activations 0 instead of 8x8x8)."""
    path = write_spec("- {block: b, repeat: 3, name: s}", blocks=FLAGGED, input="[8, 8, 8]")
    memo.clear()
    graph = archprof.expand(path)
    assert [graph.node(f"s.block{i}.r").inplace for i in (1, 2, 3)] == [False] * 3
    assert archprof.analyze(graph).totals["activations"] == 8 * 8 * 8 * (1 + 6)
    assert_same(graph, fresh(path)[0])


def test_variants_of_one_wiring_share_its_inplace_flags_and_liveness() -> None:
    """WRN-d-k at one depth: every k has the same names, inputs and op kinds, so the second
    k takes the in-place flags and liveness worked out for the first (memo.WIRINGS); each
    still equals a fresh expansion. Depths 16 and 28 (2 and 4 blocks per group) fold to the
    same nodes (archprof.ir.graph.Run: the 2nd block stands for the others), one wiring;
    depth 10 (1 block per group) is another."""
    memo.clear()
    variants = [{"k": 2}, {"k": 4}, {"depth": 16, "k": 4}, {"depth": 10, "k": 4}]
    a, b, c, d = (archprof.expand("wrn_28_10", params=p) for p in variants)
    assert a.liveness is b.liveness is c.liveness and d.liveness is not a.liveness
    assert len(memo.WIRINGS.entries) == 2
    for graph, params in zip((a, b, c, d), variants):
        assert_same(graph, fresh("wrn_28_10", params=params)[0])


def test_inplace_rows_are_part_of_the_wiring(write_spec) -> None:
    """The same names and inputs with `inplace:` set otherwise are another wiring: the ReLU
    overwrites the conv's output (activations: the 8x8x8 input and the conv's 8x8x8) or gets
    memory of its own (a third 512)."""
    path = write_spec("- {conv: 8, k: 1, name: a}\n- {relu: , inplace: flag, name: r}",
                      input="[8, 8, 8]", params="{flag: true}")
    memo.clear()
    for flag, activations in ((True, 2 * 512), (False, 3 * 512), (True, 2 * 512)):
        graph = archprof.expand(path, params={"flag": flag})
        assert graph.node("r").inplace is flag
        assert archprof.analyze(graph).totals["activations"] == activations
        assert_same(graph, fresh(path, params={"flag": flag})[0])


# --- the compiled program (archprof.spec.program): the same spec at another input shape ---

def test_another_input_shape_replays_the_program() -> None:
    """ResNet-152 at a new input size reuses the op objects of its first expansion (the
    program ran) and still equals a fresh expansion at that size, totals and every row."""
    memo.clear()
    first = archprof.expand("resnet152")
    again = archprof.expand("resnet152", input=(3, 192, 192))
    assert all(a.op is b.op for a, b in zip(first.nodes, again.nodes))
    assert again.node("conv5_x.block3.conv3.conv").out == (2048, 6, 6)   # 192 / 32
    assert_same(again, fresh("resnet152", input=(3, 192, 192))[0])


def test_a_variant_gets_its_program_when_a_second_input_shape_asks() -> None:
    """A parameter variant's first expansion leaves a draft, not a program (a sweep over
    parameters replays few variants), in a table of the latest few; the next input shape with
    the same parameters makes the program from that draft and replays it, equal to a fresh
    expansion. (WRN-10, one block per group: from depth 16 on, other depths would replay the
    program, which is then made at once: tests/test_fold.py.)"""
    memo.clear()
    params = {"depth": 10, "k": 2}
    archprof.expand("wrn_28_10", params=params)
    kinds = lambda: ([type(entry[1]) for entry in memo.PROGRAMS.entries.values()],  # noqa: E731
                     [type(entry[1]) for entry in memo.DRAFTS.entries.values()])
    assert kinds() == ([], [Draft])
    again = archprof.expand("wrn_28_10", params=params, input=(3, 48, 48))
    assert kinds() == ([Program], [])
    assert again.node("conv4.block1.conv2").out == (128, 12, 12)    # 48 / 4
    assert_same(again, fresh("wrn_28_10", params=params, input=(3, 48, 48))[0])


def test_a_sweep_keeps_the_drafts_of_its_latest_variants_only() -> None:
    """A draft holds its graph's nodes: a sweep over 40 parameter values keeps those of the
    last few (DRAFTS' limit) rather than 40 graphs."""
    memo.clear()
    for k in range(1, 41):
        archprof.expand("wrn_28_10", params={"depth": 10, "k": k})
    assert 0 < len(memo.DRAFTS.entries) <= memo.DRAFTS.limit < 40
    assert not memo.PROGRAMS.entries


def test_a_program_whose_decisions_fail_gives_way_to_the_newer_draft(write_spec) -> None:
    """SWITCHED's pool is on where hin > 8, and a replay needs the hin its program read. With
    a parameter given (a variant: drafts, no program kept on disk), the program made at
    16x32 from the draft at 16x16 cannot replay 8x8, whose full expansion leaves a draft
    that replaces it: 8x4 replays a program without the pool made from that draft."""
    path = write_spec(SWITCHED.replace("conv: 8", "conv: w"), params="{w: 8}",
                      input="[3, 16, 16]")
    memo.clear()
    replays = []
    for shape in ((3, 16, 16), (3, 16, 32), (3, 8, 8), (3, 8, 4)):
        graph = archprof.expand(path, params={"w": 8}, input=shape)
        replays.append(graph._deferred is not None)     # a replay makes its nodes when asked
        assert_same(graph, fresh(path, params={"w": 8}, input=shape)[0])
    assert replays == [False, True, False, True]
    (program,) = [entry[1] for entry in memo.PROGRAMS.entries.values()]
    assert program.names == ("a", "b") and not memo.DRAFTS.entries


def test_copies_of_a_block_are_worked_out_once_per_input_shape() -> None:
    """ResNet-152's stages hold 2, 7, 35 and 2 copies of the bottleneck that follows each
    stage's first: at a new input size each of those 4 kinds is worked out once (one entry
    of shapes and counts per kind), the 46 copies reuse it."""
    memo.clear()
    archprof.expand("resnet152")
    assert not memo.SEGMENTS.entries
    again = archprof.expand("resnet152", input=(3, 160, 160))
    assert len(memo.SEGMENTS.entries) == 4
    assert again.node("conv4_x.block36.conv3.conv").out == (1024, 10, 10)   # 160 / 16
    assert_same(again, fresh("resnet152", input=(3, 160, 160))[0])


SIDE = """
b:
  layers:
    - {conv: 8, k: 3, p: 1, name: a}
    - {relu: , name: r}
    - {conv: 2, k: 1, name: side}
  out: r
"""


def test_a_copy_whose_output_is_not_its_last_node_replays_exactly(write_spec) -> None:
    """Each copy's output `r` is read by the next copy and `side` by nothing (an output to
    the end): the replayed copies must pass `r` on and keep every `side` alive in the peak."""
    path = write_spec("- {block: b, repeat: 3, name: s}\n- {conv: 4, k: 1, name: head}",
                      blocks=SIDE, input="[8, 8, 8]")
    memo.clear()
    for size in (8, 16, 16, 12):
        graph = archprof.expand(path, input=(8, size, size))
        assert graph.node("head").ins == [(8, size, size)]
        assert_same(graph, fresh(path, input=(8, size, size))[0])


SWITCHED = """
- {conv: 8, k: 1, name: a}
- {maxpool: 2, if: "hin > 8", name: pool}
- {conv: 4, k: 1, name: b}
"""


def test_a_row_reading_its_input_shape_guards_the_program(write_spec) -> None:
    """`if: hin > 8` is on at 16x16 and off at 8x8: the program compiled at one size must not
    replay at the other (it would keep or drop the pool wrongly)."""
    path = write_spec(SWITCHED, input="[3, 16, 16]")
    memo.clear()
    for size, names in [(16, ["a", "pool", "b"]), (8, ["a", "b"]), (32, ["a", "pool", "b"]),
                        (4, ["a", "b"])]:
        graph = archprof.expand(path, input=(3, size, size))
        assert [n.name for n in graph.nodes] == names
        assert_same(graph, fresh(path, input=(3, size, size))[0])


POOLED = """
b:
  let: {big: "hin > 8"}
  layers:
    - {conv: 4, k: 1, name: a}
    - {maxpool: 2, if: big, name: pool}
"""


def test_a_block_reading_its_input_shape_guards_the_program(write_spec) -> None:
    """`big` is worked out from the block's input (`hin`, in its let): the rows inside read
    `big`, not the shape, so only the block row records the guard, at every copy (the second
    copy's input is pooled: at 32x32 the first copy pools and the second does too; at 16x16
    only the first). A program compiled at one size must not replay at another."""
    path = write_spec("- {block: b, repeat: 2, name: s}", blocks=POOLED, input="[3, 32, 32]")
    memo.clear()
    for size, pooled in [(32, [True, True]), (16, [True, False]), (8, [False, False]),
                         (32, [True, True]), (16, [True, False])]:
        graph = archprof.expand(path, input=(3, size, size))
        assert [f"s.block{i}.pool" in graph for i in (1, 2)] == pooled
        assert_same(graph, fresh(path, input=(3, size, size))[0])


SIZED = """
- {conv: 4, k: 1, if: "hin > 4", name: tall}
- {conv: 4, k: 1, if: "win > 4", name: wide}
- {conv: 4, k: 1, if: "din > 1", name: deep}
- {conv: "fin", k: 1, name: last}
"""


def test_each_shape_variable_guards_the_program_at_every_rank(write_spec) -> None:
    """hin, win and din are the sizes at their own places of a (C, L), (C, H, W) or
    (C, D, H, W) input, 1 where it has no such dimension, and fin is the last size: a
    replay tests each where the expansion read it. The program is the last full
    expansion's: 5x8x2 takes every decision 3x8x2 took (cin is not read) and 3x1x8 every one
    3x8 took (hin 1, win 8, din 1), so both replay; every other shape switches a row."""
    path = write_spec(SIZED, input="[3, 8, 2]")
    memo.clear()
    replays = []
    for shape, on in [((3, 8, 2), ["tall"]), ((5, 8, 2), ["tall"]), ((3, 2, 8), ["wide"]),
                      ((3, 8), ["wide"]), ((3, 1, 8), ["wide"]), ((3, 2, 8, 2), ["tall", "deep"]),
                      ((3, 8, 2), ["tall"]), ((3, 1, 2, 8), ["wide"])]:
        graph = archprof.expand(path, input=shape)
        replays.append(graph._deferred is not None)     # a replay makes its nodes when asked
        assert [n.name for n in graph.nodes] == [*on, "last"], shape
        assert graph.nodes[-1].out[0] == graph.nodes[-1].ins[0][-1]     # conv: fin
        assert_same(graph, fresh(path, input=shape)[0])
    assert replays == [False, True, False, False, True, False, False, False]


PROJECTED = """
- {conv: 8, k: 1, name: a}
- {adaptive_avgpool: 4, name: b}
- {add: [b, a], proj: conv, name: sum}
"""


def test_a_projection_decided_by_shapes_guards_the_program(write_spec) -> None:
    """At 4x4 both inputs of the add are 8x4x4 (no projection); at 8x8 the shortcut needs a
    stride-2 1x1 conv, at 12x12 a stride-3 one."""
    path = write_spec(PROJECTED, input="[3, 4, 4]")
    memo.clear()
    for size, proj in [(4, None), (8, (2, 2)), (4, None), (12, (3, 3)), (8, (2, 2))]:
        graph = archprof.expand(path, input=(3, size, size))
        convs = [n.op for n in graph.nodes if n.name == "sum_proj.conv"]
        assert (convs[0].s if convs else None) == proj
        assert_same(graph, fresh(path, input=(3, size, size))[0])


def test_an_input_the_program_cannot_take_is_reported_as_by_a_full_expansion() -> None:
    """A rule refusing the new shape sends the call back to the interpreter, whose error
    names the layer."""
    memo.clear()
    archprof.expand("vgg16")
    with pytest.raises(SpecError, match="pool5") as caught:
        archprof.expand("vgg16", input=(3, 16, 16))
    with memo.enabled(False), pytest.raises(SpecError) as reference:
        archprof.expand("vgg16", input=(3, 16, 16))
    assert str(caught.value) == str(reference.value)


def test_a_network_looked_up_by_name_follows_its_spec_folder(tmp_path, monkeypatch) -> None:
    """Looking a network up by name checks two stamps, not every file: its file's (edited in
    place) and its folder's (files added, removed or renamed). Each change is seen by the very
    next look-up; the counts are the hand-worked conv params, 3*3*3*c + c."""
    monkeypatch.setenv("ARCHPROF_SPECS", str(tmp_path))

    def write(file: str, name: str, channels: int) -> None:
        (tmp_path / file).write_text(f"networks:\n  {name}:\n    input: [3, 8, 8]\n"
                                     f"    layers:\n      - {{conv: {channels}, k: 3}}\n")
    write("a.yaml", "n", 4)
    assert archprof.analyze("n").totals["params"] == 3 * 3 * 3 * 4 + 4            # 112
    write("a.yaml", "n", 16)                       # edited in place (another size)
    assert archprof.analyze("n").totals["params"] == 3 * 3 * 3 * 16 + 16          # 448
    write("b.yaml", "m", 2)                        # a file added
    assert archprof.analyze("m").totals["params"] == 3 * 3 * 3 * 2 + 2            # 56
    write("c.yaml", "n", 8)                        # a second definition of n
    with pytest.raises(SpecError, match="network 'n' is defined twice"):
        archprof.analyze("n")
    (tmp_path / "c.yaml").unlink()
    (tmp_path / "a.yaml").rename(tmp_path / "d.yaml")   # renamed: the folder changes
    assert archprof.analyze("n").totals["params"] == 448
    (tmp_path / "d.yaml").unlink()                 # removed
    with pytest.raises(SpecError, match="unknown network 'n'"):
        archprof.analyze("n")
