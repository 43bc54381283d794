"""MobileNet v1 (Howard et al. 2017, Tables 1, 2, 4, 6, 7) and MobileNetV2 (Sandler et al. 2018,
Tables 2 and 4) against the papers' printed figures and hand arithmetic."""
import pytest

import archprof
from archprof.spec import spec_dir

SPEC = f"{spec_dir()}/mobilenet.yaml"


def analyze(name, input=None, **params):
    return archprof.analyze(f"{SPEC}:{name}", params=params or None, input=input)


def v1(alpha=1.0, res=224, full_conv=False):
    return analyze("mobilenet_v1", input=(3, res, res), alpha=alpha, res=res, full_conv=full_conv)


def rounds_to(value, printed, unit):
    """`printed` (in `unit`s) is `value` rounded to the printed precision: within half a unit
    of the last printed digit."""
    digits = len(str(printed).split(".")[1]) if "." in str(printed) else 0
    return abs(value / unit - printed) <= 0.5 * 10 ** -digits


# --- Table 1 by hand --------------------------------------------------------------------------
# (output channels, stride of the depthwise conv) of the 13 depthwise separable pairs
PAIRS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 \
    + [(1024, 2), (1024, 1)]


def v1_by_hand(alpha=1.0, res=224, full_conv=False):
    """Weights and mult-adds per layer type, straight from Table 1's filter shapes."""
    w = {"conv 3x3": 0, "conv 3x3 dw": 0, "conv 1x1": 0, "fc": 0}
    m = dict(w)
    c = int(32 * alpha)
    h = res // 2                                 # conv / s2, pad 1: (res + 2 - 3) // 2 + 1
    w["conv 3x3"] += 3 * 3 * 3 * c
    m["conv 3x3"] += 3 * 3 * 3 * c * h * h
    for cout, s in PAIRS:
        cout = int(cout * alpha)
        h = (h + 2 - 3) // s + 1
        if full_conv:
            w["conv 3x3"] += 3 * 3 * c * cout
            m["conv 3x3"] += 3 * 3 * c * cout * h * h
        else:
            w["conv 3x3 dw"] += 3 * 3 * c
            m["conv 3x3 dw"] += 3 * 3 * c * h * h
            w["conv 1x1"] += c * cout
            m["conv 1x1"] += c * cout * h * h
        c = cout
    w["fc"] += c * 1000
    m["fc"] += c * 1000
    return w, m


def test_table1_rows_and_totals_by_hand():
    a = v1()
    rows = {r["name"]: r for _, r in a.layers.iterrows()}
    assert rows["conv1.conv"]["shape"] == "32x112x112" and rows["conv1.conv"]["weights"] == 3 * 3 * 3 * 32
    assert rows["conv2_dw.conv"]["weights"] == 3 * 3 * 32                 # 3x3x32 dw
    assert rows["conv7_pw.conv"]["weights"] == 1 * 1 * 256 * 512
    assert rows["conv13_pw.conv"]["shape"] == "1024x7x7"
    assert rows["conv14_dw.conv"]["shape"] == "1024x7x7"                  # Table 1's "s2" is a typo
    assert rows["fc"]["weights"] == 1024 * 1000
    w, m = v1_by_hand()
    assert a.totals["weights"] == sum(w.values()) == 4_209_088
    assert a.totals["macs"] == sum(m.values()) == 568_740_352
    # torch's count: + 1,000 FC biases + BN scale/shift on every conv output
    bn_channels = 32 + sum(c + c2 for c, c2 in zip([32, 64, 128, 128, 256, 256, 512, 512, 512, 512,
                                                     512, 512, 1024], [p[0] for p in PAIRS]))
    assert bn_channels == 10_944
    assert a.totals["params"] == 4_209_088 + 1_000 + 2 * bn_channels == 4_231_976


# --- Table 4, 6, 7: Million Mult-Adds and Million Parameters -----------------------------------
@pytest.mark.parametrize("alpha,madds,mparams", [(1.0, 569, 4.2), (0.75, 325, 2.6),
                                                 (0.5, 149, 1.3), (0.25, 41, 0.5)])
def test_table6_width_multiplier(alpha, madds, mparams):
    a = v1(alpha=alpha)
    w, m = v1_by_hand(alpha=alpha)
    assert a.totals["macs"] == sum(m.values())
    assert a.totals["weights"] == sum(w.values())
    assert rounds_to(a.totals["macs"], madds, 1e6)
    assert rounds_to(a.totals["weights"] + 1000, mparams, 1e6)     # weights + FC biases
    assert rounds_to(a.totals["params"], mparams, 1e6)             # with BN it still rounds the same


@pytest.mark.parametrize("res,madds", [(224, 569), (192, 418), (128, 186)])
def test_table7_resolution(res, madds):
    a = v1(res=res)
    assert a.totals["macs"] == sum(v1_by_hand(res=res)[1].values())
    assert rounds_to(a.totals["macs"], madds, 1e6)
    assert rounds_to(a.totals["params"], 4.2, 1e6)                 # params do not depend on res


