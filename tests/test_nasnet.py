"""NASNet-A Mobile (4 @ 1056) checked by hand arithmetic and the published 5.3M / 564M."""
import archprof
from archprof.spec import spec_dir

SPEC = f"{spec_dir()}/nasnet.yaml:nasnet_a_mobile"
F = 1056 // 24          # "4 @ 1056": 1056 penultimate filters = 24 * filters
assert F == 44


def analyze():
    return archprof.analyze(SPEC)


def rows(a):
    return {row["name"]: row for _, row in a.layers.iterrows()}


def sep(cin, c, k, stem=False):
    """ReLU-dw kxk-pw 1x1-BN-ReLU-dw kxk-pw 1x1-BN, no biases."""
    mid = c if stem else cin
    return cin * k * k + cin * mid + 2 * mid + mid * k * k + mid * c + 2 * c


def rcb(cin, c):            # ReLU, 1x1 conv, BN
    return cin * c + 2 * c


def factorized(cin, c):     # two 1x1 convs to c/2, BN over c
    return 2 * cin * (c // 2) + 2 * c


def normal_branches(c):     # sep 5x5 twice and sep 3x3 three times; pools have no params
    return 2 * sep(c, c, 5) + 3 * sep(c, c, 3)


def reduction_branches(c):  # sep 7x7 twice, sep 5x5 twice, sep 3x3 once
    return 2 * sep(c, c, 7) + 2 * sep(c, c, 5) + sep(c, c, 3)


def params_by_hand(classes=1000):
    total = 3 * 3 * 3 * 32 + 2 * 32                                    # conv0 + BN
    total += rcb(32, 11) + sep(11, 11, 5) + sep(32, 11, 7, True) + sep(32, 11, 7, True) \
        + sep(32, 11, 5, True) + sep(11, 11, 3)                       # cell_stem_0
    total += rcb(44, 22) + factorized(32, 22) + reduction_branches(22)  # cell_stem_1
    for c, cin_h, prev, red in ((F, 88, 44, 4 * F), (2 * F, 4 * 2 * F, 6 * F, 6 * 2 * F),
                                (4 * F, 4 * 4 * F, 6 * 2 * F, None)):
        # first cell of the stack: h_prev (2x the size) through the factorized reduction
        total += factorized(prev, c) + rcb(cin_h, c) + normal_branches(c)
        total += rcb(cin_h, c) + rcb(6 * c, c) + normal_branches(c)    # second cell
        total += 2 * (rcb(6 * c, c) + rcb(6 * c, c) + normal_branches(c))  # third, fourth
        if red:
            total += 2 * rcb(6 * c, 2 * c) + reduction_branches(2 * c)
    return total + 1056 * classes + classes


def test_params_by_hand_and_published_5_3m():
    total = params_by_hand()
    assert analyze().totals["params"] == total
    assert round(total / 1e6, 1) == 5.3          # TF-slim README / MobileNetV2 Table 4: 5.3M


def test_macs_published_564m():
    macs = analyze().totals["macs"]
    assert round(macs / 1e6) == 564              # TF-slim README: 564 Million MACs


def test_cell_widths_and_sizes():
    r = rows(analyze())
    assert r["conv0_conv"]["shape"] == f"32x{(224 - 3) // 2 + 1}x111"
    # reduction cells concatenate 4 sums, normal cells h_prev + 5 sums
    want = {"cell_stem_0": (4 * (F // 4), 56), "cell_stem_1": (4 * (F // 2), 28),
            "cell_0": (6 * F, 28), "cell_3": (6 * F, 28),
            "reduction_cell_0": (4 * 2 * F, 14), "cell_6": (6 * 2 * F, 14), "cell_9": (6 * 2 * F, 14),
            "reduction_cell_1": (4 * 4 * F, 7), "cell_12": (6 * 4 * F, 7), "cell_15": (1056, 7)}
    for name, (c, size) in want.items():
        assert r[f"{name}.cat"]["shape"] == f"{c}x{size}x{size}", name
    assert (4 * 11, 4 * 22, 6 * 44, 4 * 88, 6 * 88, 4 * 176, 6 * 176) == (44, 88, 264, 352, 528, 704, 1056)


def test_one_separable_branch_by_hand():
    a = analyze()
    col = a.collapsed(2).set_index("name")
    # cell_1's comb0_left: 5x5 separable applied twice at 44 channels, 28x28
    assert col.loc["cell_1.comb0_left", "params"] == 2 * (44 * 25 + 44 * 44 + 2 * 44) == 6248
    assert col.loc["cell_1.comb0_left", "macs"] == 2 * 28 * 28 * (44 * 25 + 44 * 44)
    # cell_stem_0's comb0_right maps conv0's 32 channels to 11 in its first pointwise conv
    assert col.loc["cell_stem_0.comb0_right", "params"] == 32 * 49 + 32 * 11 + 22 + 11 * 49 + 11 * 11 + 22


def test_one_normal_cell_by_hand():
    a = analyze()
    col = a.collapsed(1)
    cell = col[col["name"] == "cell_2"]
    # h_prev and h both 264 channels -> 44; 2 sep5 + 3 sep3 at 44
    assert cell["params"].sum() == 2 * (264 * 44 + 88) + 2 * sep(44, 44, 5) + 3 * sep(44, 44, 3)


def test_conv0_macs_by_hand():
    assert rows(analyze())["conv0_conv"]["macs"] == 111 * 111 * 32 * 3 * 3 * 3
