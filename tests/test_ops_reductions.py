"""mean, vector_norm and clamp: the ops of x.mean(dims), F.normalize (Swin V2's cosine
attention) and torch.clamp, in specs and traced, against hand arithmetic, torch's shapes and
values, and FlopCounterMode."""
from __future__ import annotations

import import_models as im
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.errors import SpecError
from archprof.spec.load import _parse
from archprof.trace import trace
from archprof.trace.to_spec import to_spec


def test_spec_rows_shapes_and_other_ops(write_spec) -> None:  # noqa: ANN001
    """Input 4x6x6 (144 elements)."""
    rows = """
- {clamp: , min: 0, max: 6, name: clamp}
- {vector_norm: [0], keepdim: true, name: norm}
- {mean: [1, 2], name: mean, from: clamp}
"""
    a = archprof.analyze(str(write_spec(rows, input="[4, 6, 6]")))
    got = a.layers.set_index("name")
    assert got.at["clamp", "shape"] == "4x6x6" and got.at["clamp", "other_ops"] == 144
    # norm over the 4 channels, kept as 1: 2 ops (square, add) per input element, a square
    # root per output element
    assert got.at["norm", "shape"] == "1x6x6" and got.at["norm", "other_ops"] == 2 * 144 + 36
    assert got.at["mean", "shape"] == "4" and got.at["mean", "other_ops"] == 144
    assert got.at["norm", "rf"] == got.at["clamp", "rf"] and got.at["mean", "rf"] == "global"


def test_built_modules_compute_what_torch_does(write_spec) -> None:  # noqa: ANN001
    rows = """
- {clamp: , min: -0.5, name: clamp}
- {vector_norm: [-1], keepdim: true, name: norm}
- {expand: [3, 5], name: expand}
"""
    path = write_spec(rows, input="[3, 5]")
    x = torch.randn(2, 3, 5)
    norm = x.clamp(min=-0.5).pow(2).sum(-1, keepdim=True).sqrt()
    assert torch.allclose(archprof.build(str(path), device="cpu")(x), norm.expand(2, 3, 5))
    # the expand is a view: no memory; the norm 3 values, each 2*5 + 1 ops
    got = archprof.analyze(str(path)).layers.set_index("name")
    assert got.at["expand", "activations"] == 0 and got.at["expand", "shape"] == "3x5"
    assert got.at["norm", "activations"] == 3 and got.at["norm", "other_ops"] == 3 * (2 * 5 + 1)
    spec = str(write_spec("- {mean: [0, 2], keepdim: true}", input="[3, 4, 5]"))
    assert torch.allclose(archprof.build(spec, device="cpu")(x.new_ones(2, 3, 4, 5) * 2),
                          torch.full((2, 1, 4, 1), 2.0))


@pytest.mark.parametrize("row, message", [
    ("{mean: [0, 0]}", "names a dimension twice"),
    ("{mean: [0, 1, 2]}", "leaves none"),
    ("{vector_norm: [3]}", "dim 3 is out of range"),
    ("{clamp: }", "clamp needs min, max or both"),
    ("{expand: [4, 6, 7]}", "cannot expand 4x6x6 to 4x6x7"),
])
def test_bad_rows_are_spec_errors(write_spec, row: str, message: str) -> None:  # noqa: ANN001
    with pytest.raises(SpecError, match=message):
        archprof.analyze(str(write_spec(f"- {row}", input="[4, 6, 6]")))


def test_cosine_attention_traces_with_no_uncounted_op_and_imports() -> None:
    """F.normalize(t, dim=-1) on 4 tokens x 8: a vector norm (2*32 + 4 ops), clamp_min
    (4) and a division (32), for q and for k."""
    module = im.CosineAttention().to("meta")
    a = archprof.analyze(module, input=(4, 8))
    assert a.totals["uncounted_ops"] == {}
    kinds = a.layers.groupby("type")["other_ops"].sum()
    assert kinds["vector_norm"] == 2 * (2 * 32 + 4) and kinds["clamp"] == 2 * 4
    assert kinds["div"] == 2 * 32
    # q, k, v 3 * 4*8*8; q k^T 4*4*8; weights v 4*4*8
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.empty(1, 4, 8, device="meta"))
    assert a.totals["macs"] == counter.get_total_flops() // 2 == 3 * 256 + 128 + 128
    assert a.totals["params"] == sum(p.numel() for p in module.parameters()) == 3 * 72
    graph = trace(module, (4, 8))
    text = to_spec(graph)
    assert "{vector_norm: [-1], keepdim: true, name: normalize}" in text
    assert "{clamp: , min: 1.0e-12, name: normalize_1}" in text and "{expand: [4, 8]" in text
    spec = next(iter(_parse("<import>", text.encode()).values()))
    assert archprof.analyze(archprof.expand(spec)).totals == a.totals


