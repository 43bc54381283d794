"""The CLI through click's CliRunner: output contracts and bad input."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import archprof
from archprof.cli import main
from archprof.cli.analysis import layer_columns
from archprof.figures.render import render


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_table_vgg16_totals():
    code, out = run("table", "vgg16")
    assert code == 0
    # the done-when: 138,357,544 params and 15.47G MACs; the MAC definition is printed
    assert "138,357,544" in out and "15,470,264,320 (15.47G)" in out
    assert "1 MAC = one multiply-accumulate" in out


def test_table_csv_contract_sums_to_totals():
    code, out = run("table", "vgg16", "--format", "csv")
    df = pd.read_csv(io.StringIO(out))
    for column in ("name", "type", "shape", "params", "macs", "activations", "rf", "pct_params", "pct_macs"):
        assert column in df.columns
    assert df["params"].sum() == 138_357_544 and df["macs"].sum() == 15_470_264_320
    assert "total" not in set(df["name"])
    # activations: every op's output, plus the input (3x224x224), as the seed's memory column
    assert df["activations"].sum() + 3 * 224 * 224 == 15_237_608
    # one line per row and the header, each ended once (no empty record at the end)
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert len(list(csv.reader(io.StringIO(out)))) == len(df) + 1


def test_table_batch_scales_macs_and_depth_collapses():
    _, one = run("table", "resnet18", "--format", "json", "--depth", "1")
    _, four = run("table", "resnet18", "--format", "json", "--depth", "1", "--batch", "4")
    rows1, rows4 = json.loads(one), json.loads(four)
    assert [r["name"] for r in rows1] == ["stem", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "head"]
    assert all(b["macs"] == 4 * a["macs"] and b["params"] == a["params"] for a, b in zip(rows1, rows4))


def test_table_input_and_param_overrides():
    _, out = run("table", "resnet50", "--format", "csv", "--input", "3x448x448",
                 "--param", "stride_in_1x1=false")
    df = pd.read_csv(io.StringIO(out))
    assert df["shape"].iloc[-1] == "1000"
    assert df[df["name"] == "conv5_x.block3.relu"]["shape"].item() == "2048x14x14"   # 448/32


def test_markdown_and_latex():
    _, md = run("table", "lenet5", "--format", "markdown")
    assert md.splitlines()[0].startswith("| name | type |") and "| total |" in md
    _, tex = run("table", "lenet5", "--format", "latex")
    assert tex.startswith(r"\begin{tabular}") and r"\end{tabular}" in tex


def test_list_csv_columns():
    code, out = run("list", "--format", "csv")
    df = pd.read_csv(io.StringIO(out))
    assert code == 0 and {"name", "params", "macs", "activations", "top1"} <= set(df.columns)
    assert df.set_index("name").loc["alexnet", "params"] == 60_965_224


def test_bad_input_one_line_exit_2():
    code, out = run("table", "vgg17")
    assert code == 2 and out.startswith("error: unknown network 'vgg17'") and "Traceback" not in out
    code, out = run("table", "vgg16", "--input", "3x224x0")
    assert code == 2 and "'3x224x0' is not 1 to 5 positive sizes" in out
    code, out = run("table", "vgg16", "--param", "width")
    assert code == 2 and "key=value" in out
    code, out = run("table", "vgg16", "--param", "widht=2")
    assert code == 2 and "unknown parameter 'widht'" in out
    code, out = run("table", "vgg16", "--batch", "0")
    assert code == 2


def test_check_exit_codes(write_spec):
    good = write_spec("- {conv: 8, k: 3, expect: {shape: 8x30x30, params: 224}}")
    code, out = run("check", str(good))
    assert code == 0 and out.startswith("ok ")
    bad = write_spec("- {conv: 8, k: 3, expect: {shape: 8x31x31, params: 216}}", name="bad")
    code, out = run("check", "--no-fvcore", str(bad))
    assert code == 1 and "FAILED expect conv1" in out and "static 8x30x30 vs written 8x31x31" in out
    assert "params: static 224 vs written 216" in out


def test_unwritable_output_path_is_one_line_exit_2(tmp_path):
    """Every command that writes says at once where it cannot: under a file taken for a
    folder, and (Linux) in /proc, where no file can be made even by root, and where a lock
    file would otherwise be retried until its timeout (120 s)."""
    results = tmp_path / "results.csv"
    code, out = run("bench", "lenet5", "--device", "cpu", "--threads", "1", "--budget", "0.05",
                    "--out", str(results))
    assert code == 0, out
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    places = [blocker / "sub"] + ([Path("/proc")] if Path("/proc/self").is_dir() else [])
    for place in places:
        for args, target in (
                (["bench", "lenet5", "--device", "cpu", "--out"], "results.csv"),
                (["merge", str(results), "-o"], "merged.csv"),
                (["draw", "lenet5", "-o"], "lenet5.dot"),
                (["plot", str(results), "--out"], "charts")):
            code, out = run(*args, str(place / target))
            assert code == 2 and out.splitlines()[-1].startswith(f"error: cannot write {place}"), \
                (args, out)
            assert "Traceback" not in out
    assert blocker.read_text() == "not a folder"


def test_pick_with_no_rows_at_that_batch_says_so(tmp_path):
    results = tmp_path / "results.csv"
    code, out = run("bench", "lenet5", "--device", "cpu", "--threads", "1", "--budget", "0.05",
                    "--out", str(results))
    assert code == 0, out
    code, out = run("pick", str(results), "--batch", "64")
    assert code == 0 and out.splitlines() == ["no network fits this budget",
                                              "note: no results at batch 64"]
    code, out = run("pick", str(results), "--batch", "64", "--format", "json")
    assert code == 0 and out.strip() == "[]"


@pytest.mark.parametrize("args", [["table", "resnet50"], ["table", "resnet50", "--format", "markdown"],
                                  ["list"]])
def test_plain_tables_import_neither_matplotlib_nor_fvcore_nor_torch_nor_pandas(args: list[str]):
    """Plain tables are printed from plain columns: pandas alone is half a second to import."""
    import subprocess
    import sys
    code = ("import sys; from click.testing import CliRunner; from archprof.cli import main; "
            f"r = CliRunner().invoke(main, {args!r}); assert r.exit_code == 0; "
            "print(sorted(m for m in ('matplotlib', 'fvcore', 'torch', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(archprof.registry()))
def test_plain_columns_print_as_the_dataframe_does(name: str):
    """`table` prints a network's plain columns; the DataFrame of the same rows (`.layers`,
    what CSV and JSON are written from) prints the very same text, Markdown and LaTeX, every
    share and NaN-free cell included."""
    a = archprof.analyze(name)
    columns = layer_columns(a.graph.input)
    assert list(a.layers.columns) == list(a.columns)
    for fmt in ("text", "markdown", "latex"):
        assert render(a.columns, columns, fmt, [["total"] + [""] * 9]) == \
            render(a.layers, columns, fmt, [["total"] + [""] * 9])
    for key in ("pct_params", "pct_macs"):        # each row's share of its total
        assert abs(sum(a.columns[key]) - 100) < 1e-9


@pytest.mark.parametrize("args, message", [
    (["sweep", "mobilenet_v1", "--param", "alpha=1.0", "--param", "alpha=0.5"],
     "'alpha' is given twice; list its values once"),
    (["sweep", "mobilenet_v1", "--param", "alpha=1.0,,0.5"], "'alpha=1.0,,0.5' has an empty value"),
    (["table", "vgg16", "--param", "num_classes=10", "--param", "num_classes=20"],
     "'num_classes' is given twice"),
])
def test_a_parameter_given_twice_or_empty_is_refused(args, message):
    """The last value won in silence, and a sweep's help promises the product of all."""
    code, out = run(*args)
    assert code == 2 and message in out and "--param" in out


