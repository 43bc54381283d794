"""Property-based fuzzing of the spec language (issue 5).

Valid specs (random stacks of convs, pools, norms, branches, residuals and blocks) must give
static numbers that agree with the model built on `meta`; malformed specs, random bytes and
random YAML must fail with SpecError only, quickly and in bounded memory; the expression
evaluator must return a number or raise SpecError for any string.
"""
from __future__ import annotations

import itertools
import math
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archprof
import archprof.model  # noqa: F401 - torch imported once, not inside a timed case
from archprof.analysis import Analysis
from archprof.check import Report, check_expectations, check_model
from archprof.errors import SpecError
from archprof.ir.graph import INPUT
from archprof.ir.ops import OPS
from archprof.spec import expr

TIME_LIMIT = 2.0      # seconds per case: an error must come quickly, never a hang
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
_counter = itertools.count()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(directory: Path, data: str | bytes) -> Path:
    path = directory / f"case{next(_counter)}.yaml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _spec_text(layers: list[Any], input: Any = (3, 16, 16), blocks: dict | None = None,
               params: dict | None = None) -> str:
    doc: dict[str, Any] = {"family": "Fuzz", "params": params or {}}
    if blocks:
        doc["blocks"] = blocks
    doc["networks"] = {"net": {"input": list(input) if isinstance(input, tuple) else input,
                               "layers": layers}}
    return yaml.safe_dump(doc, sort_keys=False)


def _full_pipeline(path: Path) -> Analysis:
    """Load, expand, analyse, build on meta and run a meta forward: everything a user can do
    with a spec short of real weights."""
    analysis = archprof.analyze(archprof.load_spec(str(path)))
    check_expectations(analysis, Report("paper"))   # reads `expect:` values (may not match)
    report = Report("fuzz")
    check_model(analysis, report, fvcore=False)
    assert report.ok, report.failed
    return analysis


def _outcome(path: Path) -> SpecError | None:
    """Run the pipeline; return the SpecError (or None on success) after checking it took
    less than TIME_LIMIT. Any other exception propagates and fails the test."""
    start = time.perf_counter()
    try:
        _full_pipeline(path)
        error = None
    except SpecError as err:
        error = err
        assert str(err)                      # a message the CLI can print
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT, f"took {elapsed:.1f} s"
    return error


# ------------------------------------------------------------------------------------------
# Valid specs
# ------------------------------------------------------------------------------------------
BLOCKS = {
    # ResNet basic block: first-repeat stride, projection when the shape changes
    "res": {"args": {"c": None, "s": 1}, "let": {"stride": "s if i == 0 else 1"},
            "layers": [{"conv": "c", "k": 3, "s": "stride", "p": 1, "bn": True, "act": "relu",
                        "name": "conv1"},
                       {"conv": "c", "k": 3, "p": 1, "bn": True, "name": "conv2"},
                       {"add": ["conv2", "in"], "proj": "conv_bn", "name": "add"}, "relu"]},
    # Inception-like: parallel branches from the block input, concatenated
    "inc": {"args": {"a": None, "b": None},
            "layers": [{"conv": "a", "k": 1, "name": "b1", "from": "in"},
                       {"conv": "b", "k": 3, "p": 1, "name": "b2", "from": "in"},
                       {"maxpool": 3, "s": 1, "p": 1, "name": "b3", "from": "in"},
                       {"concat": ["b1", "b2", "b3"], "name": "cat"}]},
    # MobileNetV2-like: expand, depthwise, project, residual add (no projection needed)
    "dw": {"args": {"e": 2}, "let": {"wide": "cin * e"},
           "layers": [{"conv": "wide", "k": 1, "bn": True, "act": "relu6", "name": "expand"},
                      {"conv": "cin", "k": 3, "p": 1, "g": "cin", "bn": True, "name": "dw"},
                      {"conv": "cin // e", "k": 1, "name": "project"},
                      {"add": ["project", "in"], "name": "add"}]},
}