def test_table7_resolution_160_is_scaled_not_counted():
    # Exact count at 160 (maps 80, 40, 20, 10, 5): 290,675,200 mult-adds, which prints as 291.
    # The table's 290 is the 224 count scaled by rho^2 = (160/224)^2 = 25/49 as a whole:
    # 568,740,352 * 25 / 49 = 290,173,649 -> 290. Only the FC (1,024,000 mult-adds) does not
    # shrink with the resolution: 567,716,352 * 25 / 49 + 1,024,000 = 290,675,200.
    a = v1(res=160)
    assert a.totals["macs"] == 290_675_200 == 567_716_352 * 25 // 49 + 1_024_000
    assert round(a.totals["macs"] / 1e6) == 291
    assert round(568_740_352 * 25 / 49 / 1e6) == 290
    # the same rho^2 shortcut also gives the other rows of Table 7
    for res, madds in [(192, 418), (128, 186)]:
        assert round(568_740_352 * (res / 224) ** 2 / 1e6) == madds


def test_table4_conv_mobilenet():
    # Full 3x3 convs instead of the separable pairs: 29.3M params (weights 29,281,120).
    a = v1(full_conv=True)
    w, m = v1_by_hand(full_conv=True)
    assert a.totals["weights"] == sum(w.values()) == 29_281_120
    assert rounds_to(a.totals["weights"] + 1000, 29.3, 1e6)
    assert rounds_to(a.totals["params"], 29.3, 1e6)
    # 4,867,293,184 mult-adds with the FC; Table 4 prints 4866, which is the convolutions alone
    # (4,866,269,184): the FC's 1024*1000 = 1,024,000 is left out of this row (the 569 of the
    # separable row needs it: 567.7M without).
    assert a.totals["macs"] == sum(m.values()) == 4_867_293_184
    conv_only = a.totals["macs"] - 1024 * 1000
    assert round(conv_only / 1e6) == 4866
    assert round(v1().totals["macs"] / 1e6) == 569 != round((568_740_352 - 1_024_000) / 1e6)
    # the separable net is 8.6x cheaper; Table 4: 4866 / 569
    assert 8.5 < a.totals["macs"] / v1().totals["macs"] < 8.6


# --- Table 2: resource per layer type ---------------------------------------------------------
def test_table2_shares_count_weights_only():
    """Table 2 counts the kernels only: no biases, no BN. Shares of 4,209,088 weights and
    568,740,352 mult-adds:
        conv 1x1     3,139,584 w (74.59%)   539,492,352 MA (94.86%)
        conv 3x3 dw     44,640 w ( 1.06%)    17,385,984 MA ( 3.06%)
        conv 3x3           864 w ( 0.02%)    10,838,016 MA ( 1.91%; the paper prints 1.19)
        fc           1,024,000 w (24.33%)     1,024,000 MA ( 0.18%)
    Adding the FC's 1,000 biases makes fc 24.35% (1,025,000 / 4,210,088); torch's count with BN
    (4,231,976 params) makes conv 1x1 74.19%: neither prints as Table 2."""
    a = v1()
    df = a.layers
    weights = df.groupby("layer")["weights"].sum()
    macs = df.groupby("layer")["macs"].sum()
    W, M = a.totals["weights"], a.totals["macs"]
    assert (W, M) == (4_209_088, 568_740_352)
    table2 = {"conv 1x1": (94.86, 74.59), "conv 3x3 dw": (3.06, 1.06),
              "conv 3x3": (1.19, 0.02), "fc": (0.18, 24.33)}
    by_hand = {"conv 1x1": (539_492_352, 3_139_584), "conv 3x3 dw": (17_385_984, 44_640),
               "conv 3x3": (10_838_016, 864), "fc": (1_024_000, 1_024_000)}
    hand_w, hand_m = v1_by_hand()
    for t, (ma, w) in by_hand.items():
        assert (macs[t], weights[t]) == (ma, w) == (hand_m[t], hand_w[t])
        pct_m, pct_w = round(100 * ma / M, 2), round(100 * w / W, 2)
        assert pct_w == table2[t][1]
        if t == "conv 3x3":
            # 10,838,016 / 568,740,352 = 1.906%: the paper's 1.19 swaps two digits of 1.91.
            # Its own column sums to 99.29% (94.86 + 3.06 + 1.19 + 0.18); with 1.91 to 100.01%.
            assert pct_m == 1.91
            assert round(94.86 + 3.06 + 1.91 + 0.18, 2) == 100.01
        else:
            assert pct_m == table2[t][0]
    # the share columns of archprof's breakdown (params with biases and BN) do not reproduce it
    bt = a.by_type().set_index("type")
    assert round(bt.loc["conv 1x1", "pct_macs"], 2) == 94.86
    assert round(bt.loc["conv 1x1", "pct_params"], 2) == round(100 * 3_139_584 / 4_231_976, 2) == 74.19
    assert round(100 * 1_025_000 / 4_210_088, 2) == 24.35


# --- MobileNetV2 ------------------------------------------------------------------------------
def make_divisible(v, d=8):
    """The reference implementation's rounding (tensorflow/models slim mobilenet, torchvision)."""
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


TCNS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
        (6, 160, 3, 2), (6, 320, 1, 1)]


