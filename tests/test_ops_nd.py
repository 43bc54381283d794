"""Ops beyond CxHxW maps: 1-D/3-D and transposed convolutions, linear/matmul on N-D inputs,
attention, layer/group norm, modern activations, adaptive pools, upsampling, views, merges
with broadcasting. Each spec here is checked against the built model (params == numel,
buffers, every shape == a meta forward), its conv/linear/matmul/attention MACs against
torch.utils.flop_counter.FlopCounterMode / 2 on each op's own module, and a few numbers
against hand arithmetic written out."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.check import Report, check_model
from archprof.errors import SpecError
from archprof.ir import ops

MAC_KINDS = {"conv", "conv_transpose", "linear", "matmul", "sdpa"}


def verified(path, batch: int = 2) -> archprof.Analysis:
    """Analyse a spec and check it against the built model and FlopCounterMode."""
    a = archprof.analyze(path, batch=batch)
    report = Report("nd")
    check_model(a, report, fvcore=False)
    assert report.ok, report.failed
    model = archprof.build(a.graph, device="meta")
    macs = dict(zip(a.layers["name"], a.layers["macs"]))
    for node in a.graph.nodes:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model.get_submodule(node.name)(
                *(torch.zeros((batch, *s), device="meta") for s in node.ins))
        counted = counter.get_total_flops() // 2
        if node.op.kind in MAC_KINDS:
            assert macs[node.name] == counted, node.name
        else:     # FlopCounterMode counts only products: nothing here is one
            assert counted == 0, node.name
    return a


def row(a: archprof.Analysis, name: str) -> dict:
    return a.layers.set_index("name").loc[name].to_dict()


# --- hand arithmetic -----------------------------------------------------------------------
def test_seed_weight_counts_by_input_channels(write_spec):
    # seed 004 "number of weights": K filters of a k x k kernel on a 1-channel image: K*k*k;
    # on a 3-channel image: 3*K*k*k; on a D-channel tensor: D*K*k*k
    K, k = 16, 5
    for channels in (1, 3, 7):
        a = verified(write_spec(f"- {{conv: {K}, k: {k}, bias: false}}", input=f"[{channels}, 12, 12]"))
        assert a.totals["weights"] == a.totals["params"] == channels * K * k * k


def test_conv1d_by_hand(write_spec):
    # 16 channels x 100 steps, 32 filters of width 5, padding 2
    a = verified(write_spec("- {conv: 32, k: 5, p: 2, name: c}", input="[16, 100]"), batch=1)
    c = row(a, "c")
    assert c["shape"] == "32x100"                          # (100 + 2*2 - 5)/1 + 1 = 100
    assert c["params"] == 16 * 5 * 32 + 32 == 2_592
    assert c["macs"] == 100 * 32 * (16 * 5) == 256_000
    assert c["rf"] == "5" and c["layer"] == "conv 5"


def test_conv3d_by_hand(write_spec):
    # C3D's first layer: 3x16x112x112 clip, 64 filters 3x3x3, padding 1, then 1x2x2 pooling
    a = verified(write_spec("- {conv: 64, k: 3, p: 1, name: c}\n- {maxpool: [1, 2, 2], name: pool}",
                            input="[3, 16, 112, 112]"), batch=1)
    c, pool = row(a, "c"), row(a, "pool")
    assert c["shape"] == "64x16x112x112" and pool["shape"] == "64x16x56x56"
    assert c["params"] == 3 * 27 * 64 + 64 == 5_248
    assert c["macs"] == 16 * 112 * 112 * 64 * (3 * 3 * 3 * 3) == 1_040_449_536
    assert c["rf"] == "3" and pool["rf"] == "3x4x4" and pool["jump"] == "1x2x2"


@pytest.mark.parametrize("input, out, positions", [
    ("[4, 8]", "8x4", 4),                     # (C, L): a 1-D residual stage
    ("[4, 4, 8, 8]", "8x2x4x4", 2 * 4 * 4),   # (C, D, H, W): a 3-D one
])
def test_projection_shortcut_in_1d_and_3d(write_spec, input, out, positions):
    """`proj:` projects the block input to the branch's shape with a 1x1 conv of the stride
    that gives its size in every spatial dimension (it refused any map but a 2-D one)."""
    a = verified(write_spec("- {conv: 8, k: 3, s: 2, p: 1, name: c}\n"
                            "- {add: [c, in], proj: conv, name: a}", input=input), batch=1)
    proj = row(a, "a_proj.conv")
    assert proj["shape"] == out and proj["params"] == 8 * 4 + 8
    assert proj["macs"] == positions * 8 * 4    # per output position: 8 outputs of 4 inputs


def test_depthwise_separable_by_hand(write_spec):
    a = verified(write_spec("- {conv: 32, g: 32, k: 3, p: 1, bias: false, name: dw}\n"
                            "- {conv: 64, k: 1, bias: false, name: pw}", input="[32, 56, 56]"))
    dw, pw = row(a, "dw"), row(a, "pw")
    assert dw["layer"] == "conv 3x3 dw" and dw["params"] == 3 * 3 * 32 == 288
    assert dw["macs"] == 2 * 56 * 56 * 32 * 9          # batch 2
    assert pw["params"] == 32 * 64 and pw["macs"] == 2 * 56 * 56 * 64 * 32


def test_transposed_conv_by_hand(write_spec):
    # ConvTranspose2d(64, 32, 4, stride 2, padding 1) on 64x16x16
    a = verified(write_spec("- {conv_transpose: 32, k: 4, s: 2, p: 1, name: up}", input="[64, 16, 16]"),
                 batch=1)
    up = row(a, "up")
    assert up["shape"] == "32x32x32"                   # (16-1)*2 - 2*1 + (4-1) + 0 + 1 = 32
    assert up["params"] == 64 * 32 * 4 * 4 + 32 == 32_800
    assert up["macs"] == (64 * 16 * 16) * (4 * 4) * 32 == 8_388_608   # per input position
    # an output position gathers from ceil(4/2) = 2 input positions, half a position apart
    assert up["rf"] == "2" and up["jump"] == "1/2"


def test_transposed_conv_output_padding_and_groups(write_spec):
    a = verified(write_spec("- {conv_transpose: 8, k: 3, s: 2, p: 1, output_padding: 1, g: 2, name: up}",
                            input="[4, 5, 7]"), batch=1)
    up = row(a, "up")
    assert up["shape"] == "8x10x14"                    # (5-1)*2 - 2 + 2 + 1 + 1 = 10
    assert up["params"] == 4 * (8 // 2) * 9 + 8


def test_attention_by_hand(write_spec):
    # ViT-B/16: 12 heads, 197 tokens, 64 per head: q k^T and weights v, 197*197*64 each
    layers = """
