"""Inception-v3, Inception-v4 and Inception-ResNet-v2 (specs/inception.yaml) against the papers'
grid sizes, hand-computed module parameter counts and the published parameter totals.

Every convolution is conv (no bias) + BatchNorm: a k_h x k_w conv from c_in to c_out channels has
k_h*k_w*c_in*c_out weights plus 2*c_out BN parameters (scale and shift)."""
from __future__ import annotations

import functools

import pytest

import archprof


@functools.cache
def net(name: str, aux: bool = False):
    return archprof.analyze(name, params={"aux": True} if aux else None)


def shape_of(name: str, row: str, aux: bool = False) -> str:
    """Output shape of a row (a block's output is its last op)."""
    layers = net(name, aux).layers
    rows = layers[(layers["name"] == row) | layers["name"].str.startswith(row + ".")]
    assert len(rows), row
    return rows["shape"].iloc[-1]


def params_of(name: str, prefix: str, aux: bool = False) -> int:
    layers = net(name, aux).layers
    return int(layers[layers["name"].str.startswith(prefix + ".")]["params"].sum())


# ------------------------------------------------------------------------------- Inception-v3
def test_v3_grid_sizes_of_table1():
    # Szegedy et al. 2015 Table 1 (input sizes of each stage): 35x35x288 into the 17x17 stage,
    # 17x17x768, 8x8x1280 into the 8x8 modules, 8x8x2048 into the final pool; 1000 logits.
    assert shape_of("inception_v3", "Conv2d_1a_3x3") == "32x149x149"   # (299 - 3)//2 + 1
    assert shape_of("inception_v3", "Conv2d_2b_3x3") == "64x147x147"
    assert shape_of("inception_v3", "Mixed_5d") == "288x35x35"
    assert shape_of("inception_v3", "Mixed_6a") == "768x17x17"
    assert shape_of("inception_v3", "Mixed_6e") == "768x17x17"
    assert shape_of("inception_v3", "Mixed_7a") == "1280x8x8"
    assert shape_of("inception_v3", "Mixed_7c") == "2048x8x8"
    assert shape_of("inception_v3", "fc") == "1000"


def test_v3_inception_a_module_params():
    # Mixed_5b: 192 input channels, pool branch 32 channels (torchvision InceptionA(192, 32))
    expected = (192 * 64 + 2 * 64                                   # branch1x1
                + 192 * 48 + 2 * 48 + 5 * 5 * 48 * 64 + 2 * 64      # 1x1 48 -> 5x5 64
                + 192 * 64 + 2 * 64 + 3 * 3 * 64 * 96 + 2 * 96      # 1x1 64 -> 3x3 96
                + 3 * 3 * 96 * 96 + 2 * 96                          #        -> 3x3 96
                + 192 * 32 + 2 * 32)                                # avgpool -> 1x1 32
    assert expected == 255_904
    assert params_of("inception_v3", "Mixed_5b") == expected
    assert shape_of("inception_v3", "Mixed_5b") == f"{64 + 64 + 96 + 32}x35x35"


def test_v3_factorised_7x7_module_params():
    # Mixed_6b: 768 channels in, c7 = 128; every 7x7 is a 1x7 followed by a 7x1 (or vice versa)
    c7 = 128
    expected = (768 * 192 + 2 * 192                                           # 1x1 192
                + 768 * c7 + 2 * c7 + 1 * 7 * c7 * c7 + 2 * c7 + 7 * 1 * c7 * 192 + 2 * 192
                + 768 * c7 + 2 * c7 + 3 * (7 * c7 * c7 + 2 * c7)            # 1x1, 7x1, 1x7, 7x1
                + 7 * c7 * 192 + 2 * 192                                      # 1x7 to 192
                + 768 * 192 + 2 * 192)                                        # pool branch
    assert params_of("inception_v3", "Mixed_6b") == expected


