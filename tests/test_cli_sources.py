"""`bench`, `plot`, `pick` and `check` take MODULE:CALLABLE and file.py:CALLABLE (--param as
keyword arguments), and --input takes any 1 to 5 sizes, for specs and modules alike. Static
numbers are checked against the real module (numel), torch's FlopCounterMode (2 FLOPs per MAC)
and hand arithmetic; the modules are in tests/cli_models.py."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from archprof import analyze
from archprof.cli import main
from archprof.figures import plot
from archprof.measure import bench as B
from archprof.measure.pick import annotate, pick
from archprof.source import load_module

CLASSIFIER, VIDEO, AUDIO = ("tests/cli_models.py:" + n for n in ("classifier", "video", "audio"))
FAST = {"device": "cpu", "budget_s": 0.05, "progress": False, "threads": 1}
# tests/cli_models.py:audio written as a spec: 1-D convolutions over a (1, samples) waveform
AUDIO_SPEC = """\
- {conv: 8, k: 9, s: 4, act: relu, name: conv1}
- {conv: 8, k: 3, p: 1, act: relu, name: conv2}
- {gap: , name: pool}
- {flatten: , name: flatten}
- {linear: 4, name: fc}"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def real(ref: str, **kwargs: Any) -> torch.nn.Module:
    """The module the callable returns, with weights, on the CPU."""
    return load_module(ref, kwargs, meta=False)


def counted_macs(module: torch.nn.Module, shape: tuple[int, ...], train: bool = False) -> int:
    """FlopCounterMode / 2 over one forward at batch 1 (and the backward of a loss)."""
    x = torch.randn(1, *shape)
    with FlopCounterMode(display=False) as counter:
        out = module(x)
        if train:
            torch.nn.functional.cross_entropy(out, torch.tensor([0])).backward()
    return counter.get_total_flops() // 2


