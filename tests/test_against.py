"""`archprof check SPEC --against MODULE:CALLABLE` on a real pair: archprof's resnet50 is the
paper's v1 (stride on the first 1x1 conv of a bottleneck); the PyTorch implementation in
tests/torch_resnets.py, written as torchvision writes it, is "v1.5" (stride on the 3x3)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from archprof.cli import main
from archprof.source import load_module

V15 = "tests/torch_resnets.py:resnet50_v15"


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.output.splitlines()


def test_v1_spec_against_v15_module_names_the_first_strided_conv1() -> None:
    code, lines = run("resnet50", "--against", V15)
    assert code == 1
    # stem conv + bn, then 3 blocks of conv2_x: 3 convs + 3 BNs each, plus the first block's
    # projection conv + BN: 2 + 3 * 6 + 2 = 22 layers match; the 23rd is conv3_x's first conv1
    assert lines[0] == f"FAIL resnet50 vs {V15}: weighted layer 23 differs (output shape, MACs)"
    spec, module = lines[1].split(), lines[2].split()
    assert spec[:2] == ["spec", "conv3_x.block1.conv1.conv"]
    assert module[:2] == ["module", "layer2.0.conv1"]
    # 1x1 conv 256 -> 128 (32,768 weights) at stride 2 (v1: 28x28) or stride 1 (v1.5: 56x56)
    assert spec[spec.index("out") + 1] == "128x28x28"
    assert module[module.index("out") + 1] == "128x56x56"
    assert spec[spec.index("params") + 1] == module[module.index("params") + 1] == f"{256 * 128:,}"
    assert spec[-1] == f"{28 * 28 * 128 * 256:,}" and module[-1] == f"{56 * 56 * 128 * 256:,}"
    assert "conv2_x.block3.conv3.bn = layer1.2.bn3" in lines[3]


def test_stride_on_the_3x3_matches_v15() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = load_module(V15)
    numel = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.device("meta"):
        model.to("meta")(torch.zeros(1, 3, 224, 224))
    macs = counter.get_total_flops() // 2        # it counts 2 FLOPs per multiply-accumulate
    assert (numel, macs) == (25_557_032, 4_089_184_256)   # torchvision: 25.6M params, 4.09 GMACs
    code, lines = run("resnet50", "--param", "stride_in_1x1=false", "--against", V15)
    assert code == 0
    # 53 convs (49 + 4 projections), each with its BN, and the fc
    assert lines == [f"ok   resnet50 matches {V15}: {2 * 53 + 1} weighted layers in order "
                     f"(output shape, params, MACs); params {numel:,}, MACs {macs:,}"]


def test_resnet34_fails_at_its_first_block() -> None:
    code, lines = run("resnet50", "--against", "tests/torch_resnets.py:resnet34")
    assert code == 1
    # stem conv and BN agree; then a bottleneck's 1x1 conv (64*64 weights) meets a basic
    # block's 3x3 (3*3*64*64)
    assert lines[0].endswith("weighted layer 3 differs (layer type, params, MACs)")
    assert f"{64 * 64:,}" in lines[1] and f"{3 * 3 * 64 * 64:,}" in lines[2]


def test_names_do_not_matter() -> None:
    """archprof's own module (names conv2_x.block1.conv1.conv, ...) against the torchvision-
    style one: compared by order, they match."""
    code, lines = run("resnet50", "--param", "stride_in_1x1=false", "--against",
                      "tests/torch_resnets.py:archprof_resnet50_v15")
    assert code == 0, lines


@pytest.mark.parametrize("args, message", [
    (["resnet50", "vgg16", "--against", V15], "--against compares one spec: name exactly one"),
    (["resnet50", "--against", "tests/bad_models.py:raises"],
     "tests/bad_models.py:raises() raised ValueError: width must be even, got 3"),
    (["resnet50", "--against", "tests/bad_models.py:needs_mask"],
     "tests/bad_models.py:needs_mask: Masked.forward(x, mask) needs 2 arguments"),
])
def test_against_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}") and result.output.count("\n") == 1


def test_a_layer_missing_on_one_side_says_how_many_each_has(write_spec) -> None:  # noqa: ANN001
    from archprof import analyze
    from archprof.check import check_against, describe_against
    three = write_spec("- {conv: 4, k: 3, p: 1}\n- {conv: 4, k: 3, p: 1}\n- {conv: 8, k: 1}",
                       name="three")
    two = write_spec("- {conv: 4, k: 3, p: 1}\n- {conv: 8, k: 1}", name="two")
    lines = describe_against(check_against(analyze(three), analyze(two)), "three", "two")
    assert lines[0] == "FAIL three vs two: weighted layer 2 differs (layer type, output shape, " \
                       "params, MACs)"
    assert lines[-1] == "     the spec has 3 weighted layers, the module 2"
