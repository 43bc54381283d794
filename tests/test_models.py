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