def _pool_out(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    if not ceil:
        return (size + 2 * p - k) // s + 1
    out = -(-(size + 2 * p - k) // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


@st.composite
def valid_specs(draw: st.DrawFn) -> str:
    """A random valid network, generated while tracking the (C, H, W) shape so that every row
    fits its input."""
    c, h, w = draw(st.integers(1, 8)), draw(st.integers(6, 20)), draw(st.integers(6, 20))
    input_shape = (c, h, w)
    rows: list[Any] = []
    prev = "in"
    for n in range(draw(st.integers(1, 6))):
        name = f"r{n}"
        kind = draw(st.sampled_from(["conv", "conv", "pool", "norm_act", "branches", "residual",
                                     "se", "block_res", "block_inc", "block_dw", "misc"]))
        if kind == "conv":
            g = draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
            out = g * draw(st.integers(1, max(1, 16 // g)))
            k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
            d = draw(st.integers(1, 2))
            s = draw(st.integers(1, 3))
            same = draw(st.booleans()) and draw(st.booleans())
            p = "same" if same else draw(st.integers(0, 2))
            pad = 0 if same else p
            span = (d * (k[0] - 1) + 1, d * (k[1] - 1) + 1)
            if not same and (span[0] > h + 2 * pad or span[1] > w + 2 * pad):
                k, d = (1, 1), 1
                span = (1, 1)
            row = {"conv": out, "k": k[0] if k[0] == k[1] else list(k), "s": s, "p": p, "d": d,
                   "g": g, "name": name}
            if draw(st.booleans()):
                row["bn"] = True
            if draw(st.booleans()):
                row["act"] = draw(st.sampled_from(["relu", "relu6", "hardswish", "sigmoid", "tanh"]))
            if same:
                h, w = -(-h // s), -(-w // s)
            else:
                h, w = (h + 2 * pad - span[0]) // s + 1, (w + 2 * pad - span[1]) // s + 1
            c = out
        elif kind == "pool":
            k = draw(st.integers(1, min(3, h, w)))
            s = draw(st.integers(1, 3))
            p = draw(st.integers(0, k // 2))
            ceil = draw(st.booleans())
            row = {draw(st.sampled_from(["maxpool", "avgpool"])): k, "s": s, "p": p,
                   "ceil": ceil, "name": name}
            h, w = _pool_out(h, k, s, p, ceil), _pool_out(w, k, s, p, ceil)
        elif kind == "norm_act":
            row = {draw(st.sampled_from(["bn", "relu", "prelu", "hardswish", "dropout",
                                         "identity", "lrn"])): None, "name": name}
            if "lrn" in row:
                row["lrn"] = draw(st.integers(1, 5))
        elif kind == "misc":
            op = draw(st.sampled_from(["channel_shuffle", "pad_channels"]))
            if op == "channel_shuffle":
                row = {op: draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0])),
                       "name": name}
            else:
                c += draw(st.integers(0, 4))
                row = {op: c, "name": name}
        elif kind == "branches":
            names = []
            branch_c = 0
            for j in range(draw(st.integers(2, 3))):
                bname = f"{name}_b{j}"
                if draw(st.booleans()):
                    k = draw(st.sampled_from([1, 3, 5]))
                    oc = draw(st.integers(1, 8))
                    rows.append({"conv": oc, "k": k, "p": k // 2, "from": prev, "name": bname})
                    branch_c += oc
                else:
                    rows.append({"maxpool": 3, "s": 1, "p": 1, "from": prev, "name": bname})
                    branch_c += c
                names.append(bname)
            row = {"concat": names, "name": name}
            c = branch_c
        elif kind in ("residual", "block_res"):
            even = h % 2 == 0 and w % 2 == 0
            s = draw(st.sampled_from([1, 2] if even else [1]))
            oc = draw(st.integers(1, 16))
            if kind == "residual":
                rows.append({"conv": oc, "k": 3, "s": s, "p": 1, "bn": True, "act": "relu",
                             "from": prev, "name": f"{name}_conv"})
                row = {"add": [f"{name}_conv", prev], "name": name,
                       "proj": draw(st.sampled_from(["conv", "conv_bn"]))}
            else:
                row = {"block": "res", "c": oc, "s": s, "repeat": draw(st.integers(1, 3)),
                       "name": name}
            c, h, w = oc, -(-h // s), -(-w // s)
        elif kind == "se":
            rows += [{"gap": None, "from": prev, "name": f"{name}_gap"},
                     {"conv": c, "k": 1, "name": f"{name}_fc"},
                     {"sigmoid": None, "name": f"{name}_gate"}]
            row = {"mul": [prev, f"{name}_gate"], "name": name}
        elif kind == "block_inc":
            a, b = draw(st.integers(1, 8)), draw(st.integers(1, 8))
            row = {"block": "inc", "a": a, "b": b, "name": name}
            c = a + b + c
        else:
            e = draw(st.integers(1, 3))
            row = {"block": "dw", "e": e, "repeat": draw(st.integers(1, 2)), "name": name}
        if prev != "in" and "from" not in row and draw(st.integers(0, 4)) == 0:
            row["from"] = prev      # explicit `from` of the previous row: same meaning
        if draw(st.integers(0, 6)) == 0:   # a row switched off: no effect on anything
            rows.append({"conv": 3, "k": 99, "if": "1 < 0", "name": f"{name}_off"})
        rows.append(row)
        prev = name
    if draw(st.booleans()):
        rows += ["gap", "flatten", {"linear": draw(st.integers(1, 10)), "name": "fc"}]
    return _spec_text(rows, input_shape, BLOCKS)


def _rf(text: str) -> tuple[float, float]:
    if text == "global":     # sees the whole input: wider than any window
        return (math.inf, math.inf)
    parts = [float(Fraction(v)) for v in str(text).split("x")]
    return (parts[0], parts[-1])


@FUZZ
@given(text=valid_specs())
def test_valid_specs_agree_with_meta_model(fuzz_dir: Path, text: str) -> None:
    analysis = _full_pipeline(_write(fuzz_dir, text))   # params, buffers, every shape vs meta
    layers, graph = analysis.layers, analysis.graph
    # MACs: non-negative per layer, additive, and equal to the torch modules' own arithmetic
    assert (layers["macs"] >= 0).all() and (layers["other_ops"] >= 0).all()
    assert analysis.totals["macs"] == int(layers["macs"].sum())
    model = archprof.build(graph, device="meta")
    expected = 0
    for node in graph.nodes:
        module = model.get_submodule(node.name)
        conv = module[1] if isinstance(module, archprof.model.modules.PaddedConv) else module
        if node.op.kind == "conv":
            kh, kw = conv.kernel_size
            expected += math.prod(node.out) * conv.in_channels // conv.groups * kh * kw
        elif node.op.kind == "linear":
            expected += module.in_features * module.out_features
    assert analysis.totals["macs"] == expected
    # receptive field and jump never shrink from an op's inputs to its output
    rf = dict(zip(layers["name"], layers["rf"])) | {INPUT: "1"}
    jump = dict(zip(layers["name"], layers["jump"])) | {INPUT: "1"}
    for node in graph.nodes:
        for src in node.inputs:
            assert all(a >= b for a, b in zip(_rf(rf[node.name]), _rf(rf[src]))), node.name
            assert all(a >= b for a, b in zip(_rf(jump[node.name]), _rf(jump[src]))), node.name
    # static parameter count is the sum of the per-layer column
    assert analysis.totals["params"] == int(layers["params"].sum())


# ------------------------------------------------------------------------------------------
# Malformed specs: each must raise SpecError
# ------------------------------------------------------------------------------------------
HUGE = [10**20, 1e30, "1e30", "10**20", 2**63, -(10**20), "1e308 * 10", float("inf"), ".inf"]
BAD_FIELDS: dict[str, list[Any]] = {
    "conv": [0, -1, -8, "abc", [1, 2], {"a": 1}, 1.5, True, "", "c + 1", *HUGE],
    "k": [0, -3, [0, 3], [1, 2, 3], "abc", 50, 19, [3, 40], 10**6, *HUGE],
    "s": [0, -2, "nope", [1], [1, 2, 3], 0.5, *HUGE],
    "p": [-1, [1, 2, 3], "same2", [-1, 0], {"x": 1}, *HUGE],
    "d": [0, -1, 9, 10**6, *HUGE],
    "g": [0, -1, 3, 5, 16, 1.5, *HUGE],
    "bias": ["maybe", [True], {"a": 1}],
    "repeat": [0, -1, "abc", 1.5, [2], 10**20, 1e30],
    "bn": ["sometimes", [1]],
    "act": ["conv", "nosuch", 3],
    "name": ["a.b", "1x", "", 3, ["x"], "a b"],
    "if": ["abc", "1 +", "__import__('os')"],
    "expect": [{"shapez": 3}, "64x16x16", [1]],
}


def _base_rows() -> list[Any]:
    return [{"conv": 8, "k": 3, "p": 1, "name": "c1"},
            {"conv": 8, "k": 3, "s": 2, "p": 1, "name": "c2"},
            "relu", "gap", "flatten", {"linear": 10, "name": "fc"}]


@st.composite
def bad_field_specs(draw: st.DrawFn) -> str:
    """One field of a conv row (or its repeat/name/...) replaced by a bad value, in the first
    conv (3 input channels, 16x16) or the second (8 channels), after 0-3 blank lines."""
    key = draw(st.sampled_from(sorted(BAD_FIELDS)))
    value = draw(st.sampled_from(BAD_FIELDS[key]))
    at = draw(st.sampled_from([0, 1]))
    rows = _base_rows()
    row = dict(rows[at])
    if key == "conv":
        row["conv"] = value
    else:
        row[key] = value
    if key == "g":                      # out 8, input 3 or 8: none of the bad g divide both
        row["conv"] = 8
    if key == "act":
        row["bn"] = True
    rows[at] = row
    return "\n" * draw(st.integers(0, 3)) + _spec_text(rows)


BAD_INPUTS = [[3, 0, 8], [-3, 8, 8], [3, 8, 8, 8, 8, 8], "abc", [3, "x", 8], [3, 1.5, 8],
              [3, 10**20, 10**20], [10**20, 8, 8], [1e30, 1, 1], "3x0x8", {"c": 3}, [],
              [True, 8, 8], ["1e30", 8, 8], [3, 10**9, 10**9], [[3], 8, 8]]


def _bad_structures() -> list[str]:
    """Missing keys, dangling/cyclic references, bad merges, unknown ops/keys, recursion."""
    base = _base_rows()
    conv = {"conv": 8, "k": 1, "name": "x"}
    chain = {f"b{n}": {"layers": [{"block": f"b{n + 1}"}]} for n in range(40)}
    chain["b40"] = {"layers": ["relu"]}
    specs = [
        _spec_text([{"conv": 8}]),                                      # missing k
        _spec_text([{"conv": None, "k": 3}]),                           # missing out
        _spec_text([{"block": "res"}], blocks=BLOCKS),                  # missing block arg
        _spec_text([{"block": "res", "c": 4, "z": 1}], blocks=BLOCKS),  # unknown block arg
        _spec_text([{"block": "nosuch"}], blocks=BLOCKS),
        _spec_text([{"block": "b"}], blocks={"b": {"args": {}}}),       # block without layers
        _spec_text([{"block": "b"}], blocks={"b": {"layers": ["relu"], "out": "zz"}}),
        _spec_text([{"block": "b"}], blocks={"b": {"layers": ["relu"], "lets": {}}}),
        _spec_text([{"block": "b"}], blocks={"b": ["relu"]}),
        _spec_text([{"block": "b"}], blocks={"b": {"layers": ["relu"], "args": [1]}}),
        _spec_text([{"block": "b"}], blocks={"b": {"layers": [{"block": "b"}]}}),    # self
        _spec_text([{"block": "a"}], blocks={"a": {"layers": [{"block": "b"}]},
                                             "b": {"layers": ["relu", {"block": "a"}]}}),
        _spec_text([{"block": "b0"}], blocks=chain),                    # 40 levels deep
        _spec_text([{"block": "b", "repeat": 10**6}],
                   blocks={"b": {"layers": [{"block": "b"}, {"block": "b"}]}}),
        _spec_text([*base[:2], {"from": "nosuch", "relu": None}]),       # dangling
        _spec_text([{"relu": None, "from": "later", "name": "early"},
                    {"conv": 3, "k": 1, "name": "later"}]),             # forward (cyclic) ref
        _spec_text([{"relu": None, "from": "me", "name": "me"}]),       # self reference
        _spec_text([{**conv, "name": "a", "from": "b"}, {**conv, "name": "b", "from": "a"}]),
        _spec_text([*base[:2], {"concat": ["c1", "nosuch"]}]),
        _spec_text([*base[:2], {"concat": ["c1", "c2"]}]),              # 16x16 vs 8x8
        _spec_text([*base[:2], {"add": ["c2", "c1"]}]),                 # shapes differ
        _spec_text([*base[:2], {"add": ["c1"]}]),                       # one input
        _spec_text([*base[:2], {"add": "c1"}]),
        _spec_text([*base[:2], {"add": ["c2", 3]}]),
        _spec_text([*base[:2], {"add": ["c2", "c1"], "proj": "linear"}]),
        _spec_text([{"conv": 4, "k": 3, "name": "a"}, {"add": ["a", "in"], "proj": "conv"}]),
        _spec_text([*base, {"add": ["fc", "c1"], "proj": "conv"}]),     # flat vs map
        _spec_text([*base, {"concat": ["fc", "c1"]}]),
        _spec_text([*base, {"mul": ["fc", "c1"]}]),
        _spec_text([*base, {"conv": 3, "k": 1}]),                       # conv after flatten
        _spec_text([{"sdpa": ["in", "in"]}]),                           # q, k, v: 3 inputs
        _spec_text([{"matmul": ["in", "in"], "name": "m"}], input=[3, 16, 8]),  # 16x8 @ 16x8
        _spec_text([{"channel_shuffle": 2}]),                           # 3 channels
        _spec_text([{"pad_channels": 2}]),
        _spec_text([{"maxpool": 2, "p": 2}]),                           # pad > half kernel
        _spec_text([{"maxpool": 99}]),
        _spec_text([{"dropout": 1.5}]),
        _spec_text([{"bn": None, "eps": "abc"}]),
        _spec_text([{"convolution": 8, "k": 3}]),                       # unknown op
        _spec_text(["conv2d"]),
        _spec_text([{"conv": 8, "k": 3, "kernel": 3}]),                 # unknown key
        _spec_text([{"conv": 8, "k": 3, "relu": None}]),                # two ops
        _spec_text([{"name": "only"}]),
        _spec_text([{}]),
        _spec_text([[1, 2]]),
        _spec_text([3]),
        _spec_text([None]),
        _spec_text([{"relu": None, "if": "0"}]),                        # everything skipped
        _spec_text([{**conv, "name": "x"}, {**conv, "name": "x"}]),     # duplicate name
        _spec_text(["relu"], params={"a": "b + 1"}),
        _spec_text([{"conv": "nosuch", "k": 1}]),
        _spec_text([{"conv": "cin.real", "k": 1}]),
        _spec_text([{"conv": "__import__('os').getpid()", "k": 1}]),
        _spec_text([{"conv": "(lambda: 3)()", "k": 1}]),
        _spec_text([{"conv": "'abc'", "k": 1}]),
        _spec_text([{"conv": "9 ** 99", "k": 1}]),
        _spec_text([{"conv": "8", "k": 3, "expect": {"shape": "axb"}}]),
        "networks: {}\n",
        "family: x\n",
        "networks: {net: {layers: []}}\n",
        "networks: {net: {input: [3, 8, 8]}}\n",
        "networks: {net: {layers: relu}}\n",
        "networks: {net: [relu]}\n",
        "networks: [relu]\n",
        "nets: {net: {layers: [relu]}}\n",
        "networks: {net: {layers: [relu], inputs: [3, 8, 8]}}\n",
        "networks: {net: {layers: [relu], params: [1]}}\n",
        "networks: {net: {layers: [relu]}}\nblocks: [1]\n",
        "networks: {net: {layers: [relu]}}\nparams: 3\n",
        "networks: {net: {layers: [relu], reference: 3}}\n",
        "networks: {net: {layers: [relu], input: [3, 8, 8]}, net: {layers: [relu]}}\n",
        "networks: {net: {layers: [relu]}}\n? [a, b]\n: 3\n",
        "networks: !!python/object/apply:os.getpid []\n",
        "networks: {net: {layers: [!!python/name:os.system relu]}}\n",
        "networks: {net: {layers: [relu], input: !!binary aGVsbG8=}}\n",
        "networks: {net: {layers: [relu]}}\n---\nnetworks: {}\n",
        "%YAML 9.9\n---\nnetworks: {}\n",
        "networks: {net: {layers: [{conv: 3, k: 1, <<: {s: 2}}]}}\n",
        "networks: {net: {layers: [relu]}}\nfamily: [",
        "\t- tab",
        "",
        "---\n...\n",
        "- just a list\n",
        "'a string'\n",
    ]
    specs += [_spec_text(["relu"], input=value) for value in BAD_INPUTS]
    return specs


def _bombs() -> list[str]:
    """YAML alias bombs ("billion laughs"): 9 levels of 9 references each, placed where a spec
    expects a list, a number, a name or a mapping."""
    anchors = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 10))
    head = "family: Bomb\nnotes: n\n"   # the anchors live under an unknown key or a param
    places = [
        "input: *a9", "layers: *a9", "layers: [*a9]", "layers: [{conv: *a9, k: 3}]",
        "layers: [{conv: 8, k: *a9}]", "layers: [{conv: 8, k: 3, p: *a9}]",
        "layers: [{relu: , from: *a9}]", "layers: [{concat: *a9}]", "layers: [{relu: , name: *a9}]",
        "layers: [{relu: , expect: *a9}]", "layers: [{relu: , if: *a9}]",
        "layers: [{relu: , repeat: *a9}]", "layers: [{block: *a9}]", "title: *a9\n    layers: [relu]",
        "layers: [{conv: 8, k: 3, act: *a9}]", "layers: [{add: [*a9, in]}]",
        "layers: [{conv: 8, k: 3, bn: *a9}]", "layers: [{dropout: *a9}]",
    ]
    out = []
    for place in places:
        body = f"networks:\n  net:\n    {place}\n"
        out.append("bombs:\n" + "".join("  " + line + "\n" for line in anchors.splitlines())
                   + head + body)                       # unknown top-level key 'bombs'
        params = "params:\n" + "".join("  " + line + "\n" for line in anchors.splitlines())
        out.append(head + params + body)                # anchors as (list-valued) params
    # mapping bomb: a row mapping referenced 10**9 times through nested lists
    out.append("params:\n  r: &r {conv: 8, k: 1}\n  l1: &l1 [*r, *r, *r, *r, *r, *r, *r, *r, *r]\n"
               + "".join(f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(2, 10))
               + "networks:\n  net:\n    layers: *l9\n")
    return out


@FUZZ
@given(text=bad_field_specs())
def test_bad_field_values_raise_spec_error(fuzz_dir: Path, text: str) -> None:
    assert _outcome(_write(fuzz_dir, text)) is not None


@FUZZ
@given(text=st.sampled_from(_bad_structures()), pad=st.integers(0, 3))
def test_malformed_structure_raises_spec_error(fuzz_dir: Path, text: str, pad: int) -> None:
    # `pad` blank lines in front: the same spec at other line numbers, and other file names
    assert _outcome(_write(fuzz_dir, "\n" * pad + text)) is not None


@pytest.mark.parametrize("text", _bombs(), ids=lambda t: str(len(t)))
def test_alias_bombs_fail_fast_in_bounded_memory(fuzz_dir: Path, text: str) -> None:
    path = _write(fuzz_dir, text)
    tracemalloc.start()
    try:
        error = _outcome(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error is not None
    assert peak < 50_000_000, f"peak {peak:,} bytes"


@FUZZ
@given(text=valid_specs(), where=st.integers(0, 10**6), junk=st.sampled_from(
    [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
def test_non_utf8_bytes_raise_spec_error(fuzz_dir: Path, text: str, where: int, junk: bytes) -> None:
    data = text.encode()
    at = where % (len(data) + 1)
    error = _outcome(_write(fuzz_dir, data[:at] + junk + data[at:]))
    assert error is not None and "UTF-8" in str(error)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(fuzz_dir: Path, data: bytes) -> None:
    _outcome(_write(fuzz_dir, data))


# Random YAML documents shaped like specs: random rows of known and unknown keys with random
# values. Any outcome is fine except a non-SpecError exception, a hang or a static/model mismatch.
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.sampled_from(HUGE),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from(["in", "r0", "r1", "cin", "cin // 2", "hin", "i", "x", "same",
                                      "relu", "conv_bn", "conv", "1/0", "-1", "a" * 300]),
                     st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)
_keys = st.sampled_from(sorted(OPS) + ["block", "name", "from", "repeat", "if", "expect", "k", "s",
                                       "p", "d", "g", "bias", "bn", "act", "ceil", "proj", "eps",
                                       "zzz"])


@st.composite
def random_spec_docs(draw: st.DrawFn) -> str:
    rows = draw(st.lists(st.dictionaries(_keys, _values, min_size=1, max_size=4)
                         | _values, min_size=1, max_size=6))
    for n, row in enumerate(rows):
        if isinstance(row, dict) and draw(st.booleans()):
            row["name"] = f"r{n}"
    input = draw(st.sampled_from([[3, 16, 16], [1, 5, 7], [8, 1, 1], [4]]) | _values)
    blocks = {"bk": {"args": draw(st.dictionaries(st.sampled_from(["c", "s", "x"]), _values,
                                                  max_size=2)),
                     "layers": draw(st.lists(st.dictionaries(_keys, _values, min_size=1,
                                                             max_size=3), max_size=3))}}
    return _spec_text(rows, input, blocks, draw(st.dictionaries(st.sampled_from(["x", "c"]),
                                                                 _values, max_size=2)))


@FUZZ
@given(text=random_spec_docs())
def test_random_spec_documents_never_crash(fuzz_dir: Path, text: str) -> None:
    _outcome(_write(fuzz_dir, text))   # success also checked: static numbers == meta model


# ------------------------------------------------------------------------------------------
# The expression evaluator
# ------------------------------------------------------------------------------------------
NAMES: dict[str, object] = {"c": 64, "s": 2, "i": 0, "cin": 3, "x": 1.5, "word": "relu", "lst": [1]}
_tokens = st.sampled_from(["1", "0", "2.5", "1e30", "c", "s", "i", "x", "word", "lst", "nosuch", "+",
                           "-", "*", "/", "//", "%", "**", "(", ")", "<", "==", ">=", " and ",
                           " or ", "not ", " if ", " else ", "round(", "int(", "min(", "max(",
                           "abs(", "len(", ",", ".", "__class__", "__import__", "'", "[", "]",
                           "lambda:", "True", "9" * 20, "\x00", " is ", " in ", "@", "~", "**-1"])


def _evaluate(text: str) -> None:
    start = time.perf_counter()
    try:
        value = expr.evaluate(text, NAMES)
    except SpecError as err:
        assert str(err)
    else:
        assert isinstance(value, (int, float, bool)), repr(value)
        assert not isinstance(value, float) or math.isnan(value) or abs(value) <= expr.MAX_MAGNITUDE
    assert time.perf_counter() - start < TIME_LIMIT


@FUZZ
@given(text=st.text(max_size=60))
def test_expression_random_text(text: str) -> None:
    _evaluate(text)


@settings(FUZZ, max_examples=500)
@given(parts=st.lists(_tokens, max_size=25))
def test_expression_random_token_soup(parts: list[str]) -> None:
    _evaluate("".join(parts))


@pytest.mark.parametrize("text", [
    "c.__class__", "().__class__.__bases__", "__import__('os')", "open('x')", "eval('1')",
    "exec('1')", "getattr(c, 'real')", "c.real", "lst[0]", "(lambda: 1)()", "[1, 2]", "{1: 2}",
    "'a' * 3", "f'{c}'", "__builtins__ if c else c", "__builtins__", "globals()", "round.__self__",
    "min(*lst)", "max(c=1)", "9 ** 9 ** 9", "c @ c", "~c", "c << 2", "(c := 3)", "x for x in lst",
    "1 < 2 is True", "c in lst", "word", "lst", "1" * 201, "(" * 150 + "1" + ")" * 150,
])
def test_expression_whitelist_rejects(text: str) -> None:
    with pytest.raises(SpecError):
        expr.evaluate(text, NAMES)
