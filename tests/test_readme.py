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
