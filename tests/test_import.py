"""`archprof import`: a graph written as a spec that expands to the same graph, op for op, and
reads like a hand-written spec (blocks, repeat, names from module paths); and the one-line
errors for every way a MODULE:CALLABLE can go wrong."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import import_models as im
import pytest
import torch
import tracing_models as tm
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.analysis import analyze
from archprof.cli import main
from archprof.errors import SpecError
from archprof.ir.graph import INPUT, Graph, Node, mark_inplace
from archprof.ir.ops import OPS, Op, Shape, spec_field
from archprof.spec.load import _parse
from archprof.trace import trace
from archprof.trace.to_spec import to_spec

COLUMNS = ["type", "layer", "shape", "params", "weights", "buffers", "macs", "other_ops",
           "activations", "rf", "jump"]
RESNET = "tests/torch_resnets.py:resnet50_v15"


def reloaded(text: str) -> Graph:
    return archprof.expand(next(iter(_parse("<test>", text.encode()).values())))


def assert_same_analysis(graph: Graph, text: str) -> None:
    """The spec's analysis equals the graph's, row by row and in total."""
    a, b = analyze(graph), analyze(reloaded(text))
    assert a.layers[COLUMNS].to_dict("records") == b.layers[COLUMNS].to_dict("records")
    work = a.totals.pop("constant_work")     # a spec has no rows for it: its notes say it
    assert b.totals.pop("constant_work") == {}
    assert a.totals == b.totals
    assert all(f"{op} x{n}" in reloaded(text).spec.notes for op, n in work.items())


@pytest.mark.parametrize("name", sorted(archprof.registry()))
def test_every_zoo_spec_round_trips(name: str) -> None:
    graph = archprof.expand(name)
    assert_same_analysis(graph, to_spec(graph))


@pytest.mark.parametrize("name", sorted(archprof.registry()))
def test_every_zoo_model_built_traced_and_imported_re_analyses_the_same(name: str) -> None:
    """`archprof import` of each zoo network built as a torch module (on meta): the spec it
    writes analyses, op by op, as the traced module does."""
    spec = archprof.load_spec(name)
    graph = trace(archprof.build(spec, device="meta"), archprof.expand(spec).input)
    assert_same_analysis(graph, to_spec(graph))


def test_resnet50_stages_are_repeats_with_a_different_first_block() -> None:
    text = to_spec(archprof.expand("resnet50"))
    # conv3_x to conv5_x differ in their widths only: one block with args; conv2_x's first
    # block does not stride
    stages = re.findall(r"\{block: (\w+), (?:conv1_out: (\d+), conv3_out: (\d+), )?"
                        r"repeat: (\d+), name: (\w+)", text)
    assert stages == [("conv2_x", "", "", "3", "conv2_x"), ("conv_x", "128", "512", "4", "conv3_x"),
                      ("conv_x", "256", "1024", "6", "conv4_x"),
                      ("conv_x", "512", "2048", "3", "conv5_x")]
    # the first block strides on its first 1x1 conv and projects its shortcut
    assert '{conv: conv1_out, k: 1, s: "2 if first else 1", bn: true, act: relu, name: conv1}' \
        in text
    assert "{add: [conv3, add_proj], name: add, if: first}" in text
    assert '{add: [conv3, in], name: add, if: "not first"}' in text
    # written once: 2 stage blocks + stem + head, 44 lines for 175 ops
    assert len(archprof.expand("resnet50").nodes) == 175 and len(text.splitlines()) == 44
    assert_same_analysis(archprof.expand("resnet50"), text)


def test_stages_differing_in_width_are_one_block_with_args() -> None:
    """torchvision's ResNet-50 (v1.5, tests/torch_resnets.py): layer2-4 are one block whose
    widths are args, the downsample inside it gets its width from them; the spec still
    re-analyses op by op as the module."""
    from torch_resnets import resnet50_v15

    module = resnet50_v15()
    graph = trace(module.to("meta"), (3, 224, 224))
    text = to_spec(graph)
    assert_same_analysis(graph, text)
    for c, n, name in [(128, 4, "layer2"), (256, 6, "layer3"), (512, 3, "layer4")]:
        assert f"{{block: layer, conv1_out: {c}, conv3_out: {4 * c}, repeat: {n}, " \
               f"name: {name}}}" in text
    assert "args: {conv1_out: , conv3_out: }" in text
    assert "{block: layer_block_downsample, conv1_out: conv3_out, from: in" in text
    # the module's numel (torchvision documents 25,557,032 for its resnet50)
    assert analyze(reloaded(text)).totals["params"] == sum(
        p.numel() for p in module.parameters()) == 25_557_032


def numbered(path: str, kinds: dict[str, str]) -> str:
    """The naming rule of archprof.trace.to_spec, written out: an index k of a Sequential is
    `block{k+1}` for a scope, `{op}{k+1}` for an op."""
    parts = path.split(".")
    out = []
    for depth, part in enumerate(parts):
        if part.isdigit():
            leaf = depth == len(parts) - 1
            part = f"{kinds[path] if leaf else 'block'}{int(part) + 1}"
        out.append(part)
    return ".".join(out)


def test_names_follow_module_paths() -> None:
    """A graph named by module paths (numbers as nn.Sequential writes them) keeps its names,
    each index k written as block{k+1} or {op}{k+1}, as a spec's repeat names them."""
    graph = archprof.expand("vgg11")       # rename its nodes as torchvision's VGG has them
    renamed = Graph(graph.spec, graph.input, graph.params)
    names = {INPUT: INPUT}
    for t, node in enumerate(graph.nodes):
        names[node.name] = f"features.{t}" if t < len(graph.nodes) - 7 else f"classifier.{t}"
        renamed.add(Node(names[node.name], node.op, [names[i] for i in node.inputs],
                         node.ins, node.out))
    mark_inplace(renamed)
    text = to_spec(renamed)
    kinds = {n.name: n.op.kind for n in renamed.nodes}
    assert [n.name for n in reloaded(text).nodes] == [numbered(n.name, kinds)
                                                      for n in renamed.nodes]
    assert "features.conv1" in [numbered(n.name, kinds) for n in renamed.nodes]
    assert_same_analysis(renamed, text)


