"""archprof.trace: any nn.Module -> the IR. Checked against the spec path (every zoo network
built as a module and traced equals its spec, layer by layer), against the module itself
(numel) and against torch's FlopCounterMode on the same module."""
from __future__ import annotations

import warnings

import pytest
import torch
import tracing_models as tm
from test_training import autograd_saved_bytes
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.errors import SpecError
from archprof.trace import DynamicControlFlow, trace

COLUMNS = ["shape", "params", "weights", "buffers", "macs", "other_ops", "activations", "rf",
           "jump"]
SUMMED = ["params", "weights", "buffers", "macs", "other_ops", "activations"]


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flop_counter_macs(module: nn.Module, input: tuple[int, ...]) -> int:
    """FlopCounterMode counts 2 FLOPs per multiply-accumulate of conv, linear, matmul and
    attention."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module.eval()(torch.empty(1, *input, device="meta"))
    return counter.get_total_flops() // 2


# --- round trip: spec -> module -> trace == spec ---------------------------------------------
@pytest.mark.parametrize("name", sorted(archprof.registry()))
def test_zoo_round_trip(name):
    spec = archprof.analyze(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DynamicControlFlow)   # the zoo has no control flow
        traced = archprof.analyze(archprof.build(spec.graph, device="meta"),
                                  input=spec.graph.input)
    rows = traced.layers.set_index("name")
    for _, row in spec.layers.iterrows():
        # a spec row is the traced row of the module it built, or the rows that module's
        # ATen ops made (named inside it)
        own = rows.index[(rows.index == row["name"]) | rows.index.str.startswith(row["name"] + ".")]
        assert len(own), f"{name}: no traced row for {row['name']}"
        got = rows.loc[own]
        for column in SUMMED:
            assert got[column].sum() == row[column], (name, row["name"], column)
        last = got.iloc[-1]
        for column in ("shape", "rf", "jump"):
            assert last[column] == row[column], (name, row["name"], column)
    assert len(rows) == len(spec.layers)
    for key in ("params", "buffers", "macs", "other_ops", "activations", "peak_activations"):
        assert traced.totals[key] == spec.totals[key], key
    assert traced.totals["uncounted_ops"] == {} == spec.totals["uncounted_ops"]


# --- against the module itself and FlopCounterMode -------------------------------------------
MODULES = {
    "resnet_like": (tm.TinyResNet, (3, 64, 64)),
    "layer_scale_and_unused_head": (tm.LayerScaled, (3, 16, 16)),
    "functional_only": (tm.FunctionalOnly, (3, 32, 32)),
    "transformer_block_sdpa": (tm.SDPABlock, (10, 32)),
    "vit_cls_token_pos_embed": (tm.TinyViT, (3, 32, 32)),
    "multihead_attention": (tm.MHAEncoder, (10, 32)),
    "convnext_block": (tm.ConvNeXtBlock, (16, 14, 14)),
    "se_depthwise_conv1d_conv3d": (tm.SEDepthwise, (8, 6, 6)),
    "upsampling_decoder": (tm.Decoder, (3, 40, 40)),
    "shared_and_tied_weights": (tm.SharedWeights, (3, 16, 16)),
}


@pytest.mark.parametrize("key", sorted(MODULES))
def test_params_numel_and_macs_flop_counter(key):
    make, input = MODULES[key]
    module = make()
    a = archprof.analyze(module, input=input)
    assert a.totals["params"] == numel(module)
    assert a.totals["macs"] == flop_counter_macs(module.to("meta"), input)
    assert a.totals["uncounted_ops"] == {}


def test_parameters_used_again_are_counted_once_their_work_every_time():
    """A conv and a BN module called three times and a tied weight: params and buffers are
    the module's (numel), MACs those of every call; training keeps one gradient and one
    optimizer state per parameter, and computes its weight gradient at every call."""
    module = tm.SharedWeights()
    a = archprof.analyze(module, input=(3, 16, 16), train=True)
    t = a.totals
    # stem 3*8 + 8; conv 8*8*9 + 8; BN 2*8 (+ 2*8 + 1 buffers); encode 8*8 + 8, decode's bias 8
    params = 32 + 584 + 16 + 72 + 8
    assert t["params"] == params == numel(module)
    assert t["buffers"] == 17 == sum(b.numel() for b in module.buffers())
    stem, conv, fc = 16 * 16 * 8 * 3, 16 * 16 * 8 * 8 * 9, 8 * 8
    assert t["macs"] == stem + 3 * conv + 2 * fc
    rows = a.layers.set_index("name")
    assert rows["params"].tolist().count(584) == 1      # the first call holds the conv's
    assert t["trainable_params"] == params
    assert t["train_grads_bytes"] == 4 * params and t["train_optimizer_bytes"] == 8 * params
    # backward: the stem's weight gradient (its input needs none), then each call of the conv
    # and of both linear layers computes an input and a weight gradient
    assert t["train_macs"] - t["macs"] == stem + 3 * 2 * conv + 2 * 2 * fc


def test_a_weight_made_from_parameters_counts_the_parameters_it_reads():
    """An op counts the parameters it reads, whatever its rule would count for its weight: a
    low-rank product a @ b (16x4 and 4x24, not a 16x24 weight), a buffer used as the weight
    (no parameters), a weight-normalised layer (its norm and direction, 8 + 64, and bias)."""
    module = tm.DerivedWeights()
    a = archprof.analyze(module, input=(10, 16), train=True)
    t = a.totals
    rows = a.layers.set_index("name")
    assert rows.at["matmul", "params"] == rows.at["matmul", "weights"] == 16 * 4 + 4 * 24
    assert rows.at["matmul_1", "params"] == 0
    assert t["params"] == 272 + 160 + (8 + 64 + 8) == numel(module)
    assert t["trainable_params"] == numel(module)
    # per token: fc 16*16, the product 16*24, the projection 24*8, the normalised layer 8*8;
    # a @ b runs once per forward on parameters alone (listed apart: constant work)
    per_sample = 10 * (16 * 16 + 16 * 24 + 24 * 8 + 8 * 8)
    assert t["macs"] == per_sample and t["constant_work"] == {"aten.mm": 1}
    with torch.device("meta"):
        on_meta = tm.DerivedWeights()
    assert flop_counter_macs(on_meta, (10, 16)) == per_sample + 16 * 4 * 24
    # a spec row would count 16*24 params for the product: import refuses it
    from archprof.trace.to_spec import to_spec
    with pytest.raises(SpecError, match=r"^matmul, matmul_1 read .* a weight made from other"):
        to_spec(trace(module, (10, 16)))


def test_attention_is_one_row_with_both_products():
    a = archprof.analyze(tm.SDPABlock(), input=(10, 32))
    rows = a.layers.set_index("name")
    # 4 heads of 8 dims over 10 tokens: q k^T and weights v, 10*10*8 MACs each per head
    assert rows.at["scaled_dot_product_attention", "macs"] == 4 * 10 * 10 * (8 + 8)
    assert rows.at["qkv", "macs"] == 10 * 32 * 96 and rows.at["qkv", "shape"] == "10x96"
    assert rows.at["scaled_dot_product_attention", "rf"] == "global"


def test_class_token_and_position_embedding_are_counted_once():
    module = tm.TinyViT()
    rows = archprof.analyze(module, input=(3, 32, 32)).layers.set_index("name")
    assert rows.at["cat", "params"] == 32 and rows.at["cat", "shape"] == "17x32"
    assert rows.at["add", "params"] == 17 * 32 and rows.at["add", "other_ops"] == 17 * 32
    assert rows["params"].sum() == numel(module)


def test_parameters_read_through_a_gather_get_a_row():
    module = tm.RelativeBias()
    a = archprof.analyze(module, input=(4, 8))
    rows = a.layers.set_index("name")
    # the 7-entry table becomes a 4x4 bias: one add per score, the table's 7 params in a row
    # of their own named by the parameter
    assert rows.at["table", "type"] == "param" and rows.at["table", "params"] == 7
    assert rows.at["add", "other_ops"] == 4 * 4 and rows.at["add", "params"] == 0
    assert rows.at["matmul", "macs"] == 4 * 4 * 8
    assert a.totals["params"] == numel(module) and a.totals["uncounted_ops"] == {}


def test_names_follow_module_paths():
    a = archprof.analyze(tm.TinyResNet(), input=(3, 64, 64))
    names = a.layers["name"].tolist()
    # a module called three times gets three rows; the functional residual add is named by the
    # block that calls it, plus the op
    assert names[:16] == [
        "conv1", "bn1", "relu", "maxpool", "layer1.0.downsample.0", "layer1.0.downsample.1",
        "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu", "layer1.0.conv2", "layer1.0.bn2",
        "layer1.0.relu_1", "layer1.0.conv3", "layer1.0.bn3", "layer1.0.add", "layer1.0.relu_2"]
    assert names[-3:] == ["avgpool", "flatten", "fc"]
    assert len(set(names)) == len(names)
    graph = a.graph
    assert graph.spec.title == "TinyResNet" and graph.spec.family == "traced"
    # in-place ops and views are marked as such: ReLU(inplace=True), `out += identity`, flatten
    assert graph.node("layer1.0.relu").inplace and graph.node("layer1.0.add").inplace
    assert graph.node("flatten").inplace and not graph.node("layer1.0.conv1").inplace


def test_parameters_read_as_data_and_never_read():
    module = tm.LayerScaled()
    a = archprof.analyze(module, input=(3, 16, 16))
    rows = a.layers.set_index("name")
    # x * gamma: one multiply per element of the 8x16x16 map, gamma's 8 parameters its own
    assert rows.at["mul", "params"] == 8 and rows.at["mul", "other_ops"] == 8 * 16 * 16
    # the aux head never runs: 8*4+4 + 4*16*16*10+10 parameters in one row, after the rest
    assert rows.at["aux", "params"] == (8 * 4 + 4) + (4 * 16 * 16 * 10 + 10)
    assert rows.at["aux", "macs"] == 0 and a.layers["name"].iloc[-1] == "aux"
    assert a.totals["params"] == numel(module)


def test_batch_scales_per_sample_counts():
    one = archprof.analyze(tm.TinyResNet(), input=(3, 64, 64))
    four = archprof.analyze(tm.TinyResNet(), input=(3, 64, 64), batch=4)
    assert four.totals["macs"] == 4 * one.totals["macs"]
    assert four.totals["params"] == one.totals["params"]
    assert four.layers["shape"].tolist() == one.layers["shape"].tolist()


def test_real_weights_are_not_touched():
    module = tm.TinyResNet()          # on the CPU, with initialised weights
    before = module.conv1.weight.detach().clone()
    graph = trace(module, (3, 64, 64))
    assert module.conv1.weight.device.type == "cpu" and torch.equal(module.conv1.weight, before)
    assert module.training            # eval() for the trace, then restored
    assert graph.node("conv1").out == (8, 32, 32)


def test_uncounted_ops_are_listed_and_strict_fails():
    a = archprof.analyze(tm.Uncountable(), input=(3, 8, 8))
    assert a.totals["uncounted_ops"] == {"aten.cumsum": 1}
    assert archprof.analyze("lenet5").totals["uncounted_ops"] == {}
    with pytest.raises(SpecError, match=r"aten.cumsum x1"):
        archprof.analyze(tm.Uncountable(), input=(3, 8, 8), strict=True)


def test_uncounted_ops_under_the_table(capsys):
    from archprof.cli.analysis import summary
    text = summary(archprof.analyze(tm.Uncountable(), input=(3, 8, 8)))
    assert "uncounted    1 op(s) with no rule" in text and "aten.cumsum x1" in text


def test_an_op_whose_rule_declines_its_arguments_is_listed_with_the_reason():
    """Ops that have rules, called as no rule counts them, are uncounted, each saying why; the
    rest is counted as before: conv 3->4, k3 on 12x12: 4*10*10 outputs x 27 = 10,800 MACs,
    4*27 + 4 = 112 params (and the uncounted norm's 2*4, in a row of their own)."""
    a = archprof.analyze(tm.Declined(), input=(3, 12, 12))
    assert (a.totals["macs"], a.totals["params"]) == (4 * 10 * 10 * 27, 4 * 27 + 4 + 2 * 4)
    assert a.totals["uncounted_ops"] == {
        "aten.linalg_vector_norm": 1, "aten.max_pool2d_with_indices": 1, "aten.mean": 1,
        "aten.native_batch_norm": 1}
    why = a.totals["uncounted_why"]
    assert why["aten.mean"].startswith("a reduction over the batch or the whole tensor")
    assert why["aten.max_pool2d_with_indices"] == "dilated max pooling"
    assert why["aten.linalg_vector_norm"].startswith("a vector norm of order 1;")
    assert why["aten.native_batch_norm"].startswith("batch statistics at inference")
    # an op with no rule at all has no reason to give
    assert archprof.analyze(tm.Uncountable(), input=(3, 8, 8)).totals["uncounted_why"] == {}
    with pytest.raises(SpecError, match=r"aten.max_pool2d_with_indices x1 \(dilated max "
                                        r"pooling\)"):
        archprof.analyze(tm.Declined(), input=(3, 12, 12), strict=True)


def test_a_map_padded_circularly_or_by_hand_stays_an_activation():
    """Circular padding is one row; a map assigned into part of torch.zeros makes that tensor
    an activation, by an op listed as uncounted with why. Before, both left the second conv
    reading a tensor the forward made, its work taken for constant work (0 MACs). conv1 3->4
    k3 on 8x8: 4*64*27 MACs; padded to 10x10, then 12x12; conv2 4->4 k3: 4*100*36."""
    module = tm.HandPadded()
    a = archprof.analyze(module, input=(3, 8, 8))
    assert a.totals["macs"] == 4 * 64 * 27 + 4 * 100 * 36
    assert flop_counter_macs(tm.HandPadded().to("meta"), (3, 8, 8)) == a.totals["macs"]
    assert archprof.analyze(module, input=(3, 8, 8), batch=3).totals["macs"] == \
        3 * a.totals["macs"]
    assert a.totals["constant_work"] == {} and a.totals["uncounted_ops"] == {"aten.copy_": 1}
    assert a.totals["uncounted_why"]["aten.copy_"].startswith("activation data written into")
    assert list(a.layers["shape"]) == ["4x8x8", "4x10x10", "4x12x12", "4x10x10"]
    assert list(a.layers["type"])[1] == "edgepad"


def test_slices_assigned_into_a_map_write_into_its_memory():
    """TSM's shift: the first slice assigned makes torch.zeros_like's tensor an activation,
    the next two write into it, in place. Activations at batch 2: the input, that tensor and
    the conv's output, 3 * 2 * 8x8x8 = 3,072 (the later two counted as copies before:
    3,808); saved bytes as autograd keeps them; MACs the conv's, 2 * 8*64 * 72."""
    module = tm.Shifted().train()
    a = archprof.analyze(module, input=(8, 8, 8), batch=2, train=True).totals
    assert a["activations"] == 3 * 2 * 512 and a["macs"] == 2 * 512 * 72
    assert a["train_saved_bytes"] == autograd_saved_bytes(module, torch.randn(2, 8, 8, 8))


def test_a_weight_on_the_left_of_a_matrix_product_is_a_linear_layer():
    """W @ x is a linear layer on x's second last dimension (transposed, multiplied, transposed
    back); before, it was listed as uncounted. On 3x8x8: the conv written out 64 positions *
    8 * 27; token mixing 8 features * 16 * 64; the adjacency 8 * 16 * 16 (a buffer: no params);
    the linear layer 16 * 8 * 4. Params numel, MACs FlopCounterMode's, at batch 3 three times;
    saved bytes autograd's, backward MACs FlopCounterMode's."""
    module = tm.LeftWeights()
    analysis = archprof.analyze(module, input=(3, 8, 8))
    a = analysis.totals
    assert a["uncounted_ops"] == {}
    # torch's matmul makes views it never reads: not outputs kept alive to the end, so the
    # peak is the unfold's 27x64 columns and the product's 8x64 together (2,560 before)
    assert analysis.graph.outputs == ["relu"]
    assert a["peak_activations"] == 27 * 64 + 8 * 64
    assert a["macs"] == 64 * 8 * 27 + 8 * 16 * 64 + 8 * 16 * 16 + 16 * 8 * 4
    assert a["params"] == numel(module) == 216 + 1024 + 16 + 36
    assert flop_counter_macs(tm.LeftWeights().to("meta"), (3, 8, 8)) == a["macs"]
    three = archprof.analyze(module, input=(3, 8, 8), batch=3, train=True).totals
    assert three["macs"] == 3 * a["macs"]
    # the adjacency is a buffer: no weight gradient, so its product keeps no input
    assert three["train_saved_bytes"] == autograd_saved_bytes(module.train(),
                                                              torch.randn(3, 3, 8, 8))
    with FlopCounterMode(display=False) as counter:
        module(torch.randn(3, 3, 8, 8)).sum().backward()
    assert counter.get_total_flops() // 2 == three["macs"] + three["backward_macs"]


def test_table_strict_exits_1_naming_the_uncounted_op():
    from click.testing import CliRunner

    from archprof.cli import main
    ref, args = "tests/tracing_models.py:Uncountable", ["--input", "3x8x8"]
    listed = CliRunner().invoke(main, ["table", ref, *args])
    assert listed.exit_code == 0 and "aten.cumsum x1" in listed.output
    # conv 3->4, k3 on 8x8: 4*6*6 outputs x 27 = 3,888 MACs still counted around the gap
    assert "3,888" in listed.output
    strict = CliRunner().invoke(main, ["table", ref, *args, "--strict"])
    assert strict.exit_code == 1
    assert "no rule counts 1 op(s): aten.cumsum x1" in strict.output
    declined = CliRunner().invoke(main, ["table", "tests/tracing_models.py:Declined",
                                         "--input", "3x12x12", "--strict"])
    assert declined.exit_code == 1 and len(declined.output.strip().splitlines()) == 1
    assert "aten.mean x1 (a reduction over the batch or the whole tensor" in declined.output


# --- dynamic control flow (issue 8, item 7) --------------------------------------------------
def test_data_dependent_branch_warns_naming_the_module():
    with pytest.warns(DynamicControlFlow, match=r"^gate: the forward reads a tensor's value"):
        archprof.analyze(tm.BranchOnValue(), input=(3, 8, 8))


def test_branch_on_input_size_warns_naming_the_module():
    # 64 wide: no extra conv; 128 wide (the size traced again): the extra conv runs
    with pytest.warns(DynamicControlFlow, match=r"^switch: the forward runs other ops at input "
                                                r"3x128x128 than at 3x64x64"):
        archprof.analyze(tm.BranchOnSize(), input=(3, 64, 64))


def test_export_failure_on_data_dependent_control_flow_names_the_module():
    with pytest.warns(DynamicControlFlow, match=r"^gate: torch.export failed on data-dependent "
                                                r"control flow"):
        graph = trace(tm.BranchOnValue(), (3, 8, 8), export=True)
    assert graph.node("conv").out == (4, 6, 6)      # the rows still come from the trace


def test_no_warning_without_control_flow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        archprof.analyze(tm.TinyResNet(), input=(3, 64, 64))


# --- bad input --------------------------------------------------------------------------------
def test_bad_input_is_one_spec_error():
    with pytest.raises(SpecError, match="expected a torch.nn.Module, got int"):
        trace(3)
    with pytest.raises(SpecError, match=r"TinyResNet: the forward failed on input 1x5x64x64: "):
        trace(tm.TinyResNet(), (5, 64, 64))
    with pytest.raises(SpecError, match=r"NeedsTwoInputs: the forward failed"):
        trace(tm.NeedsTwoInputs(), (3, 8, 8))
    with pytest.raises(SpecError, match="input must be positive integers"):
        trace(tm.TinyResNet(), (3, 0, 64))


def test_flop_counter_misses_fused_attention_on_cpu_tensors_archprof_does_not() -> None:
    """FlopCounterMode has no formula for the CPU flash kernel that
    F.scaled_dot_product_attention takes on real CPU tensors: it counts 0 for the attention
    there (on meta the math path runs and it counts both products). archprof counts
    heads * L * S * (E + Ev) either way. ViT-B/16's 12 layers: 12 heads * 197 * 197 * 128 each."""
    heads, tokens, e = 12, 197, 64

    class Attend(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.scaled_dot_product_attention(x, x, x)

    by_hand = heads * tokens * tokens * (e + e)          # q k^T, then weights v
    assert archprof.analyze(Attend(), input=(heads, tokens, e)).totals["macs"] == by_hand
    assert flop_counter_macs(Attend(), (heads, tokens, e)) == by_hand          # meta: math path
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        Attend()(torch.randn(1, heads, tokens, e))                             # CPU: fused kernel
    assert counter.get_total_flops() == 0


def test_flop_counter_misses_multihead_attention_on_cpu_tensors_archprof_does_not() -> None:
    """nn.MultiheadAttention on real CPU tensors: in eval mode without grad it runs its fast
    path, one op for which FlopCounterMode has no formula (0 counted, projections and all);
    with grad its projections are counted but not the fused attention. archprof counts all:
    projections in 50*32*96 and out 50*32*32, q k^T and weights v 50*50*32 each."""

    class SelfAttend(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(32, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    module = SelfAttend().eval()
    projections = 50 * 32 * 96 + 50 * 32 * 32
    by_hand = projections + 2 * 50 * 50 * 32
    assert archprof.analyze(module, input=(50, 32)).totals["macs"] == by_hand
    assert flop_counter_macs(SelfAttend().to("meta"), (50, 32)) == by_hand   # meta: all ops
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.randn(1, 50, 32))                                     # CPU: the fast path
    assert counter.get_total_flops() == 0
    with FlopCounterMode(display=False) as counter:
        module(torch.randn(1, 50, 32))                                     # fused attention
    assert counter.get_total_flops() // 2 == projections


class PositionBias(nn.Module):
    """A bias made from parameters alone on every forward (a 16x8 by 8x16 product, an MLP on a
    coordinate buffer, as Swin V2 and MaxViT make theirs), added to the tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Parameter(torch.randn(16, 8)), nn.Parameter(torch.randn(8, 16))
        self.mlp = nn.Linear(2, 4)
        self.register_buffer("coords", torch.randn(16, 2))
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x + self.a @ self.b) + self.mlp(self.coords).sum()


def test_work_on_parameters_alone_is_listed_apart_not_counted_per_sample() -> None:
    """It runs once per forward whatever the batch, so it is not in the per-sample MACs; it is
    listed (totals['constant_work'], a line under the table), never silently dropped.
    FlopCounterMode counts it at batch 1: 16*8*16 = 2,048 and 16*2*4 = 128 more than ours."""
    module = PositionBias()
    t = archprof.analyze(module, input=(16, 16)).totals
    assert t["macs"] == 16 * 16 * 16                           # fc on 16 tokens
    assert t["constant_work"] == {"Linear": 1, "aten.mm": 1}
    with torch.device("meta"):
        on_meta = PositionBias()
    assert flop_counter_macs(on_meta, (16, 16)) == t["macs"] + 16 * 8 * 16 + 16 * 2 * 4
    assert t["params"] == sum(p.numel() for p in module.parameters())
    assert archprof.analyze(nn.Conv2d(3, 4, 3), input=(3, 8, 8)).totals["constant_work"] == {}


def test_the_cli_prints_a_control_flow_warning_as_one_line():
    from pathlib import Path

    from click.testing import CliRunner

    from archprof.cli import main
    models = Path(__file__).with_name("tracing_models.py")
    result = CliRunner().invoke(main, ["table", f"{models}:BranchOnValue", "--input", "3x8x8"])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "tensor's value" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: gate: the forward reads")
    assert "UserWarning" not in result.output and "graph.py" not in result.output
