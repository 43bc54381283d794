"""ResNet variants (pre-activation, ResNeXt, SENet, Wide ResNet, stochastic depth): static totals
against parameter and multiply-add counts written out by hand from the papers' tables, and
against the published figures they round to."""
import pytest

import archprof


# --- hand arithmetic ------------------------------------------------------------------------
def conv(cin, cout, k, g=1, bias=False):
    """Parameters of a k x k convolution."""
    return cin // g * cout * k * k + (cout if bias else 0)


def conv_macs(cin, cout, k, hw, g=1):
    """Multiply-adds of a k x k convolution producing cout maps of hw x hw."""
    return cin // g * k * k * cout * hw * hw


def bn(c):
    return 2 * c


def fc(i, o):
    return i * o + o


def totals(name, **params):
    return archprof.analyze(name, params=params or None).totals


def rounds_to(value, printed, unit):
    """`value` printed in `unit` with as many decimals as `printed` has gives `printed`."""
    decimals = len(str(printed).split(".")[1]) if "." in str(printed) else 0
    return round(value / unit, decimals) == printed


# --- pre-activation ResNets (He et al. 2016b) -----------------------------------------------
def preact_basic_stage(cin, c, n):
    """n full pre-activation basic units; the first projects (1x1, no BN) if shapes change."""
    total = 0
    for i in range(n):
        a = cin if i == 0 else c
        total += bn(a) + conv(a, c, 3) + bn(c) + conv(c, c, 3)
        if a != c:
            total += conv(a, c, 1)
    return total


def preact_bottleneck_stage(cin, c, n, stride, first=False):
    total = 0
    for i in range(n):
        a = cin if i == 0 else 4 * c
        pre = bn(a) if not (first and i == 0) else 0
        total += pre + conv(a, c, 1) + bn(c) + conv(c, c, 3) + bn(c) + conv(c, 4 * c, 1)
        if a != 4 * c or (i == 0 and stride != 1):
            total += conv(a, 4 * c, 1)
    return total


def test_preact_resnet110_params():
    hand = (conv(3, 16, 3)
            + preact_basic_stage(16, 16, 18)
            + preact_basic_stage(16, 32, 18)
            + preact_basic_stage(32, 64, 18)
            + bn(64) + fc(64, 10))
    t = totals("preact_resnet110")
    assert t["params"] == hand
    assert rounds_to(hand, 1.7, 1e6)          # He et al. 2016b: 1.7M


def test_preact_resnet110_macs():
    def stage(cin, c, hw):
        return (conv_macs(cin, c, 3, hw) + 17 * 2 * conv_macs(c, c, 3, hw)
                + conv_macs(c, c, 3, hw) + (conv_macs(cin, c, 1, hw) if cin != c else 0))
    hand = conv_macs(3, 16, 3, 32) + stage(16, 16, 32) + stage(16, 32, 16) + stage(32, 64, 8) + 64 * 10
    assert totals("preact_resnet110")["macs"] == hand


def test_preact_resnet164_params():
    hand = (conv(3, 16, 3)
            + preact_bottleneck_stage(16, 16, 18, 1)
            + preact_bottleneck_stage(64, 32, 18, 2)
            + preact_bottleneck_stage(128, 64, 18, 2)
            + bn(256) + fc(256, 10))
    assert totals("preact_resnet164")["params"] == hand
    assert rounds_to(hand, 1.7, 1e6)          # He et al. 2016b Table 3: 1.7M


def test_preact_resnet200_params():
    hand = (conv(3, 64, 7) + bn(64)
            + preact_bottleneck_stage(64, 64, 3, 1, first=True)
            + preact_bottleneck_stage(256, 128, 24, 2)
            + preact_bottleneck_stage(512, 256, 36, 2)
            + preact_bottleneck_stage(1024, 512, 3, 2)
            + bn(2048) + fc(2048, 1000))
    assert totals("preact_resnet200")["params"] == hand
    assert rounds_to(hand, 64.7, 1e6)


def test_preact_num_classes_is_a_parameter():
    ten, hundred = totals("preact_resnet110"), totals("preact_resnet110", num_classes=100)
    assert hundred["params"] - ten["params"] == fc(64, 100) - fc(64, 10)


