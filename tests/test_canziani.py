"""Canziani et al. 2017's extra networks (BN-AlexNet, BN-NIN, ENet) and the seed lecture's MNIST
CNN, against hand arithmetic from the Torch7 / Keras definitions they follow."""
import archprof
from archprof.spec import spec_dir

SPEC = f"{spec_dir()}/canziani.yaml"


def analyze(name, **params):
    return archprof.analyze(f"{SPEC}:{name}", params=params or None)


def rows(a):
    return {r["name"]: r for _, r in a.layers.iterrows()}


# --- MNIST CNN (specs/mnist.yaml) ---------------------------------------------------------------
def test_mnist_cnn_keras_example_by_hand():
    a = archprof.analyze(f"{spec_dir()}/mnist.yaml:mnist_cnn")
    r = rows(a)
    assert r["conv1.conv"]["shape"] == "32x26x26"              # 28 - 3 + 1
    assert r["conv2.conv"]["shape"] == "64x24x24"
    assert r["pool"]["shape"] == "64x12x12" and r["flatten"]["shape"] == str(12 * 12 * 64)
    params = (3 * 3 * 1 + 1) * 32 + (3 * 3 * 32 + 1) * 64 + (12 * 12 * 64 + 1) * 128 + (128 + 1) * 10
    assert a.totals["params"] == params == 1_199_882
    macs = 26 * 26 * 32 * 9 + 24 * 24 * 64 * 9 * 32 + 9216 * 128 + 128 * 10
    assert a.totals["macs"] == macs == 11_992_448


# --- BN-AlexNet -------------------------------------------------------------------------------
def test_bn_alexnet_by_hand():
    a = analyze("bn_alexnet")
    r = rows(a)
    assert [r[f"conv{i}.conv"]["shape"] for i in range(1, 6)] == \
        ["64x55x55", "192x27x27", "384x13x13", "256x13x13", "256x13x13"]
    convs = [(3, 64, 11), (64, 192, 5), (192, 384, 3), (384, 256, 3), (256, 256, 3)]
    fcs = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]
    plain = sum(k * k * cin * cout + cout for cin, cout, k in convs) + sum(i * o + o for i, o in fcs)
    assert plain == 61_100_840            # torchvision alexnet (the same single-GPU layers)
    bn = 2 * (64 + 192 + 384 + 256 + 256 + 4096 + 4096)
    assert a.totals["params"] == plain + bn == 61_119_528
    sizes = [55, 27, 13, 13, 13]
    macs = sum(s * s * cout * k * k * cin for (cin, cout, k), s in zip(convs, sizes)) \
        + sum(i * o for i, o in fcs)
    assert a.totals["macs"] == macs == 714_188_480


# --- BN-NIN -----------------------------------------------------------------------------------
def test_bn_nin_by_hand():
    a = analyze("bn_nin")
    r = rows(a)
    # 11x11/4 pad 5 on 224: (224 + 10 - 11) // 4 + 1 = 56; pools 3x3/2 pad 1 (floor): 28, 14, 7
    assert (224 + 10 - 11) // 4 + 1 == 56
    assert r["mlpconv1.cccp2.relu"]["shape"] == "96x56x56"
    assert r["pool3"]["shape"] == "384x7x7" and r["pool4"]["shape"] == "1024x1x1"
    blocks = [(3, 96, 11, 56), (96, 256, 5, 28), (256, 384, 3, 14), (384, 1024, 3, 7)]
    params = sum(k * k * cin * c + c + 2 * (c * c + c) + 3 * 2 * c for cin, c, k, _ in blocks) \
        + 1024 * 1000 + 1000
    assert a.totals["params"] == params == 8_655_336
    macs = sum(s * s * (k * k * cin * c + 2 * c * c) for cin, c, k, s in blocks) + 1024 * 1000
    assert a.totals["macs"] == macs


# --- ENet -------------------------------------------------------------------------------------
# (channels, downsample, dilation, asymmetric) of Table 1's encoder bottlenecks
STAGE2 = [(128, False, 1, 0), (128, False, 2, 0), (128, False, 1, 5), (128, False, 4, 0),
          (128, False, 1, 0), (128, False, 8, 0), (128, False, 1, 5), (128, False, 16, 0)]
