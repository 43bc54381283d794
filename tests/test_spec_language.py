"""The spec language: names, blocks, repeats, references, projections, expressions, and the
arithmetic of every op rule checked against hand calculations."""
from __future__ import annotations

import pytest

import archprof
from archprof.errors import SpecError
from archprof.spec import expr

BOTTLENECK = """
bottleneck:
  args: {c: null, s: 1}
  let: {stride: "s if i == 0 else 1"}
  layers:
    - {conv: c, k: 1, bn: true, act: relu, name: conv1}
    - {conv: c, k: 3, s: stride, p: 1, bn: true, act: relu, name: conv2}
    - {conv: "4 * c", k: 1, bn: true, name: conv3}
    - {add: [conv3, in], proj: conv_bn, name: add}
    - {relu: , name: relu}
"""


def test_blocks_repeat_names_and_first_block_stride(write_spec):
    path = write_spec("- {block: bottleneck, c: 16, s: 2, repeat: 3, name: conv3_x}",
                      blocks=BOTTLENECK, input="[32, 16, 16]")
    a = archprof.analyze(path)
    names = list(a.layers["name"])
    assert "conv3_x.block2.conv1.conv" in names and "conv3_x.block3.relu" in names
    # only the first block strides and projects its shortcut (32 -> 64 channels, 16 -> 8)
    assert [n for n in names if "_proj" in n] == ["conv3_x.block1.add_proj.conv",
                                                  "conv3_x.block1.add_proj.bn"]
    shapes = dict(zip(a.layers["name"], a.layers["shape"]))
    assert shapes["conv3_x.block1.conv2.conv"] == "16x8x8"
    assert shapes["conv3_x.block3.relu"] == "64x8x8"
    # params by hand: block 1 has cin 32, blocks 2-3 have cin 64; bn = 2C; projection 1x1 32->64 + bn
    def block(cin: int) -> int:
        return cin * 16 + 32 + 9 * 16 * 16 + 32 + 16 * 64 + 128
    assert a.totals["params"] == block(32) + (32 * 64 + 128) + 2 * block(64)
    # model module names are the spec names
    model = archprof.build(path, device="meta")
    assert model.get_submodule("conv3_x.block2.conv1.conv").kernel_size == (1, 1)


def test_concat_branches_and_named_references(write_spec):
    layers = """
- {conv: 8, k: 1, name: a, from: in}
- {conv: 4, k: 3, p: 1, name: b, from: in}
- {maxpool: 3, s: 1, p: 1, name: pool, from: in}
- {concat: [a, b, pool], name: cat}
"""
    a = archprof.analyze(write_spec(layers, input="[6, 10, 10]"))
    assert a.layers["shape"].iloc[-1] == f"{8 + 4 + 6}x10x10"


def test_errors_name_file_line_path_and_hint(write_spec):
    path = write_spec("- {conv: 8, k: 3, name: b5x5_reduce}\n- {concat: [b5x5, b5x5_reduce], name: cat}")
    with pytest.raises(SpecError) as err:
        archprof.analyze(path)
    text = str(err.value)
    assert str(path) in text and ":8: cat: " in text
    assert "unknown reference 'b5x5'" in text and "did you mean 'b5x5_reduce'?" in text


def test_an_error_in_a_blocks_let_or_default_names_that_entrys_line(write_spec):
    blocks = """
b:
  args: {c: null,
         d: "c + zz"}
  let:
    w: "c * 2"
    v: "w + nope"
  layers:
    - {conv: v, k: 3}
"""
    # file lines: 1 family, 2 params, 3 blocks:, 4 b:, 5-6 args, 7 let:, 8 w, 9 v
    path = write_spec("- {conv: 8, k: 3}\n- {block: b, c: 4, d: 1, name: blk}", blocks)
    with pytest.raises(SpecError) as err:
        archprof.analyze(path)
    assert f"{path}:9: blk: block 'b' let 'v': unknown name 'nope'" in str(err.value)
    path = write_spec("- {conv: 8, k: 3}\n- {block: b, c: 4, name: blk}",
                      blocks.replace("w + nope", "w"))
    with pytest.raises(SpecError) as err:
        archprof.analyze(path)
    assert f"{path}:6: blk: block 'b' args 'd': unknown name 'zz'" in str(err.value)


def test_errors_in_bare_word_and_unnamed_rows_name_their_line_and_path(write_spec):
    # file lines: 1 family, 2 params, 3 networks:, 4 net:, 5 input, 6 layers:, 7 relu, 8 conv
    for rows, where in [("- relu\n- conv", ":8: conv1: conv needs field 'k'"),
                        ("- relu\n- {conv: 4}", ":8: conv1: conv needs field 'k'"),
                        ("- relu\n- 42", ":8: net: a layer row must be a mapping")]:
        with pytest.raises(SpecError) as err:
            archprof.analyze(write_spec(rows))
        assert where in str(err.value)
    path = write_spec("- relu", extra="titel: x")      # line 6, after input on line 5
    with pytest.raises(SpecError, match=r":6: unknown key 'titel' in network 'net' "
                                        r"\(did you mean 'title'\?\)"):
        archprof.analyze(path)


