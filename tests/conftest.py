"""Shared helpers: tiny specs written to a temporary file; a cache folder of the session's."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def spec_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Parsed specs are kept in a folder of the test session's, never in the user's cache."""
    folder = tmp_path_factory.mktemp("archprof-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARCHPROF_CACHE", str(folder))
        yield folder


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