- {reshape: [12, 197, 64], name: heads}
- {sdpa: [heads, heads, heads], name: attn}
"""
    a = verified(write_spec(layers, input="[197, 768]"), batch=1)
    attn = row(a, "attn")
    assert attn["shape"] == "12x197x64" and attn["params"] == 0
    assert attn["macs"] == 12 * 197 * 197 * (64 + 64) == 59_610_624
    assert attn["other_ops"] == 4 * 12 * 197 * 197    # scale, exp, sum, divide per score
    assert attn["rf"] == "global"


def test_linear_on_tokens_and_matmul(write_spec):
    layers = """
- {linear: 32, name: fc}
- {transpose: [0, 1], name: t, from: in}
- {matmul: [fc, t], name: mm}
"""
    # fc: (10, 8) -> (10, 32): 10 rows * 8 * 32; then (10, 32) @ ... does not fit; use in^T
    with pytest.raises(SpecError, match="matmul inner sizes differ"):
        archprof.analyze(write_spec(layers, input="[10, 8]"))
    a = verified(write_spec(layers.replace("matmul: [fc, t]", "matmul: [in, t]"), input="[10, 8]"))
    assert row(a, "fc")["macs"] == 2 * 10 * 8 * 32 and row(a, "fc")["params"] == 8 * 32 + 32
    assert row(a, "mm")["shape"] == "10x10" and row(a, "mm")["macs"] == 2 * 10 * 8 * 10
    assert row(a, "fc")["rf"] == "1" and row(a, "mm")["rf"] == "global"


def test_matmul_broadcasts_batch_dims(write_spec):
    layers = """