def test_a_copied_block_may_not_reuse_a_node_name(write_spec):
    """A residual `add` with `proj:` names its projection `<name>_proj.conv`; a later block row
    named `a_proj` whose block has a node `conv` would make that name again, both when the
    block is expanded afresh and when it is a copy of the call made before (the first row)."""
    blocks = "unit:\n  layers:\n    - {conv: 4, k: 1, name: conv}"
    rows = ("- {block: unit, name: u1}\n- {conv: 4, k: 1, s: 2, name: c}\n"
            "- {add: [c, u1], proj: conv, name: a}\n")
    cases = {"- {block: unit, from: in, name: a_proj}": ":14: a_proj: ",  # a copy of u1's
             # a new input shape: expanded afresh, the clash found at the block's own row
             "- {block: unit, from: c, name: a_proj}": ":6: a_proj.conv: "}
    for tail, where in cases.items():
        path = write_spec(rows + tail, blocks=blocks, input="[3, 8, 8]")
        with pytest.raises(SpecError, match=where + r"two layers are named 'a_proj\.conv'"):
            archprof.analyze(path)


def test_kernel_larger_than_padded_input(write_spec):
    blocks = "b:\n  layers:\n    - {conv: 4, k: 7, name: conv2}"
    path = write_spec("- {conv: 4, k: 3, s: 2, p: 1, name: c}\n- {block: b, name: conv3_x}", blocks=blocks,
                      input="[3, 9, 9]")
    with pytest.raises(SpecError, match=r"conv3_x\.conv2: kernel 7 exceeds padded input 5"):
        archprof.analyze(path)


def test_unknown_network_lists_known_ones():
    with pytest.raises(SpecError, match=r"unknown network 'vgg17'; known: .*vgg16.*did you mean .*'vgg16'"):
        archprof.load_spec("vgg17")