@dataclass(kw_only=True)
class Stretch(Op):
    """An op this test makes up: its fields are written from their spec_field markers alone."""
    kind: ClassVar[str] = "stretch"
    head: ClassVar[str] = "factor"
    factor: int | tuple[int, int] = spec_field("sizes")
    gain: float = spec_field("number", 1.0)
    keep: bool = spec_field("boolean", True)

    def shape(self, ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        fh, fw = self.factor if isinstance(self.factor, tuple) else (self.factor,) * 2
        return (c, h * fh, w * fw)


def test_a_new_op_is_written_from_its_spec_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OPS, "stretch", Stretch)
    graph = Graph(archprof.load_spec("lenet5"), (1, 4, 4), {})
    for name, op in [("up", Stretch(factor=(2, 3), gain=0.5)), ("same", Stretch(factor=(2, 2))),
                     ("off", Stretch(factor=(1, 1), keep=False))]:
        inputs = [graph.nodes[-1].name] if graph.nodes else [INPUT]
        ins = [graph.shape_of(inputs[0])]
        graph.add(Node(name, op, inputs, ins, op.shape(ins)))
    text = to_spec(graph)
    assert "{stretch: [2, 3], gain: 0.5, name: up}" in text
    assert "{stretch: 2, name: same}" in text             # a pair of equal values: one number
    assert '{stretch: 1, keep: false, name: "off"}' in text   # defaults left out, others written
    assert [n.op for n in reloaded(text).nodes] == [Stretch(factor=(2, 3), gain=0.5),
                                                    Stretch(factor=2), Stretch(factor=1, keep=False)]
    assert reloaded(text).nodes[-1].out == (1, 4 * 2 * 2, 4 * 3 * 2)


