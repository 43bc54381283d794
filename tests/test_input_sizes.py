"""Specs at input sizes other than the paper's: every static shape equals the shape of the same
layer in the model built from the IR and run forward on the meta device."""
import functools

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archprof
from archprof.errors import SpecError
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


# --- every network, random sizes (hypothesis) ---------------------------------------------------
@functools.cache
def default_model(name):
    """The network built at its spec's input size: every module but a flatten-fed linear layer
    is independent of the input size, so this is the real model a user would run."""
    return archprof.analyze(name).graph.input, build(name, device="meta")


def model_accepts(name, shape):
    _, model = default_model(name)
    try:
        with torch.inference_mode():
            model(torch.zeros((1, *shape), device="meta"))
    except (RuntimeError, ValueError, IndexError):
        return False
    return True


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(archprof.registry())), h=st.floats(0.1, 1.3),
       w=st.floats(0.1, 1.3))
def test_static_shapes_at_random_sizes_match_the_model(name, h, w):
    """Sizes from a tenth of the spec's to 1.3 times it, square or not. Where the real model
    runs, the spec must expand too and every static shape equal the meta forward's; where the
    spec refuses, the error names the layer, and the real model refuses that size as well."""
    default, _ = default_model(name)
    assume(len(default) == 3)
    shape = (default[0], max(1, round(h * default[1])), max(1, round(w * default[2])))
    try:
        analysis = archprof.analyze(name, input=shape)
    except SpecError as err:
        assert err.path, f"{name} at {dims(shape)}: {err} names no layer"
        assert not model_accepts(name, shape), f"{name} runs at {dims(shape)}, the spec says: {err}"
        return
    assert_static_matches_model(analysis)
