"""Architecture diagrams: what the DOT text says (boxes, shapes, repeats, branches, numbers),
checked against the spec's structure and hand arithmetic; rendering through Graphviz."""
from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from archprof import analyze
from archprof.cli import main
from archprof.figures import draw
from archprof.ir.graph import INPUT, Graph


def boxes(dot: str) -> dict[str, str]:
    """node id -> its label (with real newlines)."""
    return {m[1]: m[2].replace("\\n", "\n")
            for m in re.finditer(r'^\s*(n\d+|input) \[label="((?:[^"\\]|\\.)*)"', dot, re.M)}


def edges(dot: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+);", dot, re.M)


def test_resnet50_stages_fold_their_repeats() -> None:
    """Depth 1: stem, the four stages of Table 1 (3, 4, 6, 3 bottleneck blocks), head, as a
    chain from the input."""
    dot = draw.to_dot(analyze("resnet50"))
    labels = boxes(dot)
    assert labels["input"] == "input 3x224x224"
    stages = [labels[f"n{i}"].split("\n") for i in range(6)]
    assert [s[0] for s in stages] == ["stem", "conv2_x  (block x3)", "conv3_x  (block x4)",
                                      "conv4_x  (block x6)", "conv5_x  (block x3)", "head"]
    assert [s[-1] for s in stages] == ["64x56x56", "256x56x56", "512x28x28", "1024x14x14",
                                       "2048x7x7", "1000"]
    assert edges(dot) == [("input", "n0")] + [(f"n{i}", f"n{i + 1}") for i in range(5)]


def test_identical_blocks_fold_and_params_add_up_by_hand() -> None:
    """Depth 2: block1 of a stage differs (projection shortcut), blocks 2..N are one box.
    conv2_x of ResNet-50, by hand: block1 = 1x1 64->64 (4,096) + 3x3 64->64 (36,864) + 1x1
    64->256 (16,384) + BN 2*(64+64+256) (768) + projection 64->256 (16,384) + BN (512) = 75,008;
    blocks 2-3 each = 16,384 + 36,864 + 16,384 + 768 = 70,400, both 140,800."""
    labels = boxes(draw.to_dot(analyze("resnet50"), depth=2, params=True)).values()
    block1 = next(lab for lab in labels if lab.startswith("block1\n") and "256x56x56" in lab)
    rest = next(lab for lab in labels if lab.startswith("block2 .. block3  x2"))
    assert block1.endswith("params 75.01K") and rest.endswith("params 140.80K (all)")
    assert sum(lab.startswith("block2 .. block6  x5") for lab in labels) == 1      # conv4_x
    assert analyze("resnet50").collapsed(1).set_index("name").loc["conv2_x", "params"] == (
        75_008 + 2 * 70_400)


def test_residual_add_and_shortcut_are_drawn() -> None:
    """Depth 3: inside a block the add is a '+' node fed by conv3 and by the shortcut, which
    comes from the previous block's output (a branch around the convolutions)."""
    dot = draw.to_dot(analyze("resnet18"), depth=3)
    labels = boxes(dot)
    adds = [i for i, lab in labels.items() if lab.startswith("+\n")]
    # conv2_x's two blocks are identical (64 channels in and out) and fold into one; in the
    # other stages block1 projects its shortcut: 1 + 3 x 2 adds.
    assert len(adds) == 7
    for add in adds:
        assert len([e for e in edges(dot) if e[1] == add]) == 2


def test_inception_branches_meet_in_a_concat() -> None:
    dot = draw.to_dot(analyze("googlenet"), depth=2)
    labels = boxes(dot)
    concats = [i for i, lab in labels.items() if lab.startswith("concat\n")]
    assert len(concats) == 9                                   # 3a, 3b, 4a-4e, 5a, 5b
    assert labels[concats[0]] == "concat\n256x28x28"           # 64 + 128 + 32 + 32
    assert all(len([e for e in edges(dot) if e[1] == c]) == 4 for c in concats)


