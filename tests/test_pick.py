"""`pick`: budget filtering, best top-1 first, the frontier, on results written by hand."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from archprof import analyze
from archprof.cli.plot import pick as pick_command
from archprof.measure.bench import COLUMNS, load_results
from archprof.measure.pick import pareto, parse_params, pick

# (network, batch, median_ms per batch, peak memory MB or None, status); top-1 from the specs:
# alexnet 57.2, resnet18 69.758, resnet50 76.13, vgg16 71.592; wrn_28_10 has no ImageNet one.
ROWS = [("alexnet", 1, 20.0, 300.0, "ok"), ("resnet18", 1, 40.0, 120.0, "ok"),
        ("resnet50", 1, 90.0, 200.0, "ok"), ("vgg16", 1, 300.0, 700.0, "ok"),
        ("wrn_28_10", 1, 30.0, None, "ok"),
        ("resnet50", 8, 500.0, 900.0, "ok"), ("vgg16", 8, 0.0, None, "oom")]


@pytest.fixture
def results(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "r.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, restval="")
        w.writeheader()
        for net, batch, ms, mb, status in ROWS:
            t = analyze(net).totals
            w.writerow({"network": net, "input": t["input"], "batch": batch, "device": "cpu",
                        "device_name": "Test CPU", "dtype": "float32", "channels_last": False,
                        "compile": False, "threads": 2, "mode": "inference", "status": status,
                        "macs": t["macs"],
                        "model_params": t["params"], "host": "box"}
                       | ({"runs": 5, "median_ms": ms, "ms_per_image": ms / batch,
                           "images_per_s": 1e3 * batch / ms} if status == "ok" else {})
                       | ({"mem_peak_bytes": int(mb * 1e6)} if mb else {}))
    return load_results([path])


def test_no_budget_orders_by_top1_and_puts_unknown_accuracy_last(results: pd.DataFrame) -> None:
    table, notes = pick(results, batch=1)
    assert list(table["label"]) == ["resnet50", "vgg16", "resnet18", "alexnet", "wrn_28_10"]
    # frontier on latency vs top-1 by hand: vgg16 is slower and worse than resnet50.
    assert set(table.loc[table["pareto"], "label"]) == {"resnet50", "resnet18", "alexnet"}
    assert any("wrn_28_10" in n for n in notes)


def test_latency_budget(results: pd.DataFrame) -> None:
    table, _ = pick(results, batch=1, max_latency_ms=40)
    assert list(table["label"]) == ["resnet18", "alexnet", "wrn_28_10"]
    assert list(table["latency_ms"]) == [40.0, 20.0, 30.0]       # the budget is inclusive


def test_memory_budget_leaves_out_unmeasured(results: pd.DataFrame) -> None:
    table, notes = pick(results, batch=1, max_memory_mb=250)
    assert list(table["label"]) == ["resnet50", "resnet18"]
    assert any("wrn_28_10" in n and "memory not measured" in n for n in notes)


def test_params_budget_uses_spec_params_and_budgets_combine(results: pd.DataFrame) -> None:
    limit = analyze("resnet50").totals["params"]
    table, _ = pick(results, batch=1, max_params=limit)
    assert list(table["label"]) == ["resnet50", "resnet18"]
    table, _ = pick(results, batch=1, max_params=limit, max_latency_ms=50)
    assert list(table["label"]) == ["resnet18"] and table["pareto"].all()


def test_batch_selects_rows_and_reports_oom(results: pd.DataFrame) -> None:
    table, notes = pick(results, batch=8)
    assert list(table["label"]) == ["resnet50"] and table["latency_ms"].iloc[0] == 500.0
    assert any("vgg16" in n and "oom" in n for n in notes)
    empty, notes = pick(results, batch=4)
    assert empty.empty and "no results at batch 4" in notes[0]


def test_pareto_by_hand() -> None:
    cost = [1, 2, 2, 3, 4, 4]
    gain = [5, 6, 4, 6, 9, 9]          # (2,4) dominated by (1,5); (3,6) by (2,6); ties both kept
    assert list(pareto(cost, gain)) == [True, True, False, False, True, True]
    assert list(pareto(-np.array([10.0, 5.0]), [1.0, 2.0])) == [True, True]


def test_parse_params() -> None:
    assert parse_params("stride_in_1x1=false;width=2") == {"stride_in_1x1": False, "width": 2}
    assert parse_params("") == {} and parse_params(float("nan")) == {}


def test_pick_command(results: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "again.csv"
    results.to_csv(path, index=False)
    out = CliRunner().invoke(pick_command, [str(path), "--max-params", "25M",
                                            "--max-latency-ms", "100"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    rows = [line.split() for line in lines if line.startswith(("*", " "))]
    assert [r[1] if r[0] == "*" else r[0] for r in rows] == ["resnet18"]
    bad = CliRunner().invoke(pick_command, [str(path), "--max-params", "lots"])
    assert bad.exit_code == 2


def test_non_imagenet_accuracy_is_never_compared() -> None:
    # preact_resnet110's 93.63 is CIFAR-10 test accuracy (100 - 6.37% error, He et al. 2016b):
    # charts and picks compare ImageNet top-1 only, so it must not enter them
    from archprof.measure.pick import spec_facts
    assert spec_facts("preact_resnet110")["top1"] is None
    assert spec_facts("resnet50")["top1"] == 76.13      # torchvision ResNet50_Weights.IMAGENET1K_V1
