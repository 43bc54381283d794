"""The whole zoo at a glance: one row per network of specs/."""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from itertools import product
from typing import TYPE_CHECKING, Any

from archprof.analysis import analyze
from archprof.progress import progress_bar
from archprof.source import graph, is_callable_ref, parameters
from archprof.spec import memo
from archprof.spec.expand import expand
from archprof.spec.load import IMAGENET, load_spec, registry

if TYPE_CHECKING:        # pandas is imported by what returns a DataFrame, not by `list`
    import pandas as pd


def overview() -> pd.DataFrame:
    import pandas as pd
    return pd.DataFrame(overview_columns())


def overview_columns() -> dict[str, list[Any]]:
    """`overview` as plain columns (what `archprof list` prints, without pandas)."""
    columns: dict[str, list[Any]] = {}
    for name, spec in sorted(registry().items()):
        t = analyze(spec).totals
        row = {"name": name, "title": spec.title, "year": spec.year, "input": t["input"],
               "params": t["params"], "macs": t["macs"], "activations": t["activations"],
               "peak_activations": t["peak_activations"],
               "top1": spec.accuracy.get("top1"), "top5": spec.accuracy.get("top5"),
               "dataset": spec.accuracy.get("dataset", IMAGENET) if spec.accuracy else None}
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    return columns


def compare(names: list[str], params: dict | None = None) -> pd.DataFrame:
    """Totals of several networks side by side, with ratios to the first."""
    import pandas as pd
    rows = []
    for name in names:
        a = analyze(graph(name, _known(name, params)))
        rows.append({"name": a.spec.name, "input": a.totals["input"], "params": a.totals["params"],
                     "macs": a.totals["macs"], "activations": a.totals["activations"],
                     "peak_activations": a.totals["peak_activations"],
                     "param_mb": a.totals["param_bytes"] / 1e6, "top1": a.spec.accuracy.get("top1")})
    df = pd.DataFrame(rows)
    for key in ("params", "macs", "activations"):
        df[f"{key}_ratio"] = df[key] / df[key].iloc[0]
    return df


PROGRESS_FROM = 2_000     # variants: a grid this long shows a progress bar (on a terminal)


def sweep(name: str, grid: dict[str, list], inputs: Sequence[tuple | None] | None = None,
          progress: bool | None = None) -> pd.DataFrame:
    """One row per combination of parameter values (and input shapes). A spec is loaded once;
    blocks and rows repeated across variants are expanded once (archprof.spec.memo).
    `progress`: a bar on stderr (when it is a terminal); by default for long grids."""
    import pandas as pd
    source: Any = name if is_callable_ref(name) else load_spec(name)
    keys = list(grid)
    shapes: list[tuple | None] = list(inputs) if inputs else [None]
    variants = [(dict(zip(keys, values)), shape)
                for values in product(*grid.values()) for shape in shapes]
    rows = []
    traced = isinstance(source, str)        # a module's trace makes cycles: collect as usual
    with progress_bar(len(variants), f"sweep {name}", unit="variant",
                      enabled=len(variants) >= PROGRESS_FROM if progress is None else progress) as bar, \
            (nullcontext() if traced else memo.collector_paused()):
        for params, shape in variants:
            made = (graph(source, params, shape) if isinstance(source, str)
                    else expand(source, params, shape))
            t = analyze(made).totals
            rows.append({**params, "input": t["input"], "params": t["params"], "macs": t["macs"],
                         "activations": t["activations"], "peak_activations": t["peak_activations"]})
            bar.update()
    return pd.DataFrame(rows)


def _known(name: str, params: dict | None) -> dict:
    """The overrides that this network has (compare applies --param to all that know it)."""
    known = parameters(name)
    return {k: v for k, v in (params or {}).items() if k in known}