def v2_by_hand(alpha=1.0, res=224, classes=1000):
    """(weights, torch params, mult-adds) of MobileNetV2 from Table 2 (t, c, n, s)."""
    c = make_divisible(32 * alpha)
    h = res // 2
    w = 27 * c
    m = 27 * c * h * h
    bn = c
    for t, cout, n, s in TCNS:
        cout = make_divisible(cout * alpha)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = round(c * t)
            if t != 1:
                w += c * hidden
                m += c * hidden * h * h
                bn += hidden
            h = (h + 2 - 3) // stride + 1
            w += 9 * hidden + hidden * cout
            m += (9 * hidden + hidden * cout) * h * h
            bn += hidden + cout
            c = cout
    last = make_divisible(1280 * max(1.0, alpha))
    w += c * last + last * classes
    m += c * last * h * h + last * classes
    bn += last
    return w, w + classes + 2 * bn, m


def test_v2_table2_shapes():
    a = analyze("mobilenet_v2")
    rows = {r["name"]: r["shape"] for _, r in a.layers.iterrows()}
    sizes = [112, 56, 28, 14, 14, 7, 7]          # the next row's input column of Table 2
    for b, ((_, c, n, _), size) in enumerate(zip(TCNS, sizes), start=1):
        assert rows[f"bottleneck{b}.block{n}.project.bn"] == f"{c}x{size}x{size}"
        # residual adds: blocks 2..n of each stage, and the first when stride 1 and cin == cout
        assert (f"bottleneck{b}.block1.add" in rows) is False   # first blocks change c or stride
        for i in range(2, n + 1):
            assert f"bottleneck{b}.block{i}.add" in rows
    assert rows["head.conv.conv"] == "1280x7x7"
    # 17 bottlenecks (1+2+3+4+3+3+1), 10 of them residual
    assert sum(n for _, _, n, _ in TCNS) == 17
    assert sum(1 for k in rows if k.endswith(".add")) == 17 - 7 == 10


def test_v2_width_rounding():
    assert [make_divisible(c * 1.4) for c in (32, 16, 24, 32, 64, 96, 160, 320)] == \
        [48, 24, 32, 48, 88, 136, 224, 448]
    assert make_divisible(1280 * 1.4) == 1792
    assert [make_divisible(c * 0.35) for c in (32, 16, 24, 320)] == [16, 8, 8, 112]
    a = analyze("mobilenet_v2", alpha=0.5)
    rows = {r["name"]: r["shape"] for _, r in a.layers.iterrows()}
    assert rows["head.conv.conv"] == "1280x7x7"            # not reduced for alpha < 1
    assert rows["bottleneck7.block1.project.conv"] == f"{make_divisible(320 * 0.5)}x7x7" == "160x7x7"


def test_v2_table4_300M_3_4M():
    w, params, m = v2_by_hand()
    a = analyze("mobilenet_v2")
    assert (a.totals["weights"], a.totals["params"], a.totals["macs"]) == (w, params, m)
    assert params == 3_504_872                  # = torchvision mobilenet_v2().parameters()
    assert m == 300_774_272
    assert round(m / 1e6) == 301 and abs(m / 1e6 - 300) < 1     # Table 4: 300M
    # Table 4's 3.4M: the full count is 3.50M; without BN 3,469,760 + 1,000 = 3,470,760 (3.47M,
    # the TF-slim README figure); the paper's 3.4 truncates.
    assert w + 1000 == 3_470_760
    assert int(10 * (w + 1000) / 1e6) / 10 == 3.4
    assert not rounds_to(params, 3.4, 1e6)


def test_v2_width_1_4_does_not_give_6_9M():
    """Table 4 prints MobileNetV2 (1.4) with 6.9M params and 585M MAdds. The architecture at
    width 1.4 (channels _make_divisible(c*1.4); final conv 1792) has 6,059,840 weights
    (+1,000 FC biases = 6.06M, the TF-slim README's figure for the released
    mobilenet_v2_1.4_224 checkpoint, with 582M MACs there), 6,108,776 params with BN (=
    torchvision mobilenet_v2(width_mult=1.4)) and 582.2M mult-adds. No width rule gives both
    6.9M and 585M: without the rounding to 8 it is 6.08M / 562M; scaling the 1.0 model by
    1.4^2 gives 3.50M*1.96 = 6.87M (-> 6.9) but 300.8M*1.96 = 589.5M (not 585)."""
    w, params, m = v2_by_hand(alpha=1.4)
    a = analyze("mobilenet_v2", alpha=1.4)
    assert (a.totals["weights"], a.totals["params"], a.totals["macs"]) == (w, params, m)
    assert params == 6_108_776 and w == 6_059_840 and m == 582_195_824
    assert round((w + 1000) / 1e4) / 100 == 6.06 and round(m / 1e6) == 582
    assert not rounds_to(params, 6.9, 1e6) and not rounds_to(m, 585, 1e6)
    assert round(3_504_872 * 1.4 ** 2 / 1e5) / 10 == 6.9
    assert round(300_774_272 * 1.4 ** 2 / 1e6) == 590
