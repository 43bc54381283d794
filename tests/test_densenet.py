"""DenseNet-BC (Huang et al. 2017, Table 1) checked against the paper's table and hand arithmetic."""
import pytest

import archprof
from archprof.spec import spec_dir

SPEC = f"{spec_dir()}/densenet.yaml"
# Table 1: dense layers per block; the name gives the depth.
BLOCKS = {
    "densenet121": (6, 12, 24, 16),
    "densenet169": (6, 12, 32, 32),
    "densenet201": (6, 12, 48, 32),
    "densenet264": (6, 12, 64, 48),
}


def analyze(name, **params):
    return archprof.analyze(f"{SPEC}:{name}", params=params or None)


def by_name(a):
    return {row["name"]: row for _, row in a.layers.iterrows()}


def count(a, layer_type):
    bt = a.by_type().set_index("type")
    return int(bt.loc[layer_type, "count"]) if layer_type in bt.index else 0


@pytest.mark.parametrize("name,blocks", BLOCKS.items())
def test_depth_counts_the_weighted_layers(name, blocks):
    # each dense layer holds two convs (1x1, 3x3); + 3 transition convs + the 7x7 conv + the fc
    depth = 2 * sum(blocks) + 3 + 1 + 1
    named = int(name[len("densenet"):])
    # DenseNet-264 does not add up: 2*(6+12+64+48) + 5 = 265 weighted layers with Table 1's
    # block sizes (one more than the name); 121, 169 and 201 count exactly.
    assert depth == (265 if named == 264 else named)
    a = analyze(name)
    assert count(a, "conv 3x3") == sum(blocks)
    assert count(a, "conv 1x1") == sum(blocks) + 3
    assert count(a, "conv 7x7") == 1 and count(a, "fc") == 1
    assert count(a, "conv 3x3") + count(a, "conv 1x1") + 1 + 1 == depth


@pytest.mark.parametrize("name,blocks", BLOCKS.items())
def test_channels_after_each_block_by_hand(name, blocks):
    k = 32
    c = 2 * k                                   # the stem has 2k = 64 filters
    rows = by_name(analyze(name))
    sizes = (56, 28, 14, 7)                      # Table 1 output sizes of the dense blocks
    for b, (n, size) in enumerate(zip(blocks, sizes), start=1):
        c = c + n * k                            # each dense layer adds k maps
        assert rows[f"denseblock{b}.block{n}.cat"]["shape"] == f"{c}x{size}x{size}"
        if b < 4:
            c = c // 2                           # compression 0.5
            assert rows[f"transition{b}.pool"]["shape"] == f"{c}x{size // 2}x{size // 2}"
    if name == "densenet121":
        # written out: 64+6*32 = 256 -> 128; 128+12*32 = 512 -> 256; 256+24*32 = 1024 -> 512; 512+16*32 = 1024
        assert c == 1024 and 64 + 6 * 32 == 256 and 128 + 12 * 32 == 512 and 256 + 24 * 32 == 1024


def test_table1_output_sizes():
    rows = by_name(analyze("densenet121"))
    assert rows["features.conv0"]["shape"] == "64x112x112"     # 7x7 conv, stride 2
    assert rows["features.pool0"]["shape"] == "64x56x56"       # 3x3 max pool, stride 2
    assert rows["denseblock1.block6.cat"]["shape"].endswith("x56x56")
    assert rows["transition1.conv"]["shape"].endswith("x56x56")
    assert rows["transition1.pool"]["shape"].endswith("x28x28")
    assert rows["transition3.pool"]["shape"].endswith("x7x7")
    assert rows["head.pool"]["shape"] == "1024x1x1"            # 7x7 global average pool
    assert rows["head.classifier"]["shape"] == "1000"


def test_one_dense_layer_params_by_hand():
    rows = by_name(analyze("densenet121"))
    # first layer of block 1: input 64 channels, bottleneck 4k = 128, growth k = 32
    layer = "denseblock1.block1."
    assert rows[layer + "norm1"]["params"] == 2 * 64
    assert rows[layer + "conv1"]["params"] == 64 * 128 * 1 * 1
    assert rows[layer + "norm2"]["params"] == 2 * 128
    assert rows[layer + "conv2"]["params"] == 128 * 32 * 3 * 3
    total = sum(rows[layer + op]["params"] for op in ("norm1", "conv1", "norm2", "conv2"))
    assert total == 2 * 64 + 64 * 128 + 2 * 128 + 128 * 32 * 9 == 45440
    # and its MACs at 56x56: (64*128 + 128*32*9) multiply-adds per output position
    macs = rows[layer + "conv1"]["macs"] + rows[layer + "conv2"]["macs"]
    assert macs == 56 * 56 * (64 * 128 + 128 * 9 * 32)


def dense_params_by_hand(blocks, k=32, init=None, classes=1000):
    """Total parameters written out layer by layer (BN: 2C, convs without bias, fc with bias)."""
    c = init or 2 * k
    total = 3 * c * 7 * 7 + 2 * c                                # conv0 + norm0
    for b, n in enumerate(blocks):
        for _ in range(n):
            total += 2 * c + c * 4 * k + 2 * 4 * k + 4 * k * k * 9  # norm1, conv1, norm2, conv2
            c += k
        if b < 3:
            total += 2 * c + c * (c // 2)                         # norm, 1x1 conv
            c //= 2
    return total + 2 * c + c * classes + classes                   # norm5, classifier


@pytest.mark.parametrize("name,blocks,k,published", [
    ("densenet121", (6, 12, 24, 16), 32, 7978856),     # torchvision DenseNet121_Weights num_params
    ("densenet169", (6, 12, 32, 32), 32, 14149480),
    ("densenet201", (6, 12, 48, 32), 32, 20013928),
    ("densenet161", (6, 12, 36, 24), 48, 28681000),
])
def test_total_params_by_hand_and_torchvision(name, blocks, k, published):
    assert dense_params_by_hand(blocks, k) == published
    assert analyze(name).totals["params"] == published


def test_densenet161_channels():
    # k = 48, 96 initial features: 96+6*48 = 384 -> 192; 192+12*48 = 768 -> 384;
    # 384+36*48 = 2112 -> 1056; 1056+24*48 = 2208 features into the classifier
    rows = by_name(analyze("densenet161"))
    assert rows["features.conv0"]["shape"] == "96x112x112"
    assert rows["head.pool"]["shape"] == f"{1056 + 24 * 48}x1x1" == "2208x1x1"
    assert rows["head.classifier"]["params"] == 2208 * 1000 + 1000


def test_growth_rate_is_a_parameter():
    # k = 12 (DenseNet-BC on CIFAR uses small k): block 1 of 121 ends at 2*12 + 6*12 = 96 channels
    rows = by_name(analyze("densenet121", growth=12))
    assert rows["denseblock1.block6.cat"]["shape"] == f"{2 * 12 + 6 * 12}x56x56"
    assert analyze("densenet121", growth=12).totals["params"] == dense_params_by_hand((6, 12, 24, 16), 12)