ENCODER = [(64, True, 1, 0)] + [(64, False, 1, 0)] * 4 + [(128, True, 1, 0)] + STAGE2 + STAGE2


def enet_encoder_by_hand(res=224):
    """(params, mult-adds) of encoder.lua's layers without its classifier."""
    params = 3 * 3 * 3 * 13 + 13 + 2 * 16 + 16     # initial conv (bias), BN, PReLU on 16
    h = res // 2
    macs = h * h * 13 * 27
    cin = 16
    for c, down, _, asym in ENCODER:
        i = c // 4
        k = 2 if down else 1
        params += k * k * cin * i + 2 * i + i      # projection (no bias), BN, PReLU
        if down:
            h //= 2
        macs += h * h * i * k * k * cin
        if asym:
            params += asym * i * i + asym * i * i + i     # 1x5 (no bias), 5x1 (bias)
            macs += 2 * h * h * i * asym * i
        else:
            params += 9 * i * i + i                # 3x3, dilated or not (bias)
            macs += h * h * i * 9 * i
        params += 2 * i + i                        # BN, PReLU
        params += i * c + 2 * c                    # expansion (no bias), BN
        macs += h * h * c * i
        params += c                                # PReLU after the add
        cin = c
    return params, macs, h


def test_enet_classifier_by_hand():
    a = analyze("enet")
    enc_params, enc_macs, h = enet_encoder_by_hand()
    assert h == 28
    assert a.totals["params"] == enc_params + 128 * 1000 + 1000
    assert a.totals["macs"] == enc_macs + 128 * 1000
    r = rows(a)
    assert r["initial.concat"]["shape"] == "16x112x112"    # 13 conv maps + 3 pooled input maps
    assert r["bottleneck1_0.pad"]["shape"] == "64x56x56"   # 16 pooled channels + 48 zeros
    assert r["bottleneck2_0.pad"]["shape"] == "128x28x28"


def test_enet_full_segmentation_net_vs_paper_0_37M():
    """The ENet paper gives 0.37M parameters for the segmentation network. Encoder
    (encoder.lua without its 1x1 classifier) + decoder (decoder.lua: bottlenecks 4.0 up, 4.1,
    4.2, 5.0 up, 5.1 with ReLU, 3x3 stride-2 full convs in the upsampling ones and a 1x1 conv +
    BN on their shortcut; then a 2x2/2 full conv to the classes):"""
    enc, _, _ = enet_encoder_by_hand()

    def dec(cin, c, up):
        i = c // 4
        p = cin * i + 2 * i + (9 * i * i + i) + 2 * i + i * c + 2 * c
        if up:
            p += cin * c + 2 * c                   # shortcut 1x1 conv (no bias) + BN
        return p
    decoder = dec(128, 64, True) + 2 * dec(64, 64, False) + dec(64, 16, True) + dec(16, 16, False)
    assert decoder == 13_904 + 2 * 4_560 + 1_572 + 324 == 24_920
    # BN channels (each has running mean and variance besides its 2 learnable values)
    bn = 16 + sum(c // 4 * 2 + c for c, _, _, _ in ENCODER) \
        + (16 + 16 + 64 + 64) + 2 * (16 + 16 + 64) + (4 + 4 + 16 + 16) + (4 + 4 + 16)
    assert bn == 16 + 5 * 96 + 17 * 192 + 416 == 4_176
    for classes in (12, 19, 20):                   # CamVid, Cityscapes (+1 unlabelled)
        total = enc + decoder + 16 * classes * 4 + classes
        # 0.363M to 0.365M learnable parameters: prints as 0.36M, not the paper's 0.37M.
        assert 0.36e6 < total < 0.366e6
        # one count that does print 0.37M: including the BN running statistics (2 per channel)
        assert round((total + 2 * bn) / 1e4) / 100 == 0.37
    assert enc == 338_156