# --- ResNeXt (Xie et al. 2017, Table 1) -----------------------------------------------------
def post_bottleneck_stage(cin, c, width, out, n, g=1):
    """n post-activation bottlenecks (BN after every conv), projection conv + BN on the first."""
    total = 0
    for i in range(n):
        a = cin if i == 0 else out
        total += (conv(a, width, 1) + bn(width) + conv(width, width, 3, g) + bn(width)
                  + conv(width, out, 1) + bn(out))
        if i == 0:
            total += conv(a, out, 1) + bn(out)
    return total


STEM = conv(3, 64, 7) + bn(64)
HEAD = fc(2048, 1000)


def resnext_params(depths, card=32, bw=4):
    total, cin = STEM + HEAD, 64
    for c, n in zip((64, 128, 256, 512), depths):
        total += post_bottleneck_stage(cin, c, card * bw * c // 64, 4 * c, n, card)
        cin = 4 * c
    return total


def test_resnext50_params():
    hand = resnext_params((3, 4, 6, 3))
    assert totals("resnext50_32x4d")["params"] == hand
    assert rounds_to(hand, 25.0, 1e6)         # Table 1: 25.0 x 10^6


def test_resnext50_macs():
    # Table 1 stages; the stride is on the 3x3, so the first 1x1 of a stage runs at the input size.
    hand = conv_macs(3, 64, 7, 112) + 2048 * 1000
    cin, size = 64, 56
    for c, n, s in zip((64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2)):
        w, out, hw = 32 * 4 * c // 64, 4 * c, size // s
        hand += conv_macs(cin, w, 1, size) + conv_macs(w, w, 3, hw, 32) + conv_macs(w, out, 1, hw)
        hand += conv_macs(cin, out, 1, hw)                                   # projection
        hand += (n - 1) * (conv_macs(out, w, 1, hw) + conv_macs(w, w, 3, hw, 32) + conv_macs(w, out, 1, hw))
        cin, size = out, hw
    assert totals("resnext50_32x4d")["macs"] == hand
    assert rounds_to(hand, 4.2, 1e9)          # Table 1: 4.2 x 10^9


def test_resnext50_stage_shapes_table1():
    layers = archprof.analyze("resnext50_32x4d").layers.set_index("name")["shape"]
    assert layers["conv1.conv1.relu"] == "64x112x112"
    assert [layers[f"conv{k}.block3.relu"] for k in (2, 3, 4, 5)] == \
        ["256x56x56", "512x28x28", "1024x14x14", "2048x7x7"]


def test_resnext101_params():
    hand = resnext_params((3, 4, 23, 3))
    assert totals("resnext101_32x4d")["params"] == hand
    assert rounds_to(hand, 44.18, 1e6)        # MMPretrain model zoo: 44.18M


def test_resnext_cardinality_and_width_are_parameters():
    t = totals("resnext50_32x4d", cardinality=64, base_width=4)
    assert t["params"] == resnext_params((3, 4, 6, 3), card=64, bw=4)


# --- SENet (Hu et al. 2018) -----------------------------------------------------------------
def se(c, r=16):
    """SE block: FC C->C/r and C/r->C, both with bias."""
    return fc(c, c // r) + fc(c // r, c)


def test_se_resnet50_adds_exactly_the_se_blocks():
    plain, with_se = totals("resnet50"), totals("se_resnet50")
    extra = 3 * se(256) + 4 * se(512) + 6 * se(1024) + 3 * se(2048)
    assert extra == 2_530_992
    assert with_se["params"] - plain["params"] == extra
    assert rounds_to(extra, 2.5, 1e6)                       # "~2.5 million additional parameters"
    # SE FCs act on 1x1 maps: C*C/r multiply-adds each, two per block
    extra_macs = sum(n * 2 * c * c // 16 for c, n in ((256, 3), (512, 4), (1024, 6), (2048, 3)))
    assert with_se["macs"] - plain["macs"] == extra_macs
    assert abs(with_se["macs"] / 3.87e9 - 1) < 0.003        # "~3.87 GFLOPs" (see the spec's note)


def test_senet154_params():
    stem = conv(3, 64, 3) + bn(64) + conv(64, 64, 3) + bn(64) + conv(64, 128, 3) + bn(128)
    total, cin = stem + fc(2048, 1000), 128
    for c, n, s in zip((64, 128, 256, 512), (3, 8, 36, 3), (1, 2, 2, 2)):
        for i in range(n):
            a = cin if i == 0 else 4 * c
            total += (conv(a, 2 * c, 1) + bn(2 * c) + conv(2 * c, 4 * c, 3, 64) + bn(4 * c)
                      + conv(4 * c, 4 * c, 1) + bn(4 * c) + se(4 * c))
            if i == 0:
                total += conv(a, 4 * c, 3 if s == 2 else 1) + bn(4 * c)
        cin = 4 * c
    assert totals("senet154")["params"] == total
    assert rounds_to(total, 115, 1e6)


# --- Wide ResNets (Zagoruyko & Komodakis 2016) ----------------------------------------------
def wrn_params(depth, k, classes=10):
    n = (depth - 4) // 6
    return (conv(3, 16, 3) + preact_basic_stage(16, 16 * k, n) + preact_basic_stage(16 * k, 32 * k, n)
            + preact_basic_stage(32 * k, 64 * k, n) + bn(64 * k) + fc(64 * k, classes))


def test_wrn_28_10_params():
    hand = wrn_params(28, 10)
    assert totals("wrn_28_10")["params"] == hand
    assert rounds_to(hand, 36.5, 1e6)         # 36.5M


def test_wrn_depth_and_width_are_parameters():
    assert totals("wrn_28_10", depth=16, k=8)["params"] == wrn_params(16, 8)
    # dropout between the convolutions has no parameters and no multiply-adds
    a, b = totals("wrn_28_10"), totals("wrn_28_10", dropout=0.3)
    assert (a["params"], a["macs"]) == (b["params"], b["macs"])


def test_a_wrn_depth_not_of_the_form_6n_plus_4_is_refused():
    """d = 6N + 4 (three groups of N two-conv blocks, the first conv and the fc): depth 11
    has no N (the authors' code asserts (depth - 4) % 6 == 0). Flooring it would print
    WRN-10's numbers under the label depth 11."""
    with pytest.raises(archprof.SpecError, match=r"wide_resnet.yaml:\d+: conv2: repeat: value "
                       r"must be a whole number, got 1.1666"):
        archprof.expand("wrn_28_10", params={"depth": 11})
    assert totals("wrn_28_10", depth=10, k=1)["params"] == wrn_params(10, 1)


def test_wide_resnet50_2_params():
    total, cin = STEM + HEAD, 64
    for c, n in zip((64, 128, 256, 512), (3, 4, 6, 3)):
        total += post_bottleneck_stage(cin, c, 2 * c, 4 * c, n)
        cin = 4 * c
    assert total == 68_883_240                # torchvision Wide_ResNet50_2_Weights num_params
    assert totals("wide_resnet50_2")["params"] == total


# --- stochastic depth (Huang et al. 2016) ---------------------------------------------------
def cifar_resnet_option_a(n):
    """He et al. CIFAR ResNet, 6n+2 layers, parameter-free shortcuts, conv biases (Huang's code)."""
    def block(a, c):
        return conv(a, c, 3, bias=True) + bn(c) + conv(c, c, 3, bias=True) + bn(c)
    total = conv(3, 16, 3, bias=True) + bn(16) + fc(64, 10)
    for cin, c in ((16, 16), (16, 32), (32, 64)):
        total += block(cin, c) + (n - 1) * block(c, c)
    return total


@pytest.mark.parametrize("key", ["params", "macs", "other_ops", "activations", "peak_activations"])
def test_stochastic_depth_costs_the_plain_network_at_inference(key):
    assert totals("resnet110_stochastic_depth")[key] == totals("resnet110_cifar")[key]


def test_resnet110_params_by_hand():
    hand = cifar_resnet_option_a(18)
    assert totals("resnet110_stochastic_depth")["params"] == hand
    assert rounds_to(hand, 1.7, 1e6)          # He et al. 2016 Table 6: 1.7M


def test_resnet110_macs_by_hand():
    macs = conv_macs(3, 16, 3, 32) + 64 * 10
    for cin, c, hw in ((16, 16, 32), (16, 32, 16), (32, 64, 8)):
        macs += conv_macs(cin, c, 3, hw) + 35 * conv_macs(c, c, 3, hw)
    assert totals("resnet110_stochastic_depth")["macs"] == macs


def test_resnet1202_params_by_hand():
    hand = cifar_resnet_option_a(200)
    assert totals("resnet1202_stochastic_depth")["params"] == hand
    biases = 16 + 200 * (2 * 16 + 2 * 32 + 2 * 64)
    assert rounds_to(hand - biases, 19.4, 1e6)   # He et al. 2016 Table 6 (no conv biases): 19.4M
