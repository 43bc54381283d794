"""explain, compare, sweep and the breakdown by layer type, against hand arithmetic."""
from __future__ import annotations

import io
import re

import pandas as pd
from click.testing import CliRunner

from archprof.cli import main


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_explain_conv1_as_the_lecture_teaches():
    out = run("explain", "alexnet", "conv1")
    assert ("conv1.conv: out = floor((227 + 2*0 - 11)/4) + 1 = 55; params = 11*11*3*96 + 96 = 34,944; "
            "MACs = 55*55*96*(11*11*3) = 105,415,200; receptive field 11, jump 4") in out


def test_explain_at_a_batch_scales_the_per_sample_macs():
    out = run("explain", "alexnet", "conv1", "--batch", "2")
    assert out.startswith("alexnet, input 3x227x227, batch 2 (")
    # 55*55*96*(11*11*3) = 105,415,200 per sample; the table's MACs at batch 2 twice that
    assert "MACs = 55*55*96*(11*11*3) = 105,415,200 per sample, x 2 = 210,830,400;" in out
    table = pd.read_csv(io.StringIO(run("table", "alexnet", "--batch", "2", "--format", "csv")))
    assert table.set_index("name").at["conv1.conv", "macs"] == 210_830_400


def test_explain_agrees_with_the_table_for_every_op():
    out = run("explain", "googlenet")
    table = pd.read_csv(io.StringIO(run("table", "googlenet", "--format", "csv"))).set_index("name")
    lines = [line for line in out.splitlines() if line.split(":")[0] in table.index]
    assert len(lines) == len(table)
    def result(line: str, key: str) -> int:
        """The number a '<key> = arithmetic = N' part ends with (asides in parentheses left out)."""
        part = re.sub(r"\(.*?\)", "", line.split(f"; {key} = ")[1].split(";")[0])
        return int(re.findall(r"[\d,]+", part)[-1].replace(",", ""))

    for line in lines:
        name = line.split(":")[0]
        assert result(line, "params") == table.loc[name, "params"], line
        assert result(line, "MACs") == table.loc[name, "macs"], line
    # a grouped conv shows the division by groups: AlexNet conv2 = 5*5*(96/2)*256 + 256
    assert "params = 5*5*(96/2)*256 + 256 = 307,456" in run("explain", "alexnet", "conv2")


def test_compare_alexnet_vgg16_ratios():
    df = pd.read_csv(io.StringIO(run("compare", "alexnet", "vgg16", "--format", "csv")))
    alexnet, vgg16 = 60_965_224, 138_357_544      # both written out in tests/test_seed_tables.py
    assert list(df["params"]) == [alexnet, vgg16]
    assert abs(df["params_ratio"].iloc[1] - vgg16 / alexnet) < 1e-12
    assert abs(df["param_mb"].iloc[0] - alexnet * 4 / 1e6) < 1e-9   # 243.9 MB as fp32


def test_compare_shows_a_published_top1_for_the_defaults_only():
    """resnet18's spec cites torchvision's 69.758 (1000 classes): a 100-class head is another
    network, with no published accuracy; num_classes=1000 is the default itself."""
    other = pd.read_csv(io.StringIO(run("compare", "resnet18", "resnet50", "--param",
                                        "num_classes=100", "--format", "csv")))
    same = pd.read_csv(io.StringIO(run("compare", "resnet18", "resnet50", "--param",
                                       "num_classes=1000", "--format", "csv")))
    assert other["top1"].isna().all() and list(same["top1"]) == [69.758, 76.13]


def test_sweep_resnet50_stride_variant():
    df = pd.read_csv(io.StringIO(run("sweep", "resnet50", "--param", "stride_in_1x1=true,false",
                                     "--format", "csv")))
    on_1x1, on_3x3 = df["macs"]
    # moving the stride from the first 1x1 to the 3x3 runs that 1x1 at the input resolution in
    # the first block of conv3_x, conv4_x and conv5_x: (H_in^2 - H_out^2) * c * c_in more MACs
    extra = (56**2 - 28**2) * 128 * 256 + (28**2 - 14**2) * 256 * 512 + (14**2 - 7**2) * 512 * 1024
    assert on_3x3 - on_1x1 == extra == 231_211_008
    assert df["params"].nunique() == 1


def test_breakdown_by_type_shares():
    df = pd.read_csv(io.StringIO(run("table", "vgg16", "--by", "type", "--format", "csv")))
    rows = df.set_index("type")
    fc = 7 * 7 * 512 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert rows.loc["fc", "count"] == 3 and rows.loc["conv 3x3", "count"] == 13
    assert abs(rows.loc["fc", "pct_params"] - 100 * fc / 138_357_544) < 1e-9