def test_yaml_python_tags_are_rejected(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("networks:\n  x: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        archprof.load_spec(path)


@pytest.mark.parametrize("text", ["__import__('os')", "c.real", "open('x')", "[1][0]", "2 ** 8",
                                  "lambda: 1", "'a'"])
def test_expression_whitelist(text):
    with pytest.raises(SpecError):
        expr.evaluate(text, {"c": 3})


def test_expressions():
    env = {"c": 64, "alpha": 0.75, "flag": True}
    assert expr.evaluate("int(c * alpha)", env) == 48
    assert expr.evaluate("max(8, c // 3 + 1) % 5", env) == (max(8, 64 // 3 + 1)) % 5
    assert expr.evaluate("2 if flag and c > 32 else 1", env) == 2
    assert expr.evaluate("round(c / 3)", env) == 21


def test_params_override_and_unknown_param(write_spec):
    path = write_spec("- {conv: width, k: 1}", params="{width: 8}")
    assert archprof.analyze(path).totals["params"] == 3 * 8 + 8
    assert archprof.analyze(path, params={"width": 5}).totals["params"] == 3 * 5 + 5
    with pytest.raises(SpecError, match="unknown parameter 'widht'.*did you mean 'width'"):
        archprof.analyze(path, params={"widht": 5})


def test_an_unknown_name_is_hinted_with_the_shape_variables(write_spec):
    """Every row sees its input's shape variables, read or not, so a misspelt one is named."""
    path = write_spec("- {conv: 8, k: 1, name: a}\n- {conv: \"cinn * 2\", k: 1, name: b}")
    with pytest.raises(SpecError, match=r"unknown name 'cinn'.*did you mean 'cin'\?"):
        archprof.analyze(path)


def test_output_size_floor_ceil_same_and_dilation(write_spec):
    layers = """
- {maxpool: 3, s: 2, name: floor_pool}
- {maxpool: 3, s: 2, ceil: true, name: ceil_pool, from: in}
- {conv: 2, k: 3, s: 2, p: same, name: same, from: in}
- {conv: 2, k: 3, d: 2, name: dilated, from: in}
- {conv: 2, k: [1, 7], p: [0, 3], name: asym, from: in}
"""
    a = archprof.analyze(write_spec(layers, input="[2, 112, 112]"))
    shapes = dict(zip(a.layers["name"], a.layers["shape"]))
    assert shapes["floor_pool"] == "2x55x55"      # floor((112 - 3)/2) + 1 = 55
    assert shapes["ceil_pool"] == "2x56x56"       # ceil((112 - 3)/2) + 1 = 56 (Caffe)
    assert shapes["same"] == "2x56x56"            # ceil(112 / 2)
    assert shapes["dilated"] == "2x108x108"       # 112 - 2*(3-1) - 1 + 1
    assert shapes["asym"] == "2x112x112"
    rf = dict(zip(a.layers["name"], a.layers["rf"]))
    assert rf["dilated"] == "5" and rf["asym"] == "1x7"


def test_grouped_and_depthwise_conv_rules(write_spec):
    a = archprof.analyze(write_spec("- {conv: 32, k: 3, p: 1, g: 32, bias: false, name: dw}\n"
                                    "- {conv: 64, k: 3, p: 1, g: 4, name: g4}", input="[32, 8, 8]"))
    dw, g4 = a.layers.iloc[0], a.layers.iloc[1]
    assert dw["params"] == 3 * 3 * 32 and dw["macs"] == 8 * 8 * 32 * 9 and dw["layer"] == "conv 3x3 dw"
    assert g4["params"] == 3 * 3 * (32 // 4) * 64 + 64 and g4["macs"] == 8 * 8 * 64 * 9 * 8
    with pytest.raises(SpecError, match="groups 3 must divide"):
        archprof.analyze(write_spec("- {conv: 32, k: 3, g: 3}", input="[32, 8, 8]"))


def test_batchnorm_params_and_buffers(write_spec):
    a = archprof.analyze(write_spec("- {conv: 16, k: 3, bn: true}", input="[3, 8, 8]"))
    assert a.totals["params"] == 3 * 3 * 3 * 16 + 2 * 16      # no conv bias before BN
    assert a.totals["buffers"] == 2 * 16 + 1                   # running mean, var, batch count


def test_activations_and_peak_live_memory(write_spec):
    # input 4x8x8 -> conv a (8x8x8) -> relu (in place) -> conv b (8x8x8, reads relu)
    #                                   conv c (2x8x8, reads in) -> concat [b, c] (10x8x8)
    layers = """
- {conv: 8, k: 3, p: 1, name: a}
- {relu: , name: r}
- {conv: 8, k: 3, p: 1, name: b}
- {conv: 2, k: 1, name: c, from: in}
- {concat: [b, c], name: cat}
"""
    a = archprof.analyze(write_spec(layers, input="[4, 8, 8]"))
    hw = 64
    assert a.totals["activations"] == (4 + 8 + 8 + 2 + 10) * hw     # relu adds nothing
    # live: in(4) + a(8) -> +b(8), a freed -> +c(2), in freed -> +cat(10): peak = b + c + cat
    assert a.totals["peak_activations"] == max(4 + 8, 4 + 8 + 8, 4 + 8 + 2, 8 + 2 + 10) * hw


def test_inplace_only_when_nothing_else_reads(write_spec):
    # relu on `a` while `a` also feeds the add: it must not overwrite `a`
    layers = """
- {conv: 4, k: 1, name: a}
- {relu: , name: r}
- {add: [r, a], name: sum}
"""
    path = write_spec(layers, input="[4, 4, 4]")
    a = archprof.analyze(path)
    assert a.layers.set_index("name").loc["r", "activations"] == 4 * 16
    model = archprof.build(path, device="meta")
    assert model.get_submodule("r").inplace is False


def test_blocks_with_several_inputs_and_conditions_on_input_shape(write_spec):
    # a NASNet-style cell reads the previous two outputs; `if:` sees the row's input shape
    blocks = """
cell:
  inputs: [x, h]
  layers:
    - {conv: 8, k: 1, name: a, from: x}
    - {conv: 8, k: 1, name: b, from: h}
    - {add: [a, b], name: sum}
"""
    layers = """
- {conv: 4, k: 3, p: 1, name: c0}
- {conv: 6, k: 3, p: 1, name: c1}
- {block: cell, from: [c1, c0], name: cell1}
- {conv: 2, k: 1, name: kept, if: "cin == 8"}
- {conv: 2, k: 1, name: skipped, if: "cin == 9"}
"""
    a = archprof.analyze(write_spec(layers, blocks=blocks, input="[3, 8, 8]"))
    params = dict(zip(a.layers["name"], a.layers["params"]))
    assert params["cell1.a"] == 6 * 8 + 8 and params["cell1.b"] == 4 * 8 + 8   # x = c1, h = c0
    assert "kept" in params and "skipped" not in params
    one = write_spec(layers.replace("from: [c1, c0]", "from: c1"), blocks=blocks, name="one")
    with pytest.raises(SpecError, match=r"cell1: block 'cell' takes 2 input\(s\) \(x, h\); got 1"):
        archprof.analyze(one)


def test_empty_from_is_a_spec_error(write_spec):
    # found by tests/test_fuzz.py in a fresh clone: `from: []` used to raise IndexError
    with pytest.raises(SpecError, match="from: names no input"):
        archprof.analyze(write_spec("- {avgpool: 2, from: []}"))


def test_an_op_of_one_input_refuses_several(write_spec):
    """A conv's rule reads its first input alone: `from: [p, q]` was silently the conv of p."""
    path = write_spec("- {conv: 4, k: 1, name: p}\n- {conv: 4, k: 1, from: in, name: q}\n"
                      "- {conv: 4, k: 1, from: [p, q], name: r}")
    with pytest.raises(SpecError, match=r"net.yaml:9: r: conv takes one input \(and `param` rows\); "
                                            r"from: names 2"):
        archprof.analyze(path)
