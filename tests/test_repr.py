"""How results show themselves: Analysis at a prompt (repr) and in a notebook (_repr_html_),
`archprof --version`, and JSON tables whose numbers are numbers."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import archprof
from archprof.cli import main

NON_SQUARE = """family: Test
networks:
  strip:
    input: [1, 16, 16]
    layers:
      - {conv: 4, k: [1, 3], name: a}
      - {conv: 4, k: [3, 1], s: [1, 2], name: b}
      - {maxpool: 2, name: pool}
"""


def test_repr_is_a_short_summary_with_the_totals() -> None:
    a = archprof.analyze("vgg16")
    text = repr(a)
    assert len(text) < 3000
    # VGG-16: 138,357,544 parameters (torchvision VGG16_Weights num_params) and 15.47 G MACs
    # (Simonyan & Zisserman's configuration D as fvcore counts it)
    assert "params 138,357,544" in text and "MACs 15,470,264,320" in text
    assert text.splitlines()[0].startswith("vgg16 (")
    assert "conv1_1.conv" in text and "fc8" not in text         # the first rows, not all 39
    assert f"... {len(a.layers) - 8} more rows" in text


@pytest.mark.parametrize("name", sorted(archprof.registry()))
def test_every_repr_is_short(name: str) -> None:
    a = archprof.analyze(name)
    assert len(repr(a)) < 3000
    assert f"params {a.totals['params']:,}" in repr(a)


def test_repr_html_is_a_compact_table() -> None:
    a = archprof.analyze("resnet50")
    html = a._repr_html_()
    assert html.startswith("<div>") and html.endswith("</div>") and len(html) < 5000
    assert html.count("<tr>") == 1 + 8 + 1            # header, 8 rows, "... more rows"
    assert "25,557,032" in html                        # torchvision ResNet-50 num_params
    assert "<td>stem.conv1.conv</td>" in html


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output == f"archprof, version {archprof.__version__}\n"


def test_json_receptive_field_and_jump_are_numbers(tmp_path) -> None:
    result = CliRunner().invoke(main, ["table", "lenet5", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    # LeNet-5: a 5x5 conv (rf 5, jump 1), then 2x2 pooling, stride 2 (rf 5 + 1 = 6, jump 2)
    assert rows["c1.conv"]["rf"] == 5 and rows["c1.conv"]["jump"] == 1
    assert rows["s2"]["rf"] == 6 and rows["s2"]["jump"] == 2
    spec = tmp_path / "strip.yaml"
    spec.write_text(NON_SQUARE)
    result = CliRunner().invoke(main, ["table", str(spec), "--format", "json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    # by hand, as [height, width]: a 1x3 window; then 3x1 with stride (1, 2): rf [1+2, 3] (square:
    # one number), jump [1, 2]; then 2x2/2 pooling: rf [3+1*1, 3+1*2] = [4, 5], jump [2, 4]
    assert (rows["a"]["rf"], rows["a"]["jump"]) == ([1, 3], 1)
    assert (rows["b"]["rf"], rows["b"]["jump"]) == (3, [1, 2])
    assert (rows["pool"]["rf"], rows["pool"]["jump"]) == ([4, 5], [2, 4])
    assert rows["pool"]["shape"] == "4x7x3"            # shapes stay CxHxW text
