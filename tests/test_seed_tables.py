"""The seed lectures' tables and worked examples, each number against the lecture's own
arithmetic written out here (seed 001: output-size example; seed 002: AlexNet, VGG-16,
GoogLeNet Table 1, receptive fields, 7x7 vs three 3x3)."""
from __future__ import annotations

import archprof


def layer(analysis: archprof.Analysis, prefix: str) -> dict:
    """Sums over the ops of one spec row (a row may expand to conv + relu)."""
    rows = analysis.layers[(analysis.layers["name"] == prefix)
                           | analysis.layers["name"].str.startswith(prefix + ".")]
    return {"shape": rows["shape"].iloc[-1], "params": int(rows["params"].sum()),
            "weights": int(rows["weights"].sum()), "macs": int(rows["macs"].sum()),
            "activations": int(rows["activations"].sum())}


def test_output_size_formula_example(write_spec):
    # seed 001: Output size = (I - F + 2P)/S + 1 = (5 - 3 + 2*0)/1 + 1 = 3
    a = archprof.analyze(write_spec("- {conv: 1, k: 3, s: 1, p: 0}", input="[1, 5, 5]"))
    assert a.layers["shape"].iloc[0] == "1x3x3" and (5 - 3 + 2 * 0) // 1 + 1 == 3


def test_receptive_field_of_stacked_3x3(write_spec):
    # seed 002: two 3x3 stride-1 convs see 5x5, three see 7x7 (rf = 1 + n*(3-1))
    a = archprof.analyze(write_spec("- {conv: 8, k: 3, p: 1, repeat: 3, name: c}", input="[8, 32, 32]"))
    assert list(a.layers["rf"]) == ["3", "5", "7"]


def test_seven_by_seven_vs_three_three_by_three(write_spec):
    # seed 002: one 7x7 conv: 49C^2 params, 49HWC^2 multiply-adds; three 3x3: 27C^2, 27HWC^2
    c, h = 64, 56
    one = archprof.analyze(write_spec(f"- {{conv: {c}, k: 7, p: 3, bias: false}}", input=f"[{c}, {h}, {h}]"))
    three = archprof.analyze(write_spec(f"- {{conv: {c}, k: 3, p: 1, bias: false, repeat: 3, name: c}}",
                                        input=f"[{c}, {h}, {h}]"))
    assert one.totals["params"] == 49 * c**2 and one.totals["macs"] == 49 * h * h * c**2
    assert three.totals["params"] == 27 * c**2 and three.totals["macs"] == 27 * h * h * c**2
    assert one.layers["rf"].iloc[-1] == three.layers["rf"].iloc[-1] == "7"


def test_alexnet_layer_table():
    # seed 002 "[55x55x96] CONV1: 96 11x11 filters at stride 4, pad 0" ... with groups of two on
    # conv2/4/5 (one per GPU): params = k*k*(cin/groups)*cout + cout
    a = archprof.analyze("alexnet")
    table = {  # row: (C, H, W, params)
        "conv1": (96, 55, 55, 11 * 11 * 3 * 96 + 96),            # (227-11)/4+1 = 55; "35K"
        "pool1": (96, 27, 27, 0),                                # (55-3)/2+1 = 27
        "norm1": (96, 27, 27, 0),
        "conv2": (256, 27, 27, 5 * 5 * 48 * 256 + 256),          # pad 2 keeps 27
        "pool2": (256, 13, 13, 0),
        "norm2": (256, 13, 13, 0),
        "conv3": (384, 13, 13, 3 * 3 * 256 * 384 + 384),
        "conv4": (384, 13, 13, 3 * 3 * 192 * 384 + 384),
        "conv5": (256, 13, 13, 3 * 3 * 192 * 256 + 256),
        "pool5": (256, 6, 6, 0),
        "fc6": (4096, None, None, 6 * 6 * 256 * 4096 + 4096),
        "fc7": (4096, None, None, 4096 * 4096 + 4096),
        "fc8": (1000, None, None, 4096 * 1000 + 1000),
    }
    for name, (c, h, w, params) in table.items():
        row = layer(a, name)
        assert row["shape"] == (f"{c}x{h}x{w}" if h else f"{c}"), name
        assert row["params"] == params, name
    assert a.totals["params"] == sum(p for *_, p in table.values()) == 60_965_224
    assert round(layer(a, "conv1")["params"] / 1000) == 35          # the seed's "35K"
    # conv1 MACs as the seed's formula: output positions x (11*11*3) per filter
    assert layer(a, "conv1")["macs"] == 55 * 55 * 96 * (11 * 11 * 3) == 105_415_200


VGG16_SEED_ROWS = [  # seed 002 table: (row, CxHxW, memory printed, params printed = weights)
    ("conv1_1", (64, 224, 224), "3.2M", (3 * 3 * 3) * 64),
    ("conv1_2", (64, 224, 224), "3.2M", (3 * 3 * 64) * 64),
    ("pool1", (64, 112, 112), "800K", 0),
    ("conv2_1", (128, 112, 112), "1.6M", (3 * 3 * 64) * 128),
    ("conv2_2", (128, 112, 112), "1.6M", (3 * 3 * 128) * 128),
    ("pool2", (128, 56, 56), "400K", 0),
    ("conv5_1", (512, 14, 14), "100K", (3 * 3 * 512) * 512),
    ("conv5_2", (512, 14, 14), "100K", (3 * 3 * 512) * 512),
    ("conv5_3", (512, 14, 14), "100K", (3 * 3 * 512) * 512),
    ("pool5", (512, 7, 7), "25K", 0),
    ("fc6", (4096,), "4096", 7 * 7 * 512 * 4096),
    ("fc7", (4096,), "4096", 4096 * 4096),
    ("fc8", (1000,), "1000", 4096 * 1000),
]