def test_mobilenet_table2_by_type():
    # Howard et al. Table 2 (mult-adds % / parameters %), parameters as kernel weights only.
    # Conv 3x3 prints 1.19% mult-adds: two swapped digits of 1.91% (the column then sums to 100.01)
    df = pd.read_csv(io.StringIO(run("table", "mobilenet_v1", "--by", "type", "--format", "csv")))
    rows = df.set_index("type").round(2)
    table2 = {"conv 1x1": (94.86, 74.59), "conv 3x3 dw": (3.06, 1.06), "conv 3x3": (1.91, 0.02),
              "fc": (0.18, 24.33)}
    for kind, (macs, weights) in table2.items():
        assert (rows.loc[kind, "pct_macs"], rows.loc[kind, "pct_weights"]) == (macs, weights), kind


def test_mobilenet_tables_6_and_7_by_sweep():
    width = pd.read_csv(io.StringIO(run("sweep", "mobilenet_v1", "--param", "alpha=1.0,0.75,0.5,0.25",
                                        "--format", "csv")))
    assert [round(m / 1e6) for m in width["macs"]] == [569, 325, 149, 41]          # Table 6
    res = pd.read_csv(io.StringIO(run("sweep", "mobilenet_v1", "--param", "res=224,192,160,128",
                                      "--format", "csv")))
    # Table 7 prints 569/418/290/186; 160 counts 290.68M, which the paper prints as 290 (README)
    assert [round(m / 1e6) for m in res["macs"]] == [569, 418, 291, 186]


def test_sweep_is_part_of_the_package_api_and_imports_pandas_only_when_called():
    """`archprof.sweep(...)` as the README and docstring write it: MobileNet Table 6 by width
    (569M, 149M mult-adds at alpha 1.0, 0.5); `import archprof` alone loads no pandas."""
    import subprocess
    import sys
    code = ("import sys, archprof; before = 'pandas' in sys.modules; "
            "df = archprof.sweep('mobilenet_v1', {'alpha': [1.0, 0.5]}); "
            "print(before, [round(m / 1e6) for m in df['macs']])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False [569, 149]"


def test_vgg_configurations_weight_layer_counts():
    # VGG Table 1 (seed 003): "11 weight layers" (A, A-LRN), 13 (B), 16 (C, D), 19 (E);
    # C's three extra layers are 1x1 convolutions
    counts = {"vgg11": 11, "vgg11_lrn": 11, "vgg13": 13, "vgg16_c": 16, "vgg16": 16, "vgg19": 19}
    for name, weight_layers in counts.items():
        df = pd.read_csv(io.StringIO(run("table", name, "--by", "type", "--format", "csv")))
        rows = df.set_index("type")["count"]
        assert rows.filter(like="conv").sum() + rows["fc"] == weight_layers, name
        assert rows.get("conv 1x1", 0) == (3 if name == "vgg16_c" else 0), name
        assert rows.get("lrn", 0) == (1 if name == "vgg11_lrn" else 0), name


def test_sweep_pauses_the_cyclic_collector_and_restores_it(monkeypatch) -> None:
    """A spec's sweep analyses (and every expansion runs) with the cyclic GC off (its passes
    would walk the memo tables again and again) and leaves it as it found it, on or off; the
    numbers do not change."""
    import gc

    from archprof import zoo
    seen: list[bool] = []
    real = zoo.analyze

    def spy(graph):  # noqa: ANN001, ANN202
        seen.append(gc.isenabled())
        return real(graph)
    monkeypatch.setattr(zoo, "analyze", spy)
    assert gc.isenabled()
    df = zoo.sweep("mobilenet_v1", {"alpha": [1.0, 0.5]})
    assert seen == [False, False] and gc.isenabled()
    assert [round(m / 1e6) for m in df["macs"]] == [569, 149]          # MobileNet Table 6
    zoo.expand("lenet5", input=(1, 36, 36))          # expansion pauses it too, and restores it
    assert gc.isenabled()
    gc.disable()
    try:
        zoo.sweep("mobilenet_v1", {"alpha": [0.25]})
        zoo.expand("lenet5", input=(1, 40, 40))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overview_is_the_listed_columns_as_a_dataframe():
    """`archprof list` prints `overview_columns()`; the API's `overview()` is the same rows as
    a DataFrame. Checked against the models' own counts: torchvision's VGG16_Weights and
    ResNet50_Weights num_params."""
    from archprof.zoo import overview, overview_columns
    columns, df = overview_columns(), overview()
    assert list(df.columns) == list(columns)
    assert df["name"].tolist() == columns["name"] == sorted(columns["name"])
    params = dict(zip(columns["name"], columns["params"]))
    assert params["vgg16"] == 138_357_544 and params["resnet50"] == 25_557_032
    assert df.set_index("name")["params"].to_dict() == params
