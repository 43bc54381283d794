"""Elementwise functions (exp, log, log1p, sqrt, rsqrt, reciprocal, abs, neg, sin, cos, erf,
pow): RMSNorm's rsqrt and pow, a rotary embedding's sin and cos; activations (elu, selu,
mish, softplus, glu), the max and min over dimensions (CBAM), var and std, pixel shuffle and
unshuffle (ESPCN's sub-pixel upsampling); reflection and replication padding, instance norm,
batch norm without affine (CycleGAN's generator). In specs and traced, against
torch's values, hand arithmetic (one op per element), FlopCounterMode and what autograd
saves (saved_tensors_hooks)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import tracing_models as tm
from test_training import autograd_saved_bytes
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.ir.ops import MATH
from archprof.model.network import build
from archprof.trace import trace
from archprof.trace.to_spec import to_spec

CHAIN = """
- {abs: , name: abs}
- {log1p: , name: log1p}
- {exp: , name: exp}
- {sqrt: , name: sqrt}
- {rsqrt: , name: rsqrt}
- {reciprocal: , name: reciprocal}
- {log: , name: log}
- {pow: 3, name: cube}
- {sin: , name: sin}
- {cos: , name: cos}
- {erf: , name: erf}
- {neg: , name: neg}
"""


def test_spec_rows_compute_what_torch_does_one_op_per_element(write_spec) -> None:  # noqa: ANN001
    """Input 4x6x6: 144 elements, so 144 other ops per row, no MACs, no params."""
    path = str(write_spec(CHAIN, input="[4, 6, 6]"))
    a = archprof.analyze(path)
    assert set(a.layers["type"]) == {*MATH, "pow"}
    assert list(a.layers["other_ops"]) == [144] * 12 and list(a.layers["shape"]) == ["4x6x6"] * 12
    assert (a.totals["macs"], a.totals["params"]) == (0, 0)
    x = torch.randn(2, 4, 6, 6)
    want = -torch.erf(torch.cos(torch.sin(
        torch.log(torch.reciprocal(torch.rsqrt(torch.sqrt(torch.exp(torch.log1p(x.abs()))))))
        .pow(3))))
    assert torch.allclose(build(path, device="cpu")(x), want)


def test_spec_rows_train_as_autograd_and_flop_counter_say(write_spec) -> None:  # noqa: ANN001
    """Behind a 1x1 conv (so that a gradient flows): the rows' backward has no MACs
    (FlopCounterMode counts none either, only the conv's); saved is what each function's
    gradient reads, its input or its output (neg: nothing), one tensor once, as autograd
    keeps it."""
    path = str(write_spec("- {conv: 4, k: 1, name: mix}" + CHAIN, input="[4, 6, 6]"))
    a = archprof.analyze(path, batch=2, train=True)
    model = build(path, device="cpu").train()
    x = torch.rand(2, 4, 6, 6)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    conv = 2 * 144 * 4      # 2 x 4x6x6 outputs x 4 input channels: forward, weight gradient
    assert (a.totals["macs"], a.totals["backward_macs"]) == (conv, conv)
    assert counter.get_total_flops() // 2 == 2 * conv
    # 2x4x6x6 float32 = 1,152 bytes per tensor: abs reads the conv's output, log1p abs's,
    # exp and sqrt and rsqrt and reciprocal keep their outputs (the reciprocal's is log's
    # input), pow, sin, cos and erf read log's, cube's, sin's and cos's outputs: 10 tensors
    assert autograd_saved_bytes(model, x) == a.totals["train_saved_bytes"] == 10 * 1152


def test_traced_functions_are_counted_and_import_as_a_spec(tmp_path) -> None:  # noqa: ANN001
    """8 tokens x 16 features: the norm's x^2 (128), its mean (128 in, 8 out), + eps (8),
    rsqrt (8); after the linear layer every function one op per element of 8x16 = 128."""
    module = tm.Elementwise()
    a = archprof.analyze(module, input=(8, 16))
    assert a.totals["uncounted_ops"] == {}
    ops = a.layers.groupby("type")["other_ops"].sum()
    assert (ops["pow"], ops["rsqrt"]) == (2 * 128, 8)        # x.pow(2), z.square()
    for kind in ("exp", "sqrt", "abs", "log1p", "neg", "erf", "reciprocal", "cos", "log"):
        assert ops[kind] == 128, kind
    assert ops["sin"] == 2 * 128                                  # sin(y), sin_ in place
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.randn(1, 8, 16))
    assert a.totals["macs"] == counter.get_total_flops() // 2 == 8 * 16 * 16
    assert a.totals["params"] == sum(p.numel() for p in module.parameters())
    (tmp_path / "m.yaml").write_text(to_spec(trace(module, (8, 16)), name="m"))
    spec = archprof.analyze(str(tmp_path / "m.yaml"))
    assert {k: spec.totals[k] for k in ("params", "macs", "other_ops", "activations")} == \
        {k: a.totals[k] for k in ("params", "macs", "other_ops", "activations")}


@pytest.mark.parametrize("batch", [1, 3])
def test_traced_saved_bytes_equal_what_autograd_keeps(batch: int) -> None:
    """Out of place and in place (cos(y).log().sin_(): autograd copies log's output before
    sin_ overwrites it, since sin's gradient reads its input)."""
    module = tm.Elementwise().train()
    a = archprof.analyze(module, input=(8, 16), batch=batch, train=True)
    assert autograd_saved_bytes(module, torch.randn(batch, 8, 16)) == a.totals["train_saved_bytes"]


ACTIVATIONS = """
- {conv: 4, k: 1, name: mix}
- {elu: 0.5, name: elu}
- {selu: , name: selu}
- {mish: , name: mish}
- {softplus: 2, threshold: 10, name: softplus}
- {amax: [0], keepdim: true, name: channel_max}
- {amin: [1, 2], keepdim: true, name: spatial_min, from: softplus}
- {amax: [0], indices: true, keepdim: true, name: argmax, from: softplus}
- {add: [argmax, spatial_min, channel_max], name: out}
"""


def test_activations_and_extremes_compute_what_torch_does(write_spec) -> None:  # noqa: ANN001
    """Input 4x6x6: each activation one op per element (144), each max or min one comparison
    per input element (144)."""
    path = str(write_spec(ACTIVATIONS, input="[4, 6, 6]"))
    got = archprof.analyze(path).layers.set_index("name")
    assert list(got.loc[["elu", "selu", "mish", "softplus", "channel_max", "spatial_min",
                         "argmax"], "other_ops"]) == [144] * 7
    assert list(got.loc[["channel_max", "spatial_min", "argmax", "out"], "shape"]) == \
        ["1x6x6", "4x1x1", "1x6x6", "4x6x6"]
    model = build(path, device="cpu")
    x = torch.randn(2, 4, 6, 6)
    y = F.softplus(F.mish(F.selu(F.elu(model.mix(x), 0.5))), beta=2.0, threshold=10.0)
    want = torch.max(y, 1, keepdim=True).values + y.amin((2, 3), keepdim=True) \
        + y.amax(1, keepdim=True)
    assert torch.allclose(model(x), want)


def test_activations_in_place_where_the_backward_allows(write_spec) -> None:  # noqa: ANN001
    """elu overwrites the conv's output (its backward then reads its result); selu may not
    overwrite that result, so it makes its own (reading its input); mish overwrites selu's,
    keeping a copy of its input; softplus never runs in place."""
    a = archprof.analyze(str(write_spec(ACTIVATIONS, input="[4, 6, 6]")), batch=2)
    made = a.layers.set_index("name")["activations"]      # 0: in place
    assert (made["elu"], made["selu"], made["mish"], made["softplus"]) == (0, 288, 0, 288)


def test_traced_attention_and_activations_are_counted_and_import(tmp_path) -> None:  # noqa: ANN001
    """3x8x8 input: conv 3->8 k3 (8*64*27 MACs) and CBAM's 2->1 k7 (64*98), no op
    uncounted; saved bytes as autograd keeps them at batch 2; the spec it imports to analyses
    the same."""
    module = tm.Attentive().train()
    a = archprof.analyze(module, input=(3, 8, 8), batch=2, train=True)
    assert a.totals["uncounted_ops"] == {}
    assert a.totals["macs"] == 2 * (8 * 64 * 27 + 64 * 98)
    kinds = a.layers.groupby("type")["other_ops"].sum() // 2
    assert (kinds["mish"], kinds["elu"], kinds["selu"], kinds["softplus"]) == (512,) * 4
    assert (kinds["amax"], kinds["amin"]) == (512 + 512, 512)     # channel max, map max
    assert autograd_saved_bytes(module, torch.randn(2, 3, 8, 8)) == a.totals["train_saved_bytes"]
    (tmp_path / "m.yaml").write_text(to_spec(trace(module, (3, 8, 8)), name="m"))
    spec = archprof.analyze(str(tmp_path / "m.yaml"), batch=2, train=True)
    for key in ("params", "macs", "other_ops", "activations", "train_saved_bytes"):
        assert spec.totals[key] == a.totals[key], key


def test_unruled_forms_are_listed_with_the_reason() -> None:
    """An ELU scaled otherwise than SELU and the magnitude of a complex tensor, with the
    reason; CELU, the elementwise maximum of two tensors and an FFT, which have no rule."""
    class Forms(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.aten.elu(x, 1.0, 2.0) + F.celu(x) + torch.max(x, 2 * x) \
                + torch.fft.fft(x).abs()

    a = archprof.analyze(Forms(), input=(4, 5))
    assert a.totals["uncounted_ops"] == {"aten._fft_r2c": 1, "aten.abs": 1, "aten.celu": 1,
                                         "aten.elu": 1, "aten.maximum": 1}
    assert a.totals["uncounted_why"] == {
        "aten.elu": "an ELU scaled by 2.0; the rules are ELU's and SELU's",
        "aten.abs": "the magnitude of a complex tensor; the rule is a real abs, one op per "
                    "element"}


SHUFFLES = """
- {conv: 16, k: 3, p: 1, name: conv}
- {pixel_shuffle: 2, name: up}
- {pixel_unshuffle: 2, name: down}
- {var: [0], keepdim: true, correction: 0, name: var}
- {glu: 0, name: glu, from: down}
- {std: [1, 2], keepdim: true, name: std}
- {mul: [glu, var], name: scaled}
- {add: [scaled, std], name: out}
"""


def test_shuffles_var_std_glu_compute_what_torch_does(write_spec) -> None:  # noqa: ANN001
    """Input 4x6x6 -> conv 16x6x6 (576 elements) -> 4x12x12 -> 16x6x6 again. var over the 16
    channels: 4 ops per input element (576 * 4); glu halves the channels: 8x6x6 outputs, 2
    ops each; std over glu's map: 288 * 4 + one root per output (8). Receptive field: the
    shuffle's step is 1/2 of the conv's, the unshuffle's window 2 of those halves."""
    path = str(write_spec(SHUFFLES, input="[4, 6, 6]"))
    got = archprof.analyze(path).layers.set_index("name")
    assert list(got.loc[["up", "down", "var", "std", "glu"], "shape"]) == \
        ["4x12x12", "16x6x6", "1x6x6", "8x1x1", "8x6x6"]
    assert list(got.loc[["up", "down", "var", "std", "glu"], "other_ops"]) == \
        [0, 0, 4 * 576, 4 * 288 + 8, 2 * 288]
    assert (got.at["up", "rf"], got.at["up", "jump"]) == ("3", "1/2")
    assert (got.at["down", "rf"], got.at["down", "jump"]) == ("7/2", "1")
    model = build(path, device="cpu")
    x = torch.randn(2, 4, 6, 6)
    y = F.pixel_unshuffle(F.pixel_shuffle(model.conv(x), 2), 2)
    g = F.glu(y, 1)
    want = g * y.var(1, keepdim=True, unbiased=False) + g.std((2, 3), keepdim=True)
    assert torch.allclose(model(x), want, atol=1e-6)


EDGES = """
- {conv: 4, k: 1, name: mix}
- {edgepad: [1, 2, 1, 1], name: reflect}
- {edgepad: [2, 2, 0, 3], mode: replicate, name: replicate}
- {edgepad: [1, 1, 1, 1], mode: circular, name: circular}
- {bn: , affine: false, name: bn}
- {instancenorm: , name: instance}
- {instancenorm: , affine: true, running: true, name: running}
"""


def test_edge_pads_and_norms_without_affine_compute_what_torch_does(write_spec) -> None:  # noqa: ANN001
    """Input 4x6x6: reflect pads width 1+2 and height 1+1 (4x8x9), replicate width 2+2 and
    height 0+3 (4x11x13), circular 1 on each side (4x13x15 = 780 elements); copies, no ops.
    bn without affine: no params, 2*4+1 buffers, 2 ops per element; an instance norm is a
    group norm of one channel per group: 4 ops per element without affine (sum, subtract the
    mean, square-accumulate, scale); with running statistics (and affine) 2, with 2*4+1
    buffers."""
    path = str(write_spec(EDGES, input="[4, 6, 6]"))
    a = archprof.analyze(path)
    got = a.layers.set_index("name")
    assert list(got.loc[["reflect", "replicate", "circular"], "shape"]) == \
        ["4x8x9", "4x11x13", "4x13x15"]
    assert list(got.loc[["reflect", "replicate", "circular", "bn", "instance", "running"],
                        "other_ops"]) == [0, 0, 0, 2 * 780, 4 * 780, 2 * 780]
    assert (a.totals["params"], a.totals["buffers"]) == (4 * 4 + 4 + 2 * 4, 2 * (2 * 4 + 1))
    model = build(path, device="cpu").eval()
    x = torch.randn(2, 4, 6, 6)
    padded = F.pad(F.pad(F.pad(model.mix(x), (1, 2, 1, 1), mode="reflect"), (2, 2, 0, 3),
                         mode="replicate"), (1, 1, 1, 1), mode="circular")
    normed = F.instance_norm(F.batch_norm(padded, torch.zeros(4), torch.ones(4)))
    assert torch.allclose(normed, F.group_norm(padded, 4), atol=1e-4)   # one channel a group
    # eval: the running statistics, zero mean and unit variance as made, and the affine 1, 0
    want = F.batch_norm(normed, torch.zeros(4), torch.ones(4), torch.ones(4), torch.zeros(4))
    assert torch.allclose(model(x), want, atol=1e-5)
    with pytest.raises(archprof.SpecError, match="each pad must be shorter than the dimension"):
        archprof.analyze(str(write_spec("- {edgepad: [6, 0, 0, 0]}", input="[4, 6, 6]")))
    with pytest.raises(archprof.SpecError, match="can wrap around once at most"):
        archprof.analyze(str(write_spec("- {edgepad: [7, 0, 0, 0], mode: circular}",
                                        input="[4, 6, 6]")))


@pytest.mark.parametrize("rows", [ACTIVATIONS, SHUFFLES, EDGES],
                         ids=["activations", "shuffles", "edges"])
def test_rows_train_as_autograd_and_flop_counter_say(rows: str, write_spec) -> None:  # noqa: ANN001
    """Forward and backward MACs as FlopCounterMode counts them; saved bytes as autograd keeps
    them: elu and selu in place their result, mish a copy of its input, softplus its input,
    amax its input and result, max with indices its int64 indices; the shuffles nothing, var
    its input, std its input and result, glu its input. The built models train: nothing they
    saved is overwritten."""
    path = str(write_spec(rows, input="[4, 6, 6]"))
    a = archprof.analyze(path, batch=2, train=True)
    model = build(path, device="cpu").train()
    x = torch.rand(2, 4, 6, 6)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    assert counter.get_total_flops() // 2 == a.totals["macs"] + a.totals["backward_macs"]
    assert autograd_saved_bytes(model, x) == a.totals["train_saved_bytes"]


@pytest.mark.parametrize("rows", ["- {conv: 4, k: 1}" + CHAIN, ACTIVATIONS, SHUFFLES, EDGES])
def test_keeps_output_is_what_saved_says(rows: str, write_spec) -> None:  # noqa: ANN001
    """As on the zoo (tests/test_training.py), for every op of these rows, in place and not."""
    for n in archprof.expand(str(write_spec(rows, input="[4, 6, 6]"))).nodes:
        for inplace in (False, True):
            assert n.op.saved(n.ins, n.out, inplace).output == n.op.keeps_output(inplace), n.name


def test_traced_sub_pixel_and_norms_are_counted_and_import(tmp_path) -> None:  # noqa: ANN001
    """No op uncounted (the hardtanh to [-1, 1] is a clamp); conv 4->16 k3 on 6x6: 576 * 36
    MACs; saved bytes as autograd keeps them; the imported spec analyses the same."""
    module = tm.SubPixel().train()
    a = archprof.analyze(module, input=(4, 6, 6), batch=2, train=True)
    assert a.totals["uncounted_ops"] == {}
    assert a.totals["macs"] == 2 * 576 * 36
    assert set(a.layers["type"]) >= {"pixel_shuffle", "pixel_unshuffle", "var", "std", "glu",
                                     "clamp", "sqrt"}
    assert autograd_saved_bytes(module, torch.randn(2, 4, 6, 6)) == a.totals["train_saved_bytes"]
    (tmp_path / "m.yaml").write_text(to_spec(trace(module, (4, 6, 6)), name="m"))
    spec = archprof.analyze(str(tmp_path / "m.yaml"), batch=2, train=True)
    for key in ("params", "macs", "other_ops", "activations", "train_saved_bytes"):
        assert spec.totals[key] == a.totals[key], key


def test_traced_cyclegan_generator_is_counted_and_imports(tmp_path) -> None:  # noqa: ANN001
    """Reflection and replication pads are edge pads, instance norms (one with running
    statistics, one affine) one row each, the batch norm without affine counted: nothing
    uncounted, params numel, MACs FlopCounterMode's, saved bytes autograd's (the instance
    norms' weight and running statistics repeated per sample among them); the imported spec
    analyses the same and its model computes the module's values."""
    module = tm.ResnetGenerator()
    a = archprof.analyze(module, input=(3, 32, 32), batch=2, train=True)
    assert a.totals["uncounted_ops"] == {}
    assert a.totals["params"] == sum(p.numel() for p in module.parameters())
    assert a.totals["buffers"] == sum(b.numel() for b in module.buffers())
    kinds = a.layers["type"].tolist()
    assert (kinds.count("edgepad"), kinds.count("instancenorm"), kinds.count("bn")) == (4, 4, 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module.eval()(torch.randn(2, 3, 32, 32))
    assert a.totals["macs"] == counter.get_total_flops() // 2
    module.train()
    assert autograd_saved_bytes(module, torch.randn(2, 3, 32, 32)) == \
        a.totals["train_saved_bytes"]
    (tmp_path / "g.yaml").write_text(to_spec(trace(module, (3, 32, 32)), name="g"))
    spec = archprof.analyze(str(tmp_path / "g.yaml"), batch=2, train=True)
    for key in ("params", "buffers", "macs", "other_ops", "activations", "train_saved_bytes"):
        assert spec.totals[key] == a.totals[key], key
    built = build(str(tmp_path / "g.yaml"), device="cpu").eval()
    built.load_state_dict(dict(zip(built.state_dict(), module.state_dict().values())))
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(built(x), module.eval()(x), atol=1e-5)


def test_a_prelu_slope_per_channel_or_one_for_all(write_spec) -> None:  # noqa: ANN001
    """nn.PReLU() learns one slope, nn.PReLU(C) one per channel: 1 and 4 params on a 4x6x6
    map, one op per element (144) each; traced, both counted (params numel); built from the
    spec, torch's values."""
    path = str(write_spec("- {prelu: , shared: true, name: one}\n- {prelu: , name: each}",
                          input="[4, 6, 6]"))
    a = archprof.analyze(path).layers.set_index("name")
    assert list(a["params"]) == [1, 4] and list(a["other_ops"]) == [144, 144]
    model = build(path, device="cpu")
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(model(x), F.prelu(F.prelu(x, model.one.weight), model.each.weight))
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.PReLU(), torch.nn.PReLU(4))
    t = archprof.analyze(module, input=(3, 6, 6)).totals
    assert t["uncounted_ops"] == {} and t["params"] == sum(p.numel() for p in module.parameters())


def test_unfold_is_a_conv_without_its_products(write_spec, tmp_path) -> None:  # noqa: ANN001
    """3x8x8, k3 s2 p1: 3*9 = 27 columns of 4*4 = 16 positions; k (3, 2) d2: 18 columns of 4*6
    (each a conv's output size), a copy; the built model computes F.unfold's columns. A conv
    written out with it (columns times the weight) counts as the conv: 16 * 27 * 8 MACs,
    FlopCounterMode's, trains as autograd keeps it and imports."""
    rows = "- {unfold: 3, s: 2, p: 1, name: a}\n- {unfold: [3, 2], d: 2, name: b, from: in}"
    path = str(write_spec(rows, input="[3, 8, 8]"))
    got = archprof.analyze(path).layers.set_index("name")
    assert list(got["shape"]) == ["27x16", "18x24"] and list(got["other_ops"]) == [0, 0]
    assert (got.at["a", "rf"], got.at["a", "jump"]) == ("3", "2")
    model = build(path, device="cpu")
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(model.a(x), F.unfold(x, 3, padding=1, stride=2))
    assert torch.equal(model.b(x), F.unfold(x, (3, 2), dilation=2))
    module = tm.ExplicitConv()
    a = archprof.analyze(module, input=(3, 8, 8), batch=2, train=True)
    assert a.totals["uncounted_ops"] == {} and a.totals["macs"] == 2 * 16 * 27 * 8
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.randn(2, 3, 8, 8))
    assert counter.get_total_flops() // 2 == a.totals["macs"]
    assert autograd_saved_bytes(module, torch.randn(2, 3, 8, 8)) == a.totals["train_saved_bytes"]
    text = to_spec(trace(module, (3, 8, 8)), name="m")
    assert "{unfold: 3, s: 2, p: 1, name: unfold}" in text
    (tmp_path / "m.yaml").write_text(text)
    spec = archprof.analyze(str(tmp_path / "m.yaml"), batch=2, train=True)
    for key in ("params", "macs", "activations", "train_saved_bytes"):
        assert spec.totals[key] == a.totals[key], key