def test_a_file_that_is_not_results_is_named_and_only_a_writer_is_told_to_move_it(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("a,b\n1,2\n")
    code, out = run("pick", str(path))
    assert code == 2 and out.startswith(f"error: {path}:1: the header lacks columns ")
    assert out.rstrip().endswith("not an archprof results file")      # pick has no --out
    code, out = run("bench", "lenet5", "--device", "cpu", "--out", str(path))
    assert code == 2 and out.rstrip().endswith("or choose another --out)")
    assert path.read_text() == "a,b\n1,2\n"


def test_compare_with_an_unknown_name_prints_the_error_alone():
    code, out = run("compare", "vgg16", "vgg17")
    assert code == 2 and out.startswith("error: ") and "vgg17" in out and "MAC" not in out


def test_a_name_in_other_case_is_suggested():
    code, out = run("table", "VGG16")
    assert code == 2 and "unknown network 'VGG16'" in out and out.rstrip().endswith(
        "(did you mean 'vgg16'?)")


def test_large_numbers_keep_a_unit():
    from archprof.units import human, human_bytes
    assert human(15_470_264_320) == "15.47G" and human(2.5e15) == "2.50P"
    assert human(3.3e21) == "3300.00E"
    assert human_bytes(16 * 10**12) == "14.6 TiB"       # 16e12 / 2**40 = 14.55
    assert human_bytes(3 * 2**50) == "3.0 PiB" and human_bytes(1536) == "1.5 KiB"
    # just under a unit: 1024.0 of the one below reads as 1.0 of it; bytes print whole
    assert human_bytes(2**50 - 36_480) == "1.0 PiB" and human_bytes(2**20 - 10) == "1.0 MiB"
    assert human_bytes(1_023) == "1023 B" and human_bytes(2**20 - 2**10) == "1023.0 KiB"


@pytest.mark.parametrize("args, message", [
    (["table", "resnet18", "--by", "type", "--depth", "1"], "--by type and --depth group"),
    (["table", "resnet18", "--freeze", "layer1*"], "--freeze sets what a training step"),
    (["explain", "resnet18", "conv1", "--freeze", "layer1*"], "--freeze sets what a training"),
])
def test_options_that_would_be_ignored_are_refused(args, message):
    code, out = run(*args)
    assert code == 2 and out.startswith("error: ") and message in out


@pytest.mark.parametrize("made, what", [(False, "does not exist"), (True, "is a file, not a folder")])
def test_archprof_specs_that_is_no_folder_says_what_it_is(tmp_path, monkeypatch, made, what):
    path = tmp_path / "one.yaml"
    if made:
        path.write_text("networks: {}\n")
    monkeypatch.setenv("ARCHPROF_SPECS", str(path))
    code, out = run("table", "vgg16")
    assert code == 2 and out.startswith(f"error: $ARCHPROF_SPECS {path} {what} (set ")


@pytest.mark.parametrize("name", ["mynet.py:", ":build"])
def test_a_callable_half_named_is_said_so(name):
    code, out = run("table", name)
    assert code == 2 and out.strip() == (f"error: '{name}' names no callable: write "
                                         "MODULE:CALLABLE or path/to/file.py:CALLABLE")


def test_a_batch_whose_tensors_exceed_the_element_limit_is_refused() -> None:
    from archprof.spec.expand import MAX_ELEMENTS
    largest = 64 * 224 * 224        # VGG-16's conv1_1 and conv1_2 outputs, per sample
    most = MAX_ELEMENTS // largest
    assert archprof.analyze("vgg16", batch=most).totals["peak_activations"] > 0
    code, out = run("table", "vgg16", "--batch", str(most + 1))
    assert code == 2 and out.count("\n") == 1
    assert f"batch {most + 1:,} makes tensors of more than {MAX_ELEMENTS:,} elements" in out
    assert f"{largest:,} per sample" in out


@pytest.mark.parametrize("args, message", [
    (["table", "lenet5", "--optimizer", "sgd"], "--optimizer sets the state a training step"),
    (["table", "lenet5", "--train", "--by", "type"], "--by type sums the forward counts"),
    (["fit", "lenet5", "--memory", "1MiB", "--infer", "--optimizer", "sgd"],
     "--optimizer and --freeze describe a training step"),
    (["fit", "lenet5", "--memory", "1MiB", "--infer", "--freeze", "c1*"],
     "--optimizer and --freeze describe a training step"),
    (["table", "lenet5", "--train", "--freeze", "*"], "freezes every layer with weights"),
    (["table", "lenet5", "--train", "--freeze", "c1*,"], "has an empty pattern"),
    (["fit", "lenet5", "--memory", "1.5"], "is not a whole number of bytes"),
    (["fit", "lenet5", "--memory", "9999999999999999999999"], "is 2^63 bytes or more")])
def test_options_that_would_be_ignored_or_describe_no_step_are_refused(args, message) -> None:  # noqa: ANN001
    code, out = run(*args)
    assert code == 2 and message in out and out.count("\n") == 1, out


def test_memory_budgets_in_peta_and_exa_bytes() -> None:
    from archprof.cli.options import parse_size
    assert parse_size(None, None, "1PiB") == 2**50 and parse_size(None, None, "2PB") == 2 * 10**15
    assert parse_size(None, None, "1EiB") == 2**60 and parse_size(None, None, "1.5KB") == 1500


def test_rows_nothing_reads_are_listed_as_outputs(write_spec) -> None:  # noqa: ANN001
    path = write_spec("- {conv: 4, k: 3, p: 1, name: a}\n- {conv: 4, k: 3, p: 1, name: typo}\n"
                      "- {relu: , name: r, from: a}\n- {flatten: , name: fl}\n"
                      "- {linear: 10, name: fc}", input="[3, 8, 8]")
    code, out = run("table", str(path))
    assert code == 0 and "outputs      fc, typo (rows nothing reads are outputs" in out
    code, out = run("table", "lenet5")
    assert code == 0 and "outputs" not in out


def test_counts_of_one_take_the_singular() -> None:
    from archprof.units import count
    assert (count(1, "layer"), count(2, "layer"), count(1_000, "row")) == (
        "1 layer", "2 layers", "1,000 rows")
    code, out = run("table", "lenet5", "--train", "--freeze", "c1*")    # c1.conv alone
    assert code == 0 and ", 1 layer frozen" in out


def test_megabytes_keep_three_digits_below_100() -> None:
    """lenet5's measured peak, 460,072 bytes, printed as 0 MB in `pick` and the reports."""
    from archprof.units import megabytes
    assert [megabytes(v) for v in (460_072 / 1e6, 25.63, 99.94, 1234.4)] == [
        "0.46", "25.6", "99.9", "1234"]


def test_bench_optimizer_without_training_mode_is_refused(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "r.csv"
    code, text = run("bench", "lenet5", "--optimizer", "adam", "--out", str(out))
    assert code == 2 and "--optimizer is that of --mode train" in text and not out.exists()


def test_fit_stops_at_the_batch_whose_tensors_reach_the_element_limit() -> None:
    from archprof.spec.expand import MAX_ELEMENTS
    most = MAX_ELEMENTS // (6 * 28 * 28)        # lenet5's largest tensor: c1's output
    for args in ([], ["--infer"]):
        code, out = run("fit", "lenet5", "--memory", "1PiB", "--format", "json", *args)
        result = json.loads(out)
        assert code == 0 and result["batch"] == most and result["element_limit"] is True
    assert archprof.analyze("lenet5", batch=most).totals["batch"] == most
    code, out = run("fit", "lenet5", "--memory", "10MiB", "--format", "json")
    assert json.loads(out)["element_limit"] is False