def test_mean_without_keepdim_and_over_heads() -> None:
    """x.mean((2, 3)) of an 8x8x8 map: one add per element (512), 8 values out."""
    class Pool(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.relu(x).mean((2, 3))
    rows = archprof.analyze(Pool(), input=(8, 8, 8)).layers.set_index("name")
    assert rows.at["mean", "type"] == "mean" and rows.at["mean", "shape"] == "8"
    assert rows.at["mean", "other_ops"] == 512


def test_split_attention_sum_and_leaky_relu() -> None:
    """Input 4x6x6: conv 4 -> 8 (3x3, pad 1), leaky ReLU in place, the 2 branches of 4
    channels summed: one add per element of the 8x6x6 map (288)."""
    module = im.SplitAttention().to("meta")
    a = archprof.analyze(module, input=(4, 6, 6))
    rows = a.layers.set_index("name")
    assert rows.at["act", "type"] == "leaky_relu" and rows.at["act", "other_ops"] == 288
    assert rows.at["act", "activations"] == 0          # in place
    assert rows.at["sum", "shape"] == "4x6x6" and rows.at["sum", "other_ops"] == 288
    assert a.totals["uncounted_ops"] == {}
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.empty(1, 4, 6, 6, device="meta"))
    assert a.totals["macs"] == counter.get_total_flops() // 2 == 8 * 36 * 36
    text = to_spec(trace(module, (4, 6, 6)))
    assert "{leaky_relu: 0.1, name: act}" in text and "{sum: [0], name: sum}" in text
    spec = next(iter(_parse("<import>", text.encode()).values()))
    assert archprof.analyze(archprof.expand(spec)).totals == a.totals


def test_built_leaky_relu_and_sum(write_spec) -> None:  # noqa: ANN001
    path = write_spec("- {leaky_relu: 0.2}\n- {sum: [0], keepdim: true}", input="[3, 5]")
    x = torch.randn(2, 3, 5)
    assert torch.allclose(archprof.build(str(path), device="cpu")(x.clone()),
                          F.leaky_relu(x, 0.2).sum(1, keepdim=True))


def test_stack_of_branches() -> None:
    """SKNet on 4x6x6: the two 4x6x6 branches stacked (2x4x6x6, a copy: 288 elements, no
    arithmetic), summed (288 adds), weighted (288 multiplies) and summed again (288 adds)."""
    module = im.SelectiveKernel().to("meta")
    a = archprof.analyze(module, input=(4, 6, 6))
    rows = a.layers.set_index("name")
    assert rows.at["stack", "shape"] == "2x4x6x6" and rows.at["stack", "activations"] == 288
    assert rows.at["stack", "other_ops"] == 0 and a.totals["uncounted_ops"] == {}
    assert rows.loc[rows["type"] == "sum", "other_ops"].tolist() == [288, 288]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.empty(1, 4, 6, 6, device="meta"))
    # two 3x3 convs 4*36*36 each, the 1x1 attention conv 8*4
    assert a.totals["macs"] == counter.get_total_flops() // 2 == 2 * 4 * 36 * 36 + 8 * 4
    assert a.totals["params"] == sum(p.numel() for p in module.parameters())
    text = to_spec(trace(module, (4, 6, 6)))
    assert "{stack: [paths_0, paths_1], name: stack}" in text
    spec = next(iter(_parse("<import>", text.encode()).values()))
    assert archprof.analyze(archprof.expand(spec)).totals == a.totals
    built = archprof.build(spec, device="cpu")
    assert built(torch.randn(2, 4, 6, 6)).shape == (2, 4, 6, 6)


def test_addcmul_of_a_learned_scale_and_shift() -> None:
    """ResMLP's Affine on 5 tokens x 6: 2*6 params, a multiply and an add per element (60)."""
    module = im.AffineTokens().to("meta")
    a = archprof.analyze(module, input=(5, 6))
    rows = a.layers.set_index("name")
    assert rows.at["addcmul", "type"] == "scale_shift" and rows.at["addcmul", "params"] == 12
    assert rows.at["addcmul", "other_ops"] == 2 * 30 and a.totals["uncounted_ops"] == {}
    assert a.totals["params"] == sum(p.numel() for p in module.parameters()) == 12 + 42
    text = to_spec(trace(module, (5, 6)))
    assert "{scale_shift: [1, 1, 6], name: addcmul}" in text
    spec = next(iter(_parse("<import>", text.encode()).values()))
    assert archprof.analyze(archprof.expand(spec)).totals == a.totals
    built, x = archprof.build(spec, device="cpu"), torch.randn(2, 5, 6)
    affine = next(m for m in built.modules() if hasattr(m, "shift"))
    with torch.no_grad():
        affine.scale.fill_(2.0)
        affine.shift.fill_(0.5)
        assert torch.allclose(affine(x), 2 * x + 0.5)


def test_no_op_key_is_also_a_field_key() -> None:
    """A row is read by its one op key: an op named like another op's field (`affine` is
    layernorm's) would make `{layernorm: , affine: false}` a row of two ops."""
    from archprof.ir.ops import OPS
    from archprof.spec.fields import spec_fields
    keys = {key for cls in OPS.values() for _, key, _ in spec_fields(cls) if key != cls.kind}
    assert keys & set(OPS) == set()
