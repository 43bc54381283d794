"""Shared helpers: tiny specs written to a temporary file."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """write_spec(layers_yaml, blocks_yaml="", input="[3, 32, 32]", params="{}") -> path of a
    one-network spec file named `net`."""
    def write(layers: str, blocks: str = "", input: str = "[3, 32, 32]", params: str = "{}",
              extra: str = "", name: str = "net") -> Path:
        indent = lambda text, n: "\n".join(" " * n + line for line in text.strip().splitlines())  # noqa: E731
        text = f"family: Test\nparams: {params}\n"
        if blocks:
            text += "blocks:\n" + indent(blocks, 2) + "\n"
        text += f"networks:\n  {name}:\n    input: {input}\n"
        if extra:
            text += indent(extra, 4) + "\n"
        text += "    layers:\n" + indent(layers, 6) + "\n"
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path
    return write