def test_an_op_without_a_spec_form_is_named() -> None:
    @dataclass(kw_only=True)
    class Unwritable(Op):
        kind: ClassVar[str] = "unwritable"

    graph = Graph(archprof.load_spec("lenet5"), (1, 4, 4), {})
    graph.add(Node("head.odd", Unwritable(), [INPUT], [(1, 4, 4)], (1, 4, 4)))
    with pytest.raises(SpecError, match="node 'head.odd': op 'unwritable' cannot be written"):
        to_spec(graph)



def test_an_op_no_rule_counts_is_named_by_its_aten_name() -> None:
    graph = trace(tm.Uncountable(), (3, 8, 8))
    with pytest.raises(SpecError, match=r"node 'cumsum': op aten.cumsum, which no rule counts, "
                                        r"cannot be written in a spec"):
        to_spec(graph)


# --- MODULE:CALLABLE that go wrong: one line, exit status 2 ------------------------------------
@pytest.mark.parametrize("ref, message", [
    ("nosuch.nets:build", "unknown module 'nosuch.nets' (no module named 'nosuch')"),
    ("tests/nosuch.py:build", "no file 'tests/nosuch.py'"),
    ("tests/bad_models.py:biuld", "tests/bad_models.py has no attribute 'biuld'"),
    ("tests/bad_models.py:raises",
     "tests/bad_models.py:raises() raised ValueError: width must be even, got 3"),
    ("tests/bad_models.py:not_a_module",
     "tests/bad_models.py:not_a_module returned int, not a torch.nn.Module"),
    ("tests/bad_models.py:needs_mask",
     "tests/bad_models.py:needs_mask: Masked.forward(x, mask) needs 2 arguments; archprof "
     "passes one input tensor"),
    ("tests/bad_models.py:takes_dict",
     "tests/bad_models.py:takes_dict: Batched.forward(batch) takes 'batch: dict', not a tensor"),
])
def test_bad_callables_are_one_line_exit_2(ref: str, message: str) -> None:
    result = CliRunner().invoke(main, ["table", ref])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {message}")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_an_input_the_model_rejects_names_the_module_path() -> None:
    result = CliRunner().invoke(main, ["table", "tests/bad_models.py:flat_input"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    # Sequential(Identity, Sequential(Head)): Head's fc, 10 features, gets 3x224x224
    assert result.output.startswith("error: tests/bad_models.py:flat_input, module 1.0.fc: ")
    assert "1x3x224x224" in result.output


def test_bad_callable_arguments_are_one_line_exit_2() -> None:
    result = CliRunner().invoke(main, ["table", "tests/bad_models.py:raises", "--param", "width=5"])
    assert (result.exit_code, result.output) == (
        2, "error: tests/bad_models.py:raises(width=5) raised ValueError: width must be even, "
           "got 5\n")
    result = CliRunner().invoke(main, ["table", "tests/bad_models.py:raises", "--param", "depth=5"])
    assert result.exit_code == 2 and "unexpected keyword argument 'depth'" in result.output


def test_inplace_rows_set_memory_sharing(write_spec) -> None:  # noqa: ANN001
    """`inplace:` writes what a trace saw: torch.relu(x) gets memory of its own, `x += y`
    overwrites x. Input 4x8x8 = 256 elements per tensor."""
    rows = """
- {conv: 4, k: 3, p: 1, name: conv}
- {relu: , name: relu, inplace: %s}
- {add: [relu, conv], name: add, inplace: %s}
- {relu: , name: relu2}
"""
    def activations(relu: str, add: str) -> list[int]:
        path = write_spec(rows % (relu, add), input="[4, 8, 8]")
        return analyze(str(path)).layers["activations"].tolist()
    # by the rule: relu's input (conv) is read again by add: it gets memory; add has its own;
    # relu2 overwrites add's output (read by no one else)
    assert activations("null", "null") == [256, 256, 256, 0]
    assert activations("true", "false") == [256, 0, 256, 0]
    # add overwrites relu's output, which relu keeps for its backward: relu2 does not
    # overwrite that memory again (mark_inplace)
    assert activations("false", "true") == [256, 256, 0, 256]
    path = write_spec("- {conv: 4, k: 3, s: 2, name: conv, inplace: true}", input="[4, 8, 8]")
    with pytest.raises(SpecError, match="conv: inplace: true needs an output as large as its input"):
        analyze(str(path))


def table_csv(*args: str) -> list[dict[str, str]]:
    import csv
    import io
    result = CliRunner().invoke(main, ["table", *args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


@pytest.mark.parametrize("ref, input", [(RESNET, "3x224x224"),
                                        ("docs/examples/mynet.py:build", "3x32x32")])
def test_import_cli_reproduces_the_module_layer_by_layer(ref: str, input: str, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "net.yaml"
    result = CliRunner().invoke(main, ["import", ref, "--input", input, "-o", str(out)])
    assert result.exit_code == 0, result.output
    module, spec = table_csv(ref, "--input", input), table_csv(str(out))
    kinds = {row["name"]: row["type"] for row in module}
    assert [row["name"] for row in spec] == [numbered(row["name"], kinds) for row in module]
    drop = lambda rows: [{k: v for k, v in r.items() if k != "name"} for r in rows]  # noqa: E731
    assert drop(spec) == drop(module)


def test_the_network_name_is_taken_as_given_or_refused(tmp_path) -> None:  # noqa: ANN001
    ref = "docs/examples/mynet.py:build"
    out = tmp_path / "net.yaml"
    result = CliRunner().invoke(main, ["import", ref, "--input", "3x32x32", "--network",
                                       "my net", "-o", str(out)])
    assert result.exit_code == 2 and "--network" in result.output and "'my net'" in result.output
    assert not out.exists()
    result = CliRunner().invoke(main, ["import", ref, "--input", "3x32x32", "--network",
                                       "my_net2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert table_csv(f"{out}:my_net2") == table_csv(str(out))


def test_a_module_sharing_parameters_between_ops_is_not_written() -> None:
    """SharedWeights calls one conv and one BN three times and ties a weight: a spec would
    count them at every row, so import refuses and names the rows that read parameters
    counted before."""
    import tracing_models as tm
    graph = trace(tm.SharedWeights(), (3, 8, 8))
    assert analyze(graph).totals["params"] == sum(p.numel() for p in tm.SharedWeights().parameters())
    with pytest.raises(SpecError, match=r"conv_1, bn_1, conv_2 \.\.\. read parameters an "
                                        "earlier op counted"):
        to_spec(graph)


def test_a_repeat_never_takes_a_name_used_before_it() -> None:
    """features.0 is written `block1`; features.1 holds two equal blocks, which a repeat would
    name block1 and block2 in a scope that already sees features' block1 (torchvision's
    ConvNeXt and EfficientNet are built so): they are written one by one."""
    from torch import nn

    def unit() -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 1)), nn.Sequential(unit(), unit()))
    graph = trace(model.to("meta"), (3, 8, 8))
    text = to_spec(graph)
    assert "repeat" not in text
    assert_same_analysis(graph, text)
    # 1x1 conv 3 -> 8 (24 + 8 params), two 3x3 convs 8 -> 8 (576 + 8 each)
    assert analyze(reloaded(text)).totals["params"] == 3 * 8 + 8 + 2 * (9 * 8 * 8 + 8)


# --- torchvision patterns that import once refused (tests/import_models.py) -------------------
def flop_counter_macs(module: torch.nn.Module, input: tuple[int, ...]) -> int:
    """torch's FlopCounterMode on the same module: 2 FLOPs per multiply-accumulate."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module.eval()(torch.empty(1, *input, device="meta"))
    return counter.get_total_flops() // 2


def imported(module: torch.nn.Module, input: tuple[int, ...],
             constant_macs: int = 0) -> tuple[Graph, str]:
    """The traced graph and the spec `archprof import` writes of it, which must re-analyse
    the same, row by row; params equal numel and MACs FlopCounterMode's count / 2, less
    `constant_macs`: work on parameters and buffers alone (the same for every input), which
    FlopCounterMode counts and archprof does not."""
    graph = trace(module.to("meta"), input)
    text = to_spec(graph)
    assert_same_analysis(graph, text)
    totals = analyze(reloaded(text)).totals
    assert totals["params"] == sum(p.numel() for p in module.parameters())
    assert totals["macs"] == flop_counter_macs(module, input) - constant_macs
    assert totals["uncounted_ops"] == {}
    return graph, text


def test_vit_patch_flattening_and_batch_first_attention_import() -> None:
    """torchvision's ViT: x.reshape(n, hidden, -1) and nn.MultiheadAttention(batch_first=True)
    whose transposes move the batch dimension (per sample: reshapes, each reproducing its
    traced shape)."""
    module = im.TorchViT()
    graph, text = imported(module, (3, 32, 32))
    assert graph.node("reshape").out == (16, 16)      # 16 channels x (4*4 patches)
    # conv 16*3*8*8 + 16, class token 16, position embedding 17*16, attention in (48*16 + 48)
    # and out (16*16 + 16), layer norm 2*16, head 16*10 + 10
    assert analyze(reloaded(text)).totals["params"] == (
        3088 + 16 + 272 + (768 + 48) + 272 + 32 + 170)
    # conv 16 patches * 16 * (3*8*8); q, k, v 17*16*48; q k^T and weights v per head
    # 4 * 17*17*4 each; out 17*16*16; head 16*10
    assert analyze(reloaded(text)).totals["macs"] == (
        16 * 16 * 192 + 17 * 16 * 48 + 2 * 4 * 17 * 17 * 4 + 17 * 16 * 16 + 160)
    # need_weights=True: the attention weights averaged over the 4 heads, a `mean` row
    graph, text = imported(tm.MHAEncoder(), (10, 32))
    assert "{mean: [0], name: attn_multi_head_attention_forward_8}" in text


def test_a_weight_expanded_over_a_bmm_is_a_linear_layer() -> None:
    """A transposed token view into nn.MultiheadAttention: the input projection runs as a bmm
    of the tokens by the weight expanded over them (stride 0), counted as the linear layer it
    is, not left uncounted; so are a channels-last matmul by a weight and an einsum's."""
    x = torch.zeros(1, 16, 64).transpose(1, 2).transpose(0, 1)   # (64, 1, 16), a view
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.linear(x, torch.zeros(48, 16))
    assert list(counter.get_flop_counts()["Global"]) == [torch.ops.aten.bmm]
    module = im.TransposedTokens()
    graph, text = imported(module, (3, 32, 32))
    # patch conv 16*(3*4*4) + 16; projections in 48*16 + 48 and out 16*16 + 16
    assert analyze(graph).totals["params"] == 784 + 816 + 272
    # patch conv 64 patches * 16 * 48; q, k, v 64 tokens * 16 * 48; q k^T and weights v per
    # head 2 * 64*64*8 each; out 64*16*16
    assert analyze(graph).totals["macs"] == (
        64 * 16 * 48 + 64 * 16 * 48 + 2 * 2 * 64 * 64 * 8 + 64 * 16 * 16)
    graph, text = imported(im.ChannelsLastWeights(), (3, 32, 32))
    # patch conv 784; w 16*24 and q 24*24, each counted by its product
    assert analyze(graph).totals["params"] == 784 + 384 + 576
    assert [n.op.kind for n in graph.nodes].count("linear") == 2
    # patch conv 64 * 16 * 48; then 64 positions * 16 * 24 and 64 * 24 * 24
    assert analyze(graph).totals["macs"] == 64 * 16 * 48 + 64 * 16 * 24 + 64 * 24 * 24


@pytest.mark.parametrize("make", [im.TorchViT, im.TransposedTokens, im.ChannelsLastWeights])
def test_a_batch_not_in_front_is_counted_per_sample_at_any_batch(make: type) -> None:
    """nn.MultiheadAttention(batch_first=True) moves the batch dimension away from the front,
    where a batch of 3 samples of 17 tokens could not be told from the tokens: the trace runs
    one sample, and a batch scales its counts as FlopCounterMode's on that batch."""
    module = make().to("meta")
    one = analyze(module, input=(3, 32, 32)).totals
    three = analyze(module, input=(3, 32, 32), batch=3).totals
    for key in ("macs", "other_ops", "activations", "peak_activations"):
        assert three[key] == 3 * one[key], key
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module.eval()(torch.empty(3, 3, 32, 32, device="meta"))
    assert three["macs"] == counter.get_total_flops() // 2
    assert three["uncounted_ops"] == {}


def test_pads_are_written_as_traced() -> None:
    """F.pad's (1, 1, 1, 1) pads two dimensions; a spelling with fewer items pads fewer
    (`pad: 1` is (1, 1): the last dimension only), so pads are written whole."""
    from torch import nn

    class Padded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(torch.nn.functional.pad(x, (1, 1, 1, 1)))

    graph, text = imported(Padded(), (3, 8, 8))
    assert "{pad: [1, 1, 1, 1], name: pad}" in text
    assert graph.node("conv").out == (4, 8, 8)


def test_a_concat_of_one_tensor_is_a_copy() -> None:
    """DenseNet's first dense layer concatenates a list of one: torch.cat copies it."""
    x = torch.zeros(1, 2, 3)
    assert torch.cat([x], 1).data_ptr() != x.data_ptr()     # a copy, not a view
    module = im.DenseNet()
    graph, text = imported(module, (3, 8, 8))
    assert "{concat: [in], name: cat}" in text
    rows = analyze(reloaded(text)).layers.set_index("name")
    # the copy: 8 channels x 8 x 8 = 512 elements, no arithmetic
    assert rows.at["layers_0.cat", "activations"] == 8 * 8 * 8
    assert rows.at["layers_0.cat", "other_ops"] == 0
    # stem 8*3*9 + 8; norms 2*8 and 2*12; convs 4*8*9 and 4*12*9, no bias
    assert analyze(reloaded(text)).totals["params"] == 224 + 16 + 288 + 24 + 432
    # stem 8*64*27, then 4*64*(8*9) and 4*64*(12*9)
    assert analyze(reloaded(text)).totals["macs"] == 8 * 64 * 27 + 4 * 64 * 72 + 4 * 64 * 108


def test_heads_that_never_run_import_as_param_rows() -> None:
    """GoogLeNet's auxiliary heads in eval mode: their parameters a row each, counted."""
    _, text = imported(im.AuxHeads(), (3, 8, 8))
    # aux1: a linear 32 -> 10 (330), aux2: 8 -> 10 (90), flat counts
    assert "{param: 330, used: false, tensor: 330, name: aux1}" in text
    assert "{param: 90, used: false, tensor: 90, from: fc, name: aux2}" in text
    imported(tm.LayerScaled(), (3, 16, 16))


def test_a_gathered_bias_broadcast_over_heads_imports() -> None:
    """Swin's bias table: the param row stands for the gathered 1 x L x L bias that the
    add broadcasts over 2 heads x L x L scores."""
    graph, text = imported(im.HeadBias(), (4, 8))
    assert "{param: 7, tensor: [1, 4, 4], name: table}" in text
    rows = analyze(reloaded(text)).layers.set_index("name")
    # 7 table entries; one add per score: 2 heads x 4 x 4
    assert rows.at["table", "params"] == 7 and rows.at["add", "other_ops"] == 2 * 4 * 4


def test_a_mask_built_by_the_forward_is_a_constant_operand() -> None:
    """Swin's shifted-window mask: an operand of the add that is neither an activation nor
    learned: `constant:`, no params, one add per score (2 heads x 4 x 4)."""
    module = im.MaskedWindows()
    _, text = imported(module, (4, 8))
    assert "{add: [_unsafe_view], constant: [1, 4, 4], name: add}" in text
    rows = analyze(reloaded(text)).layers.set_index("name")
    assert rows.at["add", "other_ops"] == 2 * 4 * 4 and rows.at["add", "params"] == 0
    # the spec builds into a module that runs: torch's shape for the same input
    built = archprof.build(next(iter(_parse("<test>", text.encode()).values())), device="cpu")
    assert built(torch.randn(3, 4, 8)).shape == im.MaskedWindows()(torch.randn(3, 4, 8)).shape


def test_a_module_run_on_constants_is_a_used_param_row() -> None:
    """The position-bias MLP reads no activation: its parameters (2*16 + 16 + 16*2) are read
    through its output, a used `param` row standing for the 2 x 4 x 4 bias. Its MACs are
    not archprof's (per sample, from the input): FlopCounterMode's count has them."""
    module = im.BiasMLP()
    # the MLP on the 4 x 4 coordinates: 16 * (2*16 + 16*2) MACs, input-independent
    _, text = imported(module, (4, 8), constant_macs=16 * (2 * 16 + 16 * 2))
    assert "{param: 80, name: weight}" in text       # the row of cpb_mlp.2.weight
    rows = analyze(reloaded(text)).layers.set_index("name")
    row = rows.loc["cpb_mlp.block3.weight"]
    assert row["type"] == "param" and row["shape"] == "2x4x4"  # not "param (not run)"


def test_a_reshape_to_equal_sizes_keeps_them_all() -> None:
    """x.reshape(n, 4, 4, 4): the spec says [4, 4, 4] (a kernel's [3, 3] may be 3; a shape
    may not)."""
    class Cube(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], 4, 4, 4) * 2
    graph, text = imported(Cube(), (4, 16))
    assert "{reshape: [4, 4, 4], name: reshape}" in text


def test_a_batch_norm_of_tokens_folded_with_the_batch_counts_its_channels() -> None:
    """LeViT: BatchNorm1d(6) on (B*5, 6) is 6 channels (2*6 params, 2*6 + 1 buffer elements),
    not 5: the tokens are transposed to channels first, normalised, transposed back; one
    multiply and one add per element (2 * 5*6)."""
    module = im.LinearNorm()
    graph, text = imported(module, (5, 8))
    rows = analyze(reloaded(text)).layers.set_index("name")
    norm = rows.loc[rows["type"] == "bn"].iloc[0]
    assert (norm["params"], norm["buffers"], norm["other_ops"]) == (12, 13, 60)
    assert norm["shape"] == "6x5"
    assert analyze(graph).totals["buffers"] == sum(b.numel() for b in module.buffers()) == 13


def test_a_bias_made_of_parameters_and_a_buffer_counts_the_parameters_only() -> None:
    """BEiT: a 4 -> 12 linear (48 weights) whose bias is q (4 learned), k (4 zeros, a
    buffer), v (4 learned): 56 params, not 48 + 12; one bias add per output (3 tokens x 12)."""
    module = im.SplitBias()
    graph, text = imported(module, (3, 4))
    totals = analyze(graph).totals
    assert totals["params"] == sum(p.numel() for p in module.parameters()) == 48 + 8
    rows = analyze(reloaded(text)).layers.set_index("name")
    assert rows.loc[rows["type"] == "add", "other_ops"].sum() == 3 * 12
    assert rows.loc[rows["type"] == "linear", "macs"].sum() == 3 * 4 * 12
