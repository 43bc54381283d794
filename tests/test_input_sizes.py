"""Specs at input sizes other than the paper's: every static shape equals the shape of the same
layer in the model built from the IR and run forward on the meta device."""
import pytest
import torch

import archprof
from archprof.ir.ops import dims
from archprof.model.network import build


def meta_shapes(analysis):
    """Each node's output shape (without the batch) from a meta-device forward of the built model."""
    graph = analysis.graph
    model = build(graph, device="meta")
    seen = {}
    for node in graph.nodes:
        model.get_submodule(node.name).register_forward_hook(
            lambda m, i, o, name=node.name: seen.__setitem__(name, tuple(o.shape[1:])))
    with torch.inference_mode():
        model(torch.zeros((1, *graph.input), device="meta"))
    return seen


def assert_static_matches_model(analysis):
    seen = meta_shapes(analysis)
    wrong = [f"{n.name}: static {dims(n.out)}, model {dims(seen.get(n.name, ()))}"
             for n in analysis.graph.nodes if seen.get(n.name) != n.out]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("size", [200, 225, 257])
@pytest.mark.parametrize("name", ["resnet50", "densenet121", "inception_v3", "mobilenet_v2"])
def test_odd_input_sizes_match_the_built_model(name, size):
    assert_static_matches_model(archprof.analyze(name, input=(3, size, size)))


def conv_out(h, k, s, p):
    return (h + 2 * p - k) // s + 1


@pytest.mark.parametrize("size", [200, 225, 257])
def test_resnet50_projection_stride_is_the_block_stride(size):
    """The stride-2 blocks halve odd sizes rounding up (3x3 conv, padding 1: 25 -> 13); the
    shortcut's 1x1 projection has the block's stride 2, not the size ratio (25/13 is no integer)."""
    nodes = {n.name: n for n in archprof.analyze("resnet50", input=(3, size, size)).graph.nodes}
    h = conv_out(conv_out(size, 7, 2, 3), 3, 2, 1)           # stem: 7x7/2 conv, 3x3/2 max pool
    for stage, channels in (("conv3_x", 512), ("conv4_x", 1024), ("conv5_x", 2048)):
        h = conv_out(h, 3, 2, 1)
        proj = nodes[f"{stage}.block1.add_proj.conv"]
        assert proj.op.s == (2, 2)
        assert proj.out == (channels, h, h)
