"""SqueezeNet (Iandola et al. 2016) checked against Table 1, Table 2 and hand arithmetic."""
import pytest

import archprof
from archprof.spec import spec_dir

SPEC = f"{spec_dir()}/squeezenet.yaml"

# Table 1 columns: s1x1, e1x1, e3x3 and '#parameter before pruning'
FIRE = {
    "fire2": (96, 16, 64, 64, 11920),     # (input channels, s, e1, e3, params)
    "fire3": (128, 16, 64, 64, 12432),
    "fire4": (128, 32, 128, 128, 45344),
    "fire5": (256, 32, 128, 128, 49440),
    "fire6": (256, 48, 192, 192, 104880),
    "fire7": (384, 48, 192, 192, 111024),
    "fire8": (384, 64, 256, 256, 188992),
    "fire9": (512, 64, 256, 256, 197184),
}
TABLE1_TOTAL = 1248424


def analyze(name, **params):
    return archprof.analyze(f"{SPEC}:{name}", params=params or None)


def rows(a):
    return {row["name"]: row for _, row in a.layers.iterrows()}


def fire_params(cin, s, e1, e3):
    # squeeze 1x1 + bias, expand 1x1 + bias, expand 3x3 + bias
    return (cin * s + s) + (s * e1 + e1) + (s * 9 * e3 + e3)


@pytest.mark.parametrize("fire,cols", FIRE.items())
def test_fire_module_params_by_hand(fire, cols):
    cin, s, e1, e3, table = cols
    assert fire_params(cin, s, e1, e3) == table
    collapsed = analyze("squeezenet1_0").collapsed(1).set_index("name")
    assert collapsed.loc[fire, "params"] == table


def test_table1_total_and_the_other_rows():
    conv1 = 7 * 7 * 3 * 96 + 96                 # 14,208
    conv10 = 512 * 1000 + 1000                  # 513,000
    total = conv1 + sum(fire_params(*c[:4]) for c in FIRE.values()) + conv10
    assert (conv1, conv10) == (14208, 513000)
    assert total == TABLE1_TOTAL
    assert analyze("squeezenet1_0").totals["params"] == TABLE1_TOTAL


def test_table1_output_sizes_at_227():
    # Table 1 prints conv1 as 111x111x96: floor((227 - 7)/2) + 1 = 111 needs a 227 input
    assert (227 - 7) // 2 + 1 == 111 and (224 - 7) // 2 + 1 == 109
    r = rows(analyze("squeezenet1_0", res=227))
    table1 = {"conv1.conv": "96x111x111", "maxpool1": "96x55x55", "fire2.concat": "128x55x55",
              "fire3.concat": "128x55x55", "fire4.concat": "256x55x55", "maxpool4": "256x27x27",
              "fire5.concat": "256x27x27", "fire6.concat": "384x27x27", "fire7.concat": "384x27x27",
              "fire8.concat": "512x27x27", "maxpool8": "512x13x13", "fire9.concat": "512x13x13",
              "classifier.conv10.conv": "1000x13x13", "classifier.avgpool10": "1000x1x1"}
    for name, shape in table1.items():
        assert r[name]["shape"] == shape, name


def test_torchvision_224_sizes():
    # 224: conv1 109; ceil pooling: ceil((109-3)/2)+1 = 54, ceil((54-3)/2)+1 = 27, ceil((27-3)/2)+1 = 13
    r = rows(analyze("squeezenet1_0"))
    assert r["conv1.conv"]["shape"] == "96x109x109"
    assert r["maxpool1"]["shape"] == "96x54x54"
    assert r["maxpool4"]["shape"] == "256x27x27"
    assert r["maxpool8"]["shape"] == "512x13x13"


def test_conv1_macs_by_hand():
    r = rows(analyze("squeezenet1_0", res=227))
    assert r["conv1.conv"]["macs"] == 111 * 111 * 96 * (7 * 7 * 3)


def test_model_size_4_8_mb_is_binary_megabytes():
    params = analyze("squeezenet1_0").totals["params"]
    nbytes = params * 4                          # 32-bit weights (Table 2 "Data Type 32 bit")
    assert nbytes == 4993696
    assert round(nbytes / 2**20, 2) == 4.76     # -> the paper's "4.8MB": MiB (2^20 bytes)
    assert round(nbytes / 1e6, 2) == 4.99       # decimal MB would have printed 5.0MB


def test_alexnet_240mb_and_50x():
    alex = archprof.analyze(f"{spec_dir()}/alexnet.yaml:alexnet").totals["params"]
    # hand count of the lead's AlexNet (two-group conv2/4/5): conv1..5 + fc6..8
    by_hand = (11 * 11 * 3 * 96 + 96) + (5 * 5 * 48 * 256 + 256) + (3 * 3 * 256 * 384 + 384) \
        + (3 * 3 * 192 * 384 + 384) + (3 * 3 * 192 * 256 + 256) \
        + (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert alex == by_hand == 60965224
    assert round(alex * 4 / 1e6, 1) == 243.9     # decimal MB
    assert round(alex * 4 / 2**20, 1) == 232.6   # MiB
    # Table 2's "240MB" is neither: it is the abstract's round "60 million" * 4 bytes
    assert 60_000_000 * 4 / 1e6 == 240
    squeeze = analyze("squeezenet1_0").totals["params"]
    ratio = alex / squeeze                        # unit-free
    assert round(ratio, 1) == 48.8                # Table 2 prints 240MB / 4.8MB = 50x
    assert 240 / 4.8 == pytest.approx(50)


def test_squeezenet1_1_params_by_hand():
    # v1.1: conv1 64 3x3/2; fire2 takes 64 channels; later Fire modules as v1.0
    conv1 = 3 * 3 * 3 * 64 + 64
    fires = [fire_params(64, 16, 64, 64)] + [fire_params(*c[:4]) for k, c in FIRE.items() if k != "fire2"]
    total = conv1 + sum(fires) + 512 * 1000 + 1000
    assert total == 1235496                       # torchvision SqueezeNet1_1_Weights num_params
    assert analyze("squeezenet1_1").totals["params"] == total