def test_vgg16_memory_and_params_table():
    a = archprof.analyze("vgg16")
    for name, shape, memory, weights in VGG16_SEED_ROWS:
        row = layer(a, name)
        assert row["shape"] == "x".join(map(str, shape)), name
        size = 1
        for d in shape:
            size *= d
        assert row["activations"] == size, name         # memory = H*W*C, as the seed writes it
        assert row["weights"] == weights, name          # the seed's params leave out biases
        scale = {"M": 1e6, "K": 1e3}.get(memory[-1], 1)
        assert abs(size - float(memory.rstrip("MK")) * scale) / size < 0.01, name
    # TOTAL params: 138M (the seed), exactly: 13 convs and 3 FCs with biases
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
             (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    fcs = [(7 * 7 * 512, 4096), (4096, 4096), (4096, 1000)]
    params = sum(9 * i * o + o for i, o in convs) + sum(i * o + o for i, o in fcs)
    assert a.totals["params"] == params == 138_357_544
    # TOTAL memory: the seed prints "24M * 4 bytes ~ 96MB / image", an arithmetic slip: its own
    # rows (the ones it elides included) sum to about 15.2M elements, 61 MB.
    rows = [224 * 224 * 3,                        # input
            2 * 224 * 224 * 64, 112 * 112 * 64,    # conv1_x, pool1
            2 * 112 * 112 * 128, 56 * 56 * 128,    # conv2_x, pool2
            3 * 56 * 56 * 256, 28 * 28 * 256,      # conv3_x, pool3
            3 * 28 * 28 * 512, 14 * 14 * 512,      # conv4_x, pool4
            3 * 14 * 14 * 512, 7 * 7 * 512,        # conv5_x, pool5
            4096, 4096, 1000]                      # fc6-8
    assert a.totals["activations"] == sum(rows) == 15_237_608
    assert abs(sum(rows) - 24e6) / 24e6 > 0.35    # the printed 24M is not the sum
    # MACs: 15,470,264,320 by hand (each conv: H*W*Cout*9*Cin; fc: in*out)
    sizes = [224, 224, 112, 112, 56, 56, 56, 28, 28, 28, 14, 14, 14]
    macs = sum(h * h * o * 9 * i for h, (i, o) in zip(sizes, convs)) + sum(i * o for i, o in fcs)
    assert a.totals["macs"] == macs == 15_470_264_320


# GoogLeNet Table 1 (seed 002): output size, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj,
# params (K), ops (M). Params count weights only (no biases) in units of 1024; ops = multiply-adds.
GOOGLENET_TABLE1 = [
    ("inception_3a", 28, 192, 256, (64, 96, 128, 16, 32, 32), 159, 128),
    ("inception_3b", 28, 256, 480, (128, 128, 192, 32, 96, 64), 380, 304),
    ("inception_4a", 14, 480, 512, (192, 96, 208, 16, 48, 64), 364, 73),
    ("inception_4b", 14, 512, 512, (160, 112, 224, 24, 64, 64), 437, 88),
    ("inception_4c", 14, 512, 512, (128, 128, 256, 24, 64, 64), 463, 100),
    ("inception_4d", 14, 512, 528, (112, 144, 288, 32, 64, 64), 580, 119),
    ("inception_4e", 14, 528, 832, (256, 160, 320, 32, 128, 128), 840, 170),
    ("inception_5a", 7, 832, 832, (256, 160, 320, 32, 128, 128), 1072, 54),
    ("inception_5b", 7, 832, 1024, (384, 192, 384, 48, 128, 128), 1388, 71),
]


def test_googlenet_table1():
    a = archprof.analyze("googlenet")
    slips = {}
    for name, size, cin, cout, (c1, c3r, c3, c5r, c5, pp), params_k, ops_m in GOOGLENET_TABLE1:
        row = layer(a, name)
        assert row["shape"] == f"{cout}x{size}x{size}" and c1 + c3 + c5 + pp == cout, name
        weights = cin * c1 + cin * c3r + 9 * c3r * c3 + cin * c5r + 25 * c5r * c5 + cin * pp
        assert row["weights"] == weights, name
        assert row["macs"] == weights * size * size, name   # every weight used once per position
        if (abs(weights / 1024 - params_k) / params_k > 0.02
                or abs(weights * size**2 / 1e6 - ops_m) / ops_m > 0.02):
            slips[name] = (weights / 1024, weights * size * size / 1e6)
    # Two rows cannot follow from the columns they print (README, "Where the published figures
    # differ"): 4c gives 463K params but its own ops (100M / 14^2 = 510K weights) and its columns
    # give 497.5K; 5a gives 1072K and 54M but its columns (the same as 4e's, on 832 channels) give
    # 1,042,432 weights = 1018K and 51.1M ops.
    assert set(slips) == {"inception_4c", "inception_5a"}
    assert round(slips["inception_4c"][0], 1) == 497.5 and round(slips["inception_5a"][0]) == 1018
    # the linear row: 1024*1000 weights = "1000K" in units of 1024, 1M ops
    fc = layer(a, "fc")
    assert fc["weights"] == 1024 * 1000 and fc["weights"] / 1024 == 1000 and fc["macs"] == 1_024_000
    # the conv 7x7/2 row prints 2.7K params / 34M ops; a 7x7x3x64 conv has 9,408 weights and
    # 9,408 * 112 * 112 = 118M MACs: the row cannot follow from the layer it names.
    conv1 = layer(a, "conv1")
    assert conv1["weights"] == 7 * 7 * 3 * 64 == 9408 and conv1["macs"] == 9408 * 112 * 112