- {slice: 0, end: 1, name: one}
- {matmul: [in, one], name: mm, from: in}
"""
    # (4, 6, 6) @ (1, 6, 6): the leading 1 broadcasts to 4 -> 4*6*6*6 MACs per sample
    a = verified(write_spec(layers, input="[4, 6, 6]"), batch=1)
    assert row(a, "mm")["shape"] == "4x6x6" and row(a, "mm")["macs"] == 4 * 6 * 6 * 6


# --- modern blocks -------------------------------------------------------------------------
ENCODER = """
encoder:
  doc: pre-norm transformer encoder layer, fused qkv, SDPA, MLP 4x, drop path
  args: {heads: 4}
  let: {d: fin, hd: "fin // heads"}
  layers:
    - {layernorm: , name: ln1}
    - {linear: "3 * d", name: qkv}
    - {reshape: [-1, 3, heads, hd], name: split}
    - {permute: [1, 2, 0, 3], name: qkv_first}
    - {select: 0, index: 0, name: q}
    - {select: 0, index: 1, name: k, from: qkv_first}
    - {select: 0, index: 2, name: v, from: qkv_first}
    - {sdpa: [q, k, v], name: attn}
    - {transpose: [0, 1], name: tokens_first}
    - {contiguous: , name: copy}
    - {reshape: [-1, d], name: merge}
    - {linear: d, name: proj}
    - {drop_path: 0.1, name: dp1}
    - {add: [dp1, in], name: res1}
    - {layernorm: , name: ln2}
    - {linear: "4 * d", name: fc1}
    - gelu
    - {linear: d, name: fc2}
    - {drop_path: 0.1, name: dp2}
    - {add: [dp2, res1], name: res2}
"""


def test_transformer_encoder_block(write_spec):
    layers = """
- {conv: 64, k: 8, s: 8, name: patch}
- {flatten: , start: 1, name: flat}
- {transpose: [0, 1], name: tokens}
- {concat: [tokens], learned: [1, 64], name: cls}
- {add: [cls], learned: [17, 64], name: pos}
- {block: encoder, repeat: 2, name: blocks}
- {layernorm: , name: norm}
- {select: 0, name: cls_token}
- {linear: 10, name: head}
"""
    a = verified(write_spec(layers, blocks=ENCODER))
    d, n = 64, 17
    block = (2 * 2 * d                       # two layer norms
             + d * 3 * d + 3 * d + d * d + d  # qkv, proj
             + d * 4 * d + 4 * d + 4 * d * d + d)
    assert a.totals["params"] == (3 * 64 * 64 + 64) + d + n * d + 2 * block + 2 * d + d * 10 + 10
    assert row(a, "tokens")["shape"] == "16x64" and row(a, "cls")["shape"] == "17x64"
    assert row(a, "blocks.block1.attn")["macs"] == 2 * 4 * n * n * (16 + 16)
    # views and drop path add no memory; the contiguous copy after the permute does
    assert row(a, "blocks.block1.split")["activations"] == 0
    assert row(a, "blocks.block1.dp1")["activations"] == 0
    assert row(a, "blocks.block1.copy")["activations"] == 2 * n * d
    assert row(a, "patch")["rf"] == "8" and row(a, "blocks.block1.res1")["rf"] == "global"


def test_convnext_block(write_spec):
    blocks = """
convnext:
  doc: dw 7x7, channels-last LayerNorm, linear 4x, GELU, linear, layer scale, drop path, residual
  let: {c: cin}
  layers:
    - {conv: c, g: c, k: 7, p: 3, name: dw}
    - {permute: [1, 2, 0], name: last}
    - {layernorm: , name: norm}
    - {linear: "4 * c", name: pw1}
    - gelu
    - {linear: c, name: pw2}
    - {mul: [pw2], learned: [c], name: gamma}
    - {permute: [2, 0, 1], name: first}
    - {drop_path: 0.1, name: dp}
    - {add: [dp, in], name: add}
"""
    a = verified(write_spec("- {block: convnext, repeat: 2, name: stage}", blocks=blocks,
                            input="[32, 14, 14]"))
    c = 32
    per_block = (49 * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c) + c
    assert a.totals["params"] == 2 * per_block
    assert row(a, "stage.block1.pw1")["macs"] == 2 * 14 * 14 * c * 4 * c
    assert row(a, "stage.block1.gamma")["params"] == c
    assert row(a, "stage.block1.dw")["rf"] == "7" and row(a, "stage.block2.dw")["rf"] == "13"


def test_squeeze_excitation_and_hardswish(write_spec):
    layers = """
- {conv: 16, k: 3, p: 1, name: c}
- hardswish
- {adaptive_avgpool: 1, name: squeeze}
- {conv: 4, k: 1, name: fc1}
- silu
- {conv: 16, k: 1, name: fc2}
- hardsigmoid
- {mul: [c, hardsigmoid1], name: scale}
- sigmoid
- tanh
"""
    a = verified(write_spec(layers, input="[3, 20, 20]"))
    assert row(a, "squeeze")["rf"] == "global" and row(a, "squeeze")["shape"] == "16x1x1"
    assert row(a, "squeeze")["other_ops"] == 2 * 16 * 20 * 20     # one add per input element
    assert row(a, "scale")["shape"] == "16x20x20" and row(a, "scale")["other_ops"] == 2 * 16 * 400


def test_upsampling_decoder(write_spec):
    layers = """
