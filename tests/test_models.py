"""Static analysis against the real model: for every spec, params == sum(numel) and every
shape == a meta-device forward; MACs == fvcore's count on a few networks (CI's
`archprof check` runs fvcore on all)."""
from __future__ import annotations

import pytest
import torch

import archprof
from archprof.check import Report, check_fvcore, check_model

NAMES = sorted(archprof.registry())


@pytest.mark.parametrize("name", NAMES)
def test_static_equals_built_model(name):
    analysis = archprof.analyze(name)
    report = Report(name)
    check_model(analysis, report, fvcore=False)
    assert report.ok, report.failed
    assert len(report.passed) == 3        # params, buffers, shapes


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "googlenet", "resnet18"])
def test_static_macs_equal_fvcore(name):
    analysis = archprof.analyze(name)
    report = Report(name)
    check_fvcore(analysis, archprof.build(analysis.graph, device="meta"), report)
    assert report.ok, report.failed


def test_build_runs_on_cpu_with_real_numbers():
    model = archprof.build("lenet5", device="cpu")
    out = model(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert sum(p.numel() for p in model.parameters()) == archprof.analyze("lenet5").totals["params"]


def test_build_dtype():
    model = archprof.build("lenet5", device="meta", dtype="float16")
    assert {p.dtype for p in model.parameters()} == {torch.float16}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_build_on_cuda():
    model = archprof.build("resnet18", device="cuda")
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 224, 224, device="cuda"))
    assert out.shape == (1, 1000) and out.device.type == "cuda"


def test_googlenet_auxiliary_heads_parameter():
    # each aux head (Szegedy et al. Fig. 3 caption): 5x5/3 avg pool, 1x1 conv with 128 filters,
    # fc 1024, fc 1000; it reads inception_4a (512 channels) and inception_4d (528 channels),
    # pooled 14x14 -> 4x4
    def head(cin: int) -> int:
        return (cin * 128 + 128) + (128 * 4 * 4 * 1024 + 1024) + (1024 * 1000 + 1000)
    plain = archprof.analyze("googlenet").totals["params"]
    with_aux = archprof.analyze("googlenet", params={"aux": True}).totals["params"]
    assert with_aux - plain == head(512) + head(528)
    model = archprof.build("googlenet", device="meta", params={"aux": True})
    outputs = model(torch.zeros(1, 3, 224, 224, device="meta"))
    assert [tuple(o.shape) for o in outputs] == [(1, 1000)] * 3     # scores, aux1, aux2


def test_a_row_named_like_a_module_attribute_is_a_clear_error(write_spec) -> None:
    """`half`, `forward`, `training` are attributes of every torch module: a submodule cannot
    take those names. The analysis is fine; building says which row to rename, with its line."""
    path = write_spec("- {conv: 4, k: 3, name: half}\n- {relu: , name: training}", input="[3, 8, 8]")
    assert archprof.analyze(path).totals["params"] == 3 * 3 * 3 * 4 + 4
    with pytest.raises(archprof.SpecError, match=r"net\.yaml:\d+: half: the name 'half' is taken"):
        archprof.build(path, device="meta")
