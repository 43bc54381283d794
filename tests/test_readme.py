"""Every `$ archprof ...` example in README.md prints what the README shows (`...` stands for
text left out: within a line, or as a whole line for any number of lines)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from archprof.cli import main

ROOT = Path(__file__).resolve().parent.parent


def examples() -> list[tuple[str, list[str]]]:
    found = []
    for block in re.findall(r"```text\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        command, expected = None, []
        for line in block.splitlines():
            if line.startswith("$ archprof "):
                if command:
                    found.append((command, expected))
                command, expected = line[2:], []
            elif command:
                expected.append(line)
        if command:
            found.append((command, expected))
    return found


def matches(expected: list[str], actual: list[str]) -> bool:
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    pattern = ".*".join(map(re.escape, head.split("...")))
    return bool(actual) and re.fullmatch(pattern, actual[0].rstrip()) is not None \
        and matches(rest, actual[1:])


@pytest.mark.parametrize("command, expected", examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_readme_example(command: str, expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, shlex.split(command)[1:], prog_name="archprof")
    actual = [line.rstrip() for line in result.output.splitlines()]
    expected = [e.rstrip() for e in expected]
    for lines in (actual, expected):       # blank lines closing an example are layout
        while lines and not lines[-1]:
            lines.pop()
    assert matches(expected, actual), "\n".join(actual)


def test_readme_has_examples() -> None:
    assert len(examples()) >= 5


def test_the_python_api_example_runs_and_gives_the_readme_numbers() -> None:
    """README's Python block, run as written; then what it made is checked: ResNet-50 v1 with
    stride in the 3x3 has torchvision's 25,557,032 params, the meta model the same count, and
    the sweep one row per (alpha, res) with MobileNet Table 6/7's 569M and 149M mult-adds at
    224 (alpha 1.0, 0.5)."""
    [block] = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    scope: dict = {}
    exec(block, scope)  # noqa: S102 - the project's own README
    assert scope["a"].totals["params"] == 25_557_032
    assert sum(p.numel() for p in scope["model"].parameters()) == 25_557_032
    df = scope["df"]
    assert len(df) == 4 and list(df["res"]) == [224, 160, 224, 160]
    assert [round(m / 1e6) for m in df[df["res"] == 224]["macs"]] == [569, 149]