- {conv: 16, k: 3, p: 1, name: enc}
- {maxpool: 2, name: down}
- {conv: 32, k: 3, p: 1, bias: false, name: mid}
- {groupnorm: 8, name: gn}
- relu
- {conv_transpose: 16, k: 2, s: 2, name: up}
- {concat: [up, enc], name: skip}
- {upsample: 2, mode: bilinear, name: bilinear}
- {upsample: , size: [48, 40], name: nearest}
- {pad: [1, 1, 2, 2], name: pad}
- {conv: 2, k: 1, name: out}
"""
    a = verified(write_spec(layers, input="[3, 16, 12]"))
    assert row(a, "skip")["shape"] == "32x16x12"
    assert row(a, "bilinear")["shape"] == "32x32x24" and row(a, "nearest")["shape"] == "32x48x40"
    assert row(a, "pad")["shape"] == "32x52x42"
    assert row(a, "gn")["params"] == 2 * 32
    assert row(a, "bilinear")["other_ops"] == 2 * 32 * 32 * 24 * 4   # 4 weights per output
    # jump: 2 (pool) * 1/2 (transposed conv) = 1, then 16/32 = 1/2 (bilinear), then
    # 32/48 = 2/3 and 24/40 = 3/5 (nearest to 48x40): 1/3 and 3/10 of an input position
    assert row(a, "up")["jump"] == "1" and row(a, "bilinear")["jump"] == "1/2"
    assert row(a, "nearest")["jump"] == "1/3x3/10"
    # rf: 3 (enc), 4 (pool), 4 + 2*2 = 8 (mid), 8 + 0 (up: ceil(2/2) = 1 tap), 8 + 1 (bilinear)
    assert row(a, "up")["rf"] == "8" and row(a, "bilinear")["rf"] == "9"


def test_norms_and_pools_of_other_ranks(write_spec):
    layers = """
- {conv: 8, k: 3, name: c}
- {bn: , name: bn}
- {adaptive_maxpool: [2, 3, 3], name: amp}
- {avgpool: 2, s: 1, name: ap}
- {gap: , name: gap}
- {flatten: , name: flat}
- {bn: , name: bn1d}
- {linear: 4, name: fc}
- {softmax: -1, name: probs}
"""
    a = verified(write_spec(layers, input="[2, 6, 9, 9]"))
    assert row(a, "amp")["shape"] == "8x2x3x3" and row(a, "ap")["shape"] == "8x1x2x2"
    assert row(a, "bn")["params"] == 16 and row(a, "bn")["buffers"] == 17
    assert row(a, "gap")["rf"] == "global" and row(a, "flat")["shape"] == "8"


def test_layernorm_without_affine_or_bias(write_spec):
    a = verified(write_spec("- {layernorm: 2, name: ln}\n- {layernorm: , bias: false, name: nb}\n"
                            "- {layernorm: , affine: false, name: na}", input="[5, 4, 6]"))
    assert row(a, "ln")["params"] == 2 * 4 * 6
    assert row(a, "nb")["params"] == 6 and row(a, "na")["params"] == 0


def test_elementwise_scalars_and_broadcasting(write_spec):
    layers = """
- {mul: [in], scalar: 0.5, name: halved}
- {div: [halved], scalar: 3, name: third}
- {sub: [in, third], name: diff}
- {slice: 1, start: 0, end: 1, name: col}
- {add: [diff, col], name: bcast}
"""
    a = verified(write_spec(layers, input="[4, 6]"))
    assert row(a, "halved")["other_ops"] == 2 * 24 and row(a, "bcast")["shape"] == "4x6"
    assert row(a, "col")["shape"] == "4x1" and row(a, "col")["activations"] == 0


def test_chunks_as_slices(write_spec):
    layers = """