def test_v3_totals_and_aux_head():
    aux_head = (768 * 128 + 2 * 128            # 1x1 conv 128 + BN
                + 5 * 5 * 128 * 768 + 2 * 768  # 5x5 conv 768 + BN
                + 768 * 1000 + 1000)           # fc with bias
    assert aux_head == 3_326_696
    without, with_aux = net("inception_v3").totals, net("inception_v3", aux=True).totals
    assert with_aux["params"] - without["params"] == aux_head
    assert params_of("inception_v3", "AuxLogits", aux=True) == aux_head
    # torchvision Inception_V3_Weights.IMAGENET1K_V1 num_params counts the aux head
    assert with_aux["params"] == 27_161_264
    assert without["params"] == 27_161_264 - aux_head == 23_834_568
    # the aux head reads the 17x17x768 grid: avgpool 5/3 -> 5x5, 5x5 conv -> 1x1
    assert shape_of("inception_v3", "AuxLogits.avgpool", aux=True) == "768x5x5"
    assert shape_of("inception_v3", "AuxLogits.conv1", aux=True) == "768x1x1"
    # the aux MACs: 5*5*768*128 (1x1 conv on 5x5) + 1*1*768*5*5*128 (5x5 conv) + fc
    assert with_aux["macs"] - without["macs"] == 5 * 5 * 768 * 128 + 5 * 5 * 128 * 768 + 768 * 1000
    # abstract: 'less than 25 million parameters' (without the aux head)
    assert without["params"] < 25_000_000 < with_aux["params"]


def test_v3_first_conv_macs():
    layers = net("inception_v3").layers
    conv = layers[layers["name"] == "Conv2d_1a_3x3.conv"].iloc[0]
    assert conv["macs"] == 149 * 149 * 32 * 3 * 3 * 3
    assert conv["params"] == 3 * 3 * 3 * 32


# ------------------------------------------------------------------------------- Inception-v4
def test_v4_grid_sizes_of_fig9():
    # Szegedy et al. 2016 Fig. 3 (stem) and Fig. 9 (overall schema)
    for row, shape in [("stem.conv1", "32x149x149"), ("stem.conv2", "32x147x147"),
                       ("stem.conv3", "64x147x147"), ("stem.mixed_3a", "160x73x73"),
                       ("stem.mixed_4a", "192x71x71"), ("stem", "384x35x35"),
                       ("inception_a", "384x35x35"), ("reduction_a", "1024x17x17"),
                       ("inception_b", "1024x17x17"), ("reduction_b", "1536x8x8"),
                       ("inception_c", "1536x8x8"), ("fc", "1000")]:
        assert shape_of("inception_v4", row) == shape, row


def test_v4_module_params():
    # Inception-A (Fig. 4) on 384 channels
    inception_a = (384 * 96 + 2 * 96                                    # avgpool -> 1x1 96
                   + 384 * 96 + 2 * 96                                  # 1x1 96
                   + 384 * 64 + 2 * 64 + 3 * 3 * 64 * 96 + 2 * 96       # 1x1 64 -> 3x3 96
                   + 384 * 64 + 2 * 64 + 3 * 3 * 64 * 96 + 2 * 96 + 3 * 3 * 96 * 96 + 2 * 96)
    assert params_of("inception_v4", "inception_a.block1") == inception_a
    assert params_of("inception_v4", "inception_a") == 4 * inception_a
    # Reduction-A (Fig. 7) with k, l, m, n = 192, 224, 256, 384 (Table 1)
    k, l, m, n = 192, 224, 256, 384
    reduction_a = (3 * 3 * 384 * n + 2 * n
                   + 384 * k + 2 * k + 3 * 3 * k * l + 2 * l + 3 * 3 * l * m + 2 * m)
    assert params_of("inception_v4", "reduction_a") == reduction_a
    assert shape_of("inception_v4", "reduction_a") == f"{384 + n + m}x17x17"
    # Inception-C (Fig. 6) on 1536 channels
    inception_c = (1536 * 256 + 2 * 256 + 1536 * 256 + 2 * 256          # pool branch, 1x1
                   + 1536 * 384 + 2 * 384 + 2 * (3 * 384 * 256 + 2 * 256)
                   + 1536 * 384 + 2 * 384 + 3 * 384 * 448 + 2 * 448 + 3 * 448 * 512 + 2 * 512
                   + 2 * (3 * 512 * 256 + 2 * 256))
    assert params_of("inception_v4", "inception_c.block1") == inception_c


