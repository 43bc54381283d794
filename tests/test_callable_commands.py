"""`fit` and `draw` take MODULE:CALLABLE like `table`: the traced module gives the same answer
as the spec `archprof import` writes for it (expanded by the other producer of the IR)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from archprof.cli import main

MYNET = "docs/examples/mynet.py:build"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_fit_of_a_module_equals_fit_of_its_imported_spec(tmp_path: Path) -> None:
    spec = tmp_path / "mynet.yaml"
    run("import", MYNET, "--input", "3x32x32", "-o", str(spec))
    budget = ["--memory", "256MiB", "--optimizer", "adam", "--format", "json"]
    traced = json.loads(run("fit", MYNET, "--input", "3x32x32", *budget))
    written = json.loads(run("fit", str(spec), *budget))
    keys = ["batch", "peak_bytes", "next_peak_bytes", "train_params_bytes", "train_grads_bytes",
            "train_optimizer_bytes"]
    assert {k: traced[k] for k in keys} == {k: written[k] for k in keys}
    assert traced["peak_bytes"] <= 256 * 2**20 < traced["next_peak_bytes"]
    # Adam keeps two float32 moments per parameter: twice the gradients
    assert traced["train_optimizer_bytes"] == 2 * traced["train_grads_bytes"]


def test_draw_of_a_module_folds_its_repeated_residuals() -> None:
    dot = run("draw", MYNET, "--input", "3x32x32")
    # stem: 3x3 conv, padding 1, stride 1 -> 32 channels at 32x32; down: stride 2 -> 16x16
    assert 'label="stage1  (block x2)' in dot and "32x32x32" in dot
    assert 'label="stage2  (block x2)' in dot and "64x16x16" in dot