- {slice: 0, end: 8, name: a}
- {slice: 0, start: 8, name: b, from: in}
- {mul: [a, b], name: glu}
"""
    a = verified(write_spec(layers, input="[16, 5, 5]"))
    assert row(a, "a")["shape"] == row(a, "b")["shape"] == "8x5x5"


def test_embedding_rule_against_torch():
    op = ops.Embedding(num=1000, dim=64)
    out = op.shape([(12,)])
    module = torch.nn.Embedding(1000, 64, device="meta")
    assert out == tuple(module(torch.zeros(1, 12, dtype=torch.long, device="meta")).shape[1:])
    assert op.params([(12,)], out) == module.weight.numel() == 1000 * 64
    assert op.macs([(12,)], out) == 0


def test_tracer_style_construction_matches_spec(write_spec):
    # the tracer builds ops from torch's arguments; a spec row gives the same numbers
    a = archprof.analyze(write_spec("- {conv: 64, k: 3, s: 1, p: 1, name: c}"))
    op = ops.Conv(out=64, k=(3, 3), s=(1, 1), p=(1, 1, 1, 1), g=1, bias=True)
    ins = [(3, 32, 32)]
    out = op.shape(ins)
    assert (dims := ops.dims(out)) == row(a, "c")["shape"] and dims == "64x32x32"
    assert op.params(ins, out) == row(a, "c")["params"] and op.macs(ins, out) == row(a, "c")["macs"]


@pytest.mark.parametrize("layers, input, message", [
    ("- {conv: 4, k: [3, 3]}", "[3, 10]", "needs a CxHxW feature map"),
    ("- {conv: 4, k: 3, p: [1, 1, 1]}", "[3, 10, 10]", "padding 1x1x1 gives 3 values"),
    ("- {conv_transpose: 4, k: 3, s: 2, output_padding: 2}", "[3, 10, 10]", "output_padding 2"),
    ("- {sdpa: [in, in, in]}", "[3, 10]", None),
    ("- {sdpa: [in, in]}", "[3, 10]", "at least 3 input"),
    ("- {reshape: [7, -1]}", "[3, 10]", "cannot reshape"),
    ("- {permute: [0, 0]}", "[3, 10]", "not an order"),
    ("- {transpose: [0, 5]}", "[3, 10]", "out of range"),
    ("- {add: [in], learned: [2, 10]}", "[3, 10]", "do not broadcast"),
    ("- {add: [in]}", "[3, 10]", "needs two inputs"),
    ("- {upsample: 2, mode: trilinear}", "[3, 10, 10]", "does not fit"),
    ("- {layernorm: 3}", "[3, 10]", "layernorm over 3"),
    ("- {groupnorm: 2}", "[3, 10]", "divisible by 2"),
    ("- {pad: [1, 1, 1]}", "[3, 10]", "pairs"),
])
def test_bad_rows_are_spec_errors(write_spec, layers, input, message):
    path = write_spec(layers, input=input)
    if message is None:
        verified(path)
        return
    with pytest.raises(SpecError, match=message):
        archprof.analyze(path)


def test_spec_language_doc_example(tmp_path):
    # the ViT encoder layer and ConvNeXt block of docs/spec-language.md, as written there
    import re
    from pathlib import Path

    import yaml
    doc = (Path(__file__).resolve().parents[1] / "docs" / "spec-language.md").read_text()
    example = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "cnblock" in b)
    blocks = yaml.safe_load(example)["blocks"]
    for name, input, row in [("tokens", [5, 8], {"block": "encoder", "heads": 2}),
                             ("map", [8, 9, 9], {"block": "cnblock"})]:
        spec = {"family": "Doc", "blocks": blocks,
                "networks": {name: {"input": input, "layers": [{**row, "name": "b"}]}}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        verified(path)


def test_explain_of_new_ops(write_spec):
    layers = """
- {flatten: , start: 1, name: flat}
- {transpose: [0, 1], name: tokens}
- {concat: [tokens], learned: [1, 4], name: cls}
- {linear: 6, name: fc}
- {conv_transpose: 2, k: 2, s: 2, from: in, name: up}
"""
    a = archprof.analyze(write_spec(layers, input="[4, 3, 3]"))
    text = {n.name: n.op.explain(n.ins, n.out) for n in a.graph.nodes}
    assert text["cls"]["out"] == "1 + 9 = 10 along dim 0, 10x4" and text["cls"]["params"] == "4"
    assert text["fc"]["macs"] == "10*4*6 = 240"
    assert text["up"]["out"] == "(3-1)*2 - 2*0 + 1*(2-1) + 0 + 1 = 6"
    assert text["up"]["macs"] == "4*3*3*2*2*2 (per input position) = 288"


def test_check_counts_attention_by_flop_counter_where_fvcore_cannot(write_spec):
    # fvcore has no rule for SDPA (it counts 0); check compares those rows with
    # FlopCounterMode / 2 and says so: 2 heads * 6 * 6 * (4 + 4) = 576 MACs
    path = write_spec("- {reshape: [2, 6, 4], name: heads}\n- {sdpa: [heads, heads, heads], name: attn}\n"
                      "- {linear: 3, name: fc}", input="[6, 8]")
    a = archprof.analyze(path)
    report = Report("fvcore")
    check_model(a, report, fvcore=True)
    line = next(t for t in report.passed if t.startswith("MACs"))
    assert report.ok and row(a, "attn")["macs"] == 2 * 6 * 6 * (4 + 4) == 576
    assert "of which 576 by FlopCounterMode/2: sdpa" in line