def traced_like(name: str) -> Graph:
    """The spec's graph renamed as torchvision names a ResNet ('layer2.0.conv1...'), i.e. with
    no trace of the spec's `repeat`."""
    graph = analyze(name).graph
    stage = {"conv2_x": "layer1", "conv3_x": "layer2", "conv4_x": "layer3", "conv5_x": "layer4"}

    def rename(n: str) -> str:
        if n == INPUT:
            return n
        parts = n.split(".")
        if parts[0] in stage:
            parts[0] = stage[parts[0]]
            parts[1] = str(int(parts[1].removeprefix("block")) - 1)
        return ".".join(parts)

    nodes = [replace(n, name=rename(n.name), inputs=[rename(i) for i in n.inputs])
             for n in graph.nodes]
    renamed = Graph(graph.spec, graph.input, graph.params)
    renamed.extend(nodes)
    return renamed


def test_traced_names_fold_by_structure() -> None:
    """Numbered children with identical structure fold without any repeat information:
    ResNet-34's layer3 has 6 blocks, 1..5 identical (0 projects its shortcut); layer1's three
    blocks are all identical (64 channels in and out, no projection)."""
    dot = draw.to_dot(analyze(traced_like("resnet34")), depth=2)
    labels = list(boxes(dot).values())
    assert any(lab.startswith("1 .. 5  x5\n") and lab.endswith("256x14x14") for lab in labels)
    assert any(lab.startswith("0 .. 2  x3\n") and lab.endswith("64x56x56") for lab in labels)
    assert 'label="layer3  (block x6)"' in dot


def test_dot_needs_no_graphviz_and_other_formats_say_so(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    path = draw.render(draw.to_dot(analyze("alexnet")), tmp_path / "a.dot")
    assert path.read_text().startswith('digraph "alexnet" {')
    with pytest.raises(draw.GraphvizMissing, match="apt-get install graphviz"):
        draw.render("digraph {}", tmp_path / "a.svg")
    result = CliRunner().invoke(main, ["draw", "alexnet", "-o", str(tmp_path / "a.png")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "Graphviz" in result.output


def test_cli_draw_writes_dot_with_folded_stages(tmp_path: Path) -> None:
    out = tmp_path / "x.dot"
    result = CliRunner().invoke(main, ["draw", "resnet50", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert re.findall(r"block x(\d+)", out.read_text()) == ["3", "4", "6", "3"]
    bad = CliRunner().invoke(main, ["draw", "resnet50", "-o", str(tmp_path / "x.jpg")])
    assert bad.exit_code == 2 and bad.output.startswith("error:")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize("fmt, magic", [("svg", b"<svg"), ("pdf", b"%PDF"), ("png", b"\x89PNG")])
def test_graphviz_renders(tmp_path: Path, fmt: str, magic: bytes) -> None:
    path = draw.render(draw.to_dot(analyze("resnet50")), tmp_path / f"r.{fmt}")
    data = path.read_bytes()
    assert magic in data[:400]
    if fmt == "svg":
        assert b"conv4_x" in data and b"x6)" in data


def test_recurrent_layers_are_drawn_as_dense_layers(write_spec) -> None:  # noqa: ANN001
    path = write_spec("- {lstm: 16, name: seq}\n- {select: 0, index: -1, name: last}\n"
                      "- {linear: 5, name: fc}", input="[10, 8]")
    dot = draw.to_dot(analyze(str(path)), depth=1)
    fills = dict(re.findall(r'^\s*(n\d+) \[label=.*fillcolor="(#\w+)"', dot, re.M))
    labels = {label.split("\n")[0]: fills[node] for node, label in boxes(dot).items()
              if node in fills}
    assert labels["seq"] == labels["fc"] == draw.FILL["linear"]
    assert labels["last"] == draw.FILL["pool"]
