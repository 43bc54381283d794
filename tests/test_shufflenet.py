"""ShuffleNet v1 g=3 (Zhang et al. 2018, Table 1) against hand arithmetic and the official
README's FLOPs / params (megvii-model/ShuffleNet-Series, ShuffleNetV1/README.md)."""
import pytest

import archprof
from archprof.spec import spec_dir

SPEC = f"{spec_dir()}/shufflenet.yaml"


def analyze(**params):
    return archprof.analyze(f"{SPEC}:shufflenet_v1", params=params or None)


def by_hand(stem=24, c2=240, g=3, classes=1000):
    """(weights, torch params, mult-adds) from Table 1: conv1 3x3/2, maxpool, stages of 4/8/4
    units (the first with stride 2), global pool, FC without bias (official code)."""
    w = 27 * stem
    m = 27 * stem * 112 * 112
    bn = stem
    cin, h = stem, 56
    for stage, (c, n) in enumerate([(c2, 4), (2 * c2, 8), (4 * c2, 4)]):
        mid = c // 4
        for i in range(n):
            stride = 2 if i == 0 else 1
            g1 = 1 if stage == 0 and i == 0 else g
            out = c - cin if stride == 2 else c
            w1 = cin // g1 * mid                  # 1x1 GConv
            m += w1 * h * h
            h = h // stride
            w2 = 9 * mid                          # 3x3 depthwise
            w3 = mid // g * out                   # 1x1 GConv
            m += (w2 + w3) * h * h
            w += w1 + w2 + w3
            bn += mid + mid + out
            cin = c
    w += cin * classes
    m += cin * classes
    return w, w + 2 * bn, m


def test_table1_output_sizes():
    rows = {r["name"]: r["shape"] for _, r in analyze().layers.iterrows()}
    assert rows["conv1.conv"] == "24x112x112" and rows["maxpool"] == "24x56x56"
    for stage, (c, n, size) in {2: (240, 4, 28), 3: (480, 8, 14), 4: (960, 4, 7)}.items():
        assert rows[f"stage{stage}.block{n}.relu"] == f"{c}x{size}x{size}"
        # stride-2 unit: concat of the pooled input and c - cin new channels
        cin = {2: 24, 3: 240, 4: 480}[stage]
        assert rows[f"stage{stage}.block1.shortcut"] == f"{cin}x{size}x{size}"
        assert rows[f"stage{stage}.block1.gconv2.conv"] == f"{c - cin}x{size}x{size}"
        assert rows[f"stage{stage}.block1.gconv1.conv"] == f"{c // 4}x{2 * size}x{2 * size}"
    assert rows["fc"] == "1000"


def test_first_pointwise_conv_of_stage2_is_not_grouped():
    rows = {r["name"]: r for _, r in analyze().layers.iterrows()}
    assert rows["stage2.block1.gconv1.conv"]["weights"] == 24 * 60          # 24 -> 60, g = 1
    assert rows["stage2.block2.gconv1.conv"]["weights"] == 240 // 3 * 60    # 240 -> 60, g = 3
    assert rows["stage2.block1.gconv2.conv"]["weights"] == 60 // 3 * 216    # 60 -> 240-24, g = 3


def test_totals_by_hand_and_official_readme():
    a = analyze()
    w, params, m = by_hand()
    assert (a.totals["weights"], a.totals["params"], a.totals["macs"]) == (w, params, m)
    assert (w, params, m) == (1_840_248, 1_864_728, 137_460_672)
    assert round(params / 1e5) / 10 == 1.9                 # README: 1.9M
    # README: 138M; the multiply-adds of the convs and FC print as 137 (see the spec's note)
    assert round(m / 1e6) == 137 and abs(m - 138e6) / 138e6 < 0.005


@pytest.mark.parametrize("size,stem,c2,mflops,mparams", [
    ("0.5x", 12, 120, 38, 0.7), ("1.5x", 24, 360, 292, 3.4), ("2.0x", 48, 480, 524, 5.4)])
def test_other_widths_official_readme(size, stem, c2, mflops, mparams):
    # widths of ShuffleNetV1/network.py (group 3): stage_out_channels [-1, stem, c2, 2c2, 4c2]
    a = analyze(stem=stem, c2=c2)
    w, params, m = by_hand(stem=stem, c2=c2)
    assert (a.totals["params"], a.totals["macs"]) == (params, m)
    assert round(m / 1e6) == mflops
    assert round(params / 1e5) / 10 == mparams