def test_v4_totals():
    t = net("inception_v4").totals
    assert t["params"] == 42_679_816                   # timm inception_v4 (Cadene port)
    assert abs(t["macs"] - 12.3e9) <= 0.05e9           # timm model card: 'GMACs: 12.3'
    # the classifier: 1536 features -> 1000 classes with bias
    layers = net("inception_v4").layers
    assert layers[layers["name"] == "fc"]["params"].iloc[0] == 1536 * 1000 + 1000


# ------------------------------------------------------------------------ Inception-ResNet-v2
def test_irv2_grid_sizes():
    # keras-applications / TF-slim comments: 35x35x320, 17x17x1088, 8x8x2080, 8x8x1536
    for row, shape in [("maxpool_5a", "192x35x35"), ("mixed_5b", "320x35x35"),
                       ("repeat", "320x35x35"), ("mixed_6a", "1088x17x17"),
                       ("repeat_1", "1088x17x17"), ("mixed_7a", "2080x8x8"),
                       ("block8", "2080x8x8"), ("conv2d_7b", "1536x8x8"), ("fc", "1000")]:
        assert shape_of("inception_resnet_v2", row) == shape, row


def test_irv2_residual_block_params():
    # Inception-ResNet-A (block35) on 320 channels; the 1x1 up-projection has a bias, no BN
    block35 = (320 * 32 + 2 * 32                                        # 1x1 32
               + 320 * 32 + 2 * 32 + 3 * 3 * 32 * 32 + 2 * 32           # 1x1 32 -> 3x3 32
               + 320 * 32 + 2 * 32 + 3 * 3 * 32 * 48 + 2 * 48 + 3 * 3 * 48 * 64 + 2 * 64
               + (32 + 32 + 64) * 320 + 320)                            # 1x1 linear 128 -> 320
    assert params_of("inception_resnet_v2", "repeat.block1") == block35
    assert params_of("inception_resnet_v2", "repeat") == 10 * block35
    # Inception-ResNet-B (block17) on 1088 channels
    block17 = (1088 * 192 + 2 * 192
               + 1088 * 128 + 2 * 128 + 1 * 7 * 128 * 160 + 2 * 160 + 7 * 1 * 160 * 192 + 2 * 192
               + (192 + 192) * 1088 + 1088)
    assert params_of("inception_resnet_v2", "repeat_1.block7") == block17
    # Inception-ResNet-C (block8) on 2080 channels
    block8 = (2080 * 192 + 2 * 192
              + 2080 * 192 + 2 * 192 + 1 * 3 * 192 * 224 + 2 * 224 + 3 * 1 * 224 * 256 + 2 * 256
              + (192 + 256) * 2080 + 2080)
    assert params_of("inception_resnet_v2", "repeat_2.block9") == block8
    assert params_of("inception_resnet_v2", "block8") == block8       # the last one, no ReLU


def test_irv2_reduction_a_shared_with_v4():
    # Reduction-A with k, l, m, n = 256, 256, 384, 384 (paper Table 1) on 320 channels
    k, l, m, n = 256, 256, 384, 384
    expected = 3 * 3 * 320 * n + 2 * n + 320 * k + 2 * k + 3 * 3 * k * l + 2 * l + 3 * 3 * l * m + 2 * m
    assert params_of("inception_resnet_v2", "mixed_6a") == expected
    assert shape_of("inception_resnet_v2", "mixed_6a") == f"{n + m + 320}x17x17"


def test_irv2_totals():
    t = net("inception_resnet_v2").totals
    assert t["params"] == 55_843_464                   # timm inception_resnet_v2
    assert abs(t["macs"] - 13.2e9) <= 0.05e9           # timm model card: 'GMACs: 13.2'


@pytest.mark.parametrize("name", ["inception_v3", "inception_v4", "inception_resnet_v2"])
def test_bn_eps_is_tf_slim_value(name):
    eps = {node.op.eps for node in net(name).graph.nodes if node.op.kind == "bn"}
    assert eps == {0.001}