# --- bench ---------------------------------------------------------------------------------------
def test_bench_of_a_callable_measures_the_real_module(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[torch.nn.Module] = []
    original = B.measure

    def spy(model: Any, *args: Any, **kwargs: Any) -> B.Measurement:
        measured.append(model)
        return original(model, *args, **kwargs)
    monkeypatch.setattr(B, "measure", spy)
    out = tmp_path / "r.csv"
    df = B.sweep([CLASSIFIER], (1, 2), params={"width": 4}, input=(3, 16, 16), out=out, **FAST)
    module = real(CLASSIFIER, width=4)
    numel = sum(p.numel() for p in module.parameters())
    # by hand: conv 3->4 3x3 no bias 108, BN 2*4, conv 4->8 3x3 288 + 8, linear 8*10 + 10
    assert numel == 108 + 8 + 296 + 90 == 502
    # conv1 16*16*4*27 on 16x16, conv2 8*8*8*36 after the 2x2 pool, linear 8*10
    macs = counted_macs(module, (3, 16, 16))
    assert macs == 27_648 + 18_432 + 80 == 46_160
    assert list(df["network"]) == [CLASSIFIER] * 2 and list(df["params"]) == ["width=4"] * 2
    assert list(df["status"]) == ["ok", "ok"] and list(df["input"]) == ["3x16x16"] * 2
    assert (df["model_params"] == numel).all() and (df["macs"] == macs).all()
    peak = analyze(module, input=(3, 16, 16)).totals["peak_activations"]
    assert list(df["static_peak_bytes"]) == [4 * peak, 4 * 2 * peak]     # float32, batch 1, 2
    assert (df["runs"] >= 3).all() and (df["median_ms"] > 0).all()
    # what ran is the user's own module (not archprof's rebuild), with weights, in eval mode
    models = [m for m in measured if isinstance(m, torch.nn.Module)]    # not the matmul peak's
    assert len(models) == 2        # batch 1 and 2, one module built for both
    assert all(type(m) is torch.nn.Sequential and not m.training for m in models)
    assert all(p.device.type == "cpu" and torch.isfinite(p).all()
               for m in models for p in m.parameters())
    assert B.load_results(out)[["network", "batch", "macs"]].values.tolist() == [
        [CLASSIFIER, 1, macs], [CLASSIFIER, 2, macs]]


def test_bench_train_of_a_callable_steps_the_optimizer(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[bool] = []
    original = B.measure_train

    def spy(model: torch.nn.Module, *args: Any, **kwargs: Any) -> B.Measurement:
        before = [p.detach().clone() for p in model.parameters()]
        result = original(model, *args, **kwargs)
        steps.append(model.training and all(not torch.equal(a, p)
                                            for a, p in zip(before, model.parameters())))
        return result
    monkeypatch.setattr(B, "measure_train", spy)
    df = B.sweep([CLASSIFIER], (2,), params={"width": 4}, input=(3, 16, 16),
                 out=tmp_path / "r.csv", mode="train-momentum", **FAST)
    # forward + backward: FlopCounterMode over a real training step (no input gradient for
    # the first conv, as archprof counts it); by hand 46,160 + 27,648 + 2*18,432 + 2*80
    macs = counted_macs(real(CLASSIFIER, width=4), (3, 16, 16), train=True)
    assert macs == 46_160 + 27_648 + 2 * 18_432 + 2 * 80 == 110_832
    assert list(df["mode"]) == ["train-momentum"] and list(df["status"]) == ["ok"]
    assert list(df["macs"]) == [macs] and list(df["model_params"]) == [502]
    assert steps == [True]       # train mode, and every weight moved by the optimizer steps


def test_bench_cli_of_a_file_callable_and_a_video_input(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    code, text = run("bench", VIDEO, "--input", "3x4x8x8", "--param", "width=2", "--device",
                     "cpu", "--budget", "0.05", "--threads", "1", "--out", str(out))
    assert code == 0, text
    row = B.load_results(out).iloc[0]
    module = real(VIDEO, width=2)
    assert row["network"] == VIDEO and row["input"] == "3x4x8x8" and row["params"] == "width=2"
    assert row["model_params"] == sum(p.numel() for p in module.parameters())
    assert row["macs"] == counted_macs(module, (3, 4, 8, 8))
    assert f"1 row in {out}" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bench_of_a_callable_on_cuda(tmp_path: Path) -> None:
    df = B.sweep([CLASSIFIER], (1, 2), params={"width": 4}, input=(3, 16, 16),
                 out=tmp_path / "r.csv", **{**FAST, "device": "cuda"})
    weights = sum(p.numel() * p.element_size() for p in real(CLASSIFIER, width=4).parameters())
    assert list(df["status"]) == ["ok", "ok"] and (df["model_params"] == 502).all()
    assert (df["device"] == f"cuda:{torch.cuda.current_device()}").all()
    assert (df["mem_context_bytes"] >= weights).all()
    assert (df["mem_peak_bytes"] >= df["mem_context_bytes"]).all()


@pytest.mark.parametrize("args, says", [
    (["tests/bad_models.py:raises", "--param", "width=5"],
     "error: tests/bad_models.py:raises(width=5) raised ValueError: width must be even, got 5"),
    ([CLASSIFIER, "--param", "nope=1"], "error: tests/cli_models.py:classifier(nope=1) raised "
                                        "TypeError: classifier() got an unexpected keyword"),
    (["tests/cli_models.py:nothing"], "error: tests/cli_models.py has no attribute 'nothing'"),
    ([AUDIO], "error: tests/cli_models.py:audio, module 0: the forward failed on input "
              "1x3x224x224"),
])
def test_bench_cli_bad_callable_is_one_line_exit_2_before_any_work(
        tmp_path: Path, args: list[str], says: str) -> None:
    out = tmp_path / "r.csv"
    code, text = run("bench", *args, "--device", "cpu", "--out", str(out))
    assert code == 2 and text.startswith(says) and len(text.splitlines()) == 1, text
    assert not out.exists()


# --- pick and plot --------------------------------------------------------------------------------
@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    """alexnet (a spec, top-1 57.2) written by hand, and the classifier benched for real."""
    out = tmp_path / "r.csv"
    B.sweep([CLASSIFIER], (1,), params={"width": 4}, input=(3, 16, 16), out=out, **FAST)
    with out.open() as f:
        row = next(csv.DictReader(f))
    t = analyze("alexnet").totals
    alexnet = {**row, "network": "alexnet", "params": "", "input": t["input"],
               "macs": t["macs"], "model_params": t["params"], "median_ms": "20.0",
               "ms_per_image": "20.0", "images_per_s": "50.0", "mem_peak_bytes": "300000000"}
    text = io.StringIO()
    writer = csv.DictWriter(text, B.COLUMNS)
    writer.writeheader()
    writer.writerows([row, alexnet])
    out.write_text(text.getvalue())
    return out


@pytest.fixture
def mixed(mixed_file: Path) -> pd.DataFrame:
    return B.load_results(mixed_file)


def test_pick_lists_a_traced_module_with_its_traced_numbers_and_no_accuracy(
        mixed: pd.DataFrame) -> None:
    table, notes = pick(mixed, batch=1)
    assert list(table["network"]) == ["alexnet", CLASSIFIER]      # known top-1 first
    mine = table.iloc[1]
    assert mine["label"] == f"{CLASSIFIER} [width=4]" and pd.isna(mine["top1"])
    assert mine["spec_params"] == 502 and mine["spec_macs"] == 46_160    # by hand, above
    assert not mine["pareto"]               # no accuracy: on no accuracy frontier
    assert any(f"{CLASSIFIER} [width=4]" in n and "a traced module, its accuracy is not known"
               in n for n in notes)
    fits, _ = pick(mixed, batch=1, max_params=501)            # 502 params: left out
    assert list(fits["network"]) == []
    fits, _ = pick(mixed, batch=1, max_params=502)
    assert list(fits["network"]) == [CLASSIFIER]


def test_pick_cli_shows_the_traced_module(mixed_file: Path) -> None:
    code, out = run("pick", str(mixed_file), "--format", "csv")
    assert code == 0, out
    df = pd.read_csv(io.StringIO(out))
    assert df.set_index("network").loc[CLASSIFIER, ["spec_params", "spec_macs"]].tolist() == [
        502, 46_160]


def test_plot_places_a_traced_module_where_accuracy_is_not_needed(mixed: pd.DataFrame) -> None:
    df = annotate(mixed)
    ops = plot.ops_vs_time(df)          # G-MACs vs time: no accuracy needed
    assert ops.figure is not None
    assert ops.data.set_index("network").loc[CLASSIFIER, "gops"] == 46_160 / 1e9
    assert f"not on any frontier, traced modules, accuracy not known: {CLASSIFIER} [width=4]" \
        in ops.notes
    top1 = plot.top1_vs_ops(df)         # accuracy needed: left out, and said so
    assert list(top1.data["network"]) == ["alexnet"]
    assert f"left out, traced modules, accuracy not known: {CLASSIFIER} [width=4]" in top1.notes
    memory = plot.memory_vs_params(df)
    assert memory.data.set_index("network").loc[CLASSIFIER, "params_m"] == 502 / 1e6


# --- --input of any rank ----------------------------------------------------------------------------
def table(*args: str) -> pd.DataFrame:
    code, out = run("table", *args, "--format", "csv")
    assert code == 0, out
    return pd.read_csv(io.StringIO(out), dtype={"name": str}).set_index("name")


def test_conv3d_module_by_file_callable_at_a_video_input() -> None:
    layers = table(VIDEO, "--input", "3x4x8x8")
    conv1, conv2 = layers.loc["0"], layers.loc["2"]
    # conv 3->4, 3x3x3, padding 1 on a 4x8x8 clip: 4*3*27 + 4 params, 4*4*8*8 outputs x 81
    assert conv1["shape"] == "4x4x8x8" and conv1["params"] == 328 and conv1["macs"] == 82_944
    # conv 4->8, 1x3x3, stride 1x2x2, padding 0x1x1: 8*4*9 + 8 params, 8*4*4*4 outputs x 36
    assert conv2["shape"] == "8x4x4x4" and conv2["params"] == 296 and conv2["macs"] == 18_432
    module = real(VIDEO)
    assert layers["params"].sum() == sum(p.numel() for p in module.parameters())
    assert layers["macs"].sum() == counted_macs(module, (3, 4, 8, 8))


def test_a_spec_of_another_rank_and_a_token_module(write_spec: Any) -> None:
    spec = str(write_spec(AUDIO_SPEC, input="[1, 400]"))
    default, longer = table(spec), table(spec, "--input", "1x800")
    # (400 - 9) // 4 + 1 = 98 steps; (800 - 9) // 4 + 1 = 198
    assert default.loc["conv1.conv", "shape"] == "8x98" and longer.loc["conv1.conv", "shape"] == "8x198"
    assert longer.loc["conv1.conv", "macs"] == 198 * 8 * 9
    tokens = table("tests/cli_models.py:tokens", "--input", "7x16")
    # 7 tokens of 16: the MLP's linears 16->32->16 on each token, the head 16->3 on their mean
    assert tokens["macs"].sum() == 7 * (16 * 32 + 32 * 16) + 16 * 3
    code, out = run("table", spec, "--input", "1x0")
    assert code == 2 and "'1x0' is not 1 to 5 positive sizes" in out
    code, out = run("table", spec, "--input", "1x2x3x4x5x6")
    assert code == 2 and "'1x2x3x4x5x6' is not 1 to 5 positive sizes" in out


# --- check --input ----------------------------------------------------------------------------------
def test_check_of_a_module_honours_input() -> None:
    code, out = run("check", AUDIO, "--input", "1x400", "-v")
    assert code == 0, out
    # by hand: conv 1->8 width 9 (80 params), conv 8->8 width 3 (200), linear 8->4 (36);
    # 98 steps: 98*8*9 + 98*8*24 + 8*4 MACs
    assert "params: static 316 vs module 316" in out
    macs = 98 * 8 * 9 + 98 * 8 * 24 + 8 * 4
    assert macs == counted_macs(real(AUDIO), (1, 400))
    assert f"MACs: static {macs:,} vs FlopCounterMode {2 * macs:,} / 2 = {macs:,}" in out
    code, out = run("check", AUDIO)                  # at 3x224x224 a 1-D model fails
    assert code == 2 and "the forward failed on input 1x3x224x224" in out


def test_check_spec_and_against_honour_input(write_spec: Any) -> None:
    spec = str(write_spec(AUDIO_SPEC, input="[1, 400]"))
    code, out = run("check", spec, "--input", "1x800", "-v")
    # fvcore counts the built model at 1x800 too: 198 steps
    macs = 198 * 8 * 9 + 198 * 8 * 24 + 8 * 4
    assert code == 0 and f"MACs: static {macs:,} (" in out and f"vs fvcore {macs:,}" in out, out
    code, out = run("check", spec, "--input", "1x5")     # 5 samples < a width-9 filter
    assert code == 2 and "conv1" in out and len(out.splitlines()) == 1, out
    code, out = run("check", spec, "--input", "1x800", "--against", AUDIO)
    assert code == 0 and f"params 316, MACs {macs:,}" in out, out


def test_table_header_says_cxhxw_only_for_an_image() -> None:
    code, out = run("table", "tests/cli_models.py:tokens", "--input", "7x16")
    header = next(line for line in out.splitlines() if line.startswith("name "))
    assert code == 0 and header.split()[:3] == ["name", "type", "output"] and "CxHxW" not in out
    code, out = run("table", "lenet5")
    assert code == 0 and "output (CxHxW)" in out


def test_report_measures_and_pages_a_callable(tmp_path: Path) -> None:
    """`report` of a MODULE:CALLABLE benches it like a spec's network and gives it a page of
    its own drawn from its trace: params = numel of the real module, MACs = FlopCounterMode / 2,
    accuracy said to be unknown."""
    out = tmp_path / "report"
    code, text = run("report", "--out", str(out), "--device", "cpu", "--batch-sizes", "1",
                     "--budget-s", "0.05", CLASSIFIER)
    assert code == 0, text
    module = real(CLASSIFIER).eval()
    params = sum(p.numel() for p in module.parameters())
    page = out / "networks" / "tests_cli_models.py_classifier.html"
    html = page.read_text()
    assert f"params {params:,}" in html
    assert f"MACs {counted_macs(module, (3, 224, 224)):,}" in html
    assert "a traced module: its accuracy is not known" in html
    assert 'href="networks/tests_cli_models.py_classifier.html"' in (out / "index.html").read_text()
    results = B.load_results(out / "results.csv")
    assert list(results["network"]) == [CLASSIFIER] and results["model_params"].iloc[0] == params


def test_report_redraws_specs_and_callables_together(tmp_path: Path, mixed_file: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "results.csv").write_text(mixed_file.read_text())
    code, text = run("report", "--out", str(out), "--no-measure")
    assert code == 0, text
    pages = sorted(p.name for p in (out / "networks").glob("*.html"))
    assert pages == ["alexnet.html", "tests_cli_models.py_classifier.html"]
    assert "alexnet" in (out / "README.md").read_text()

