"""The whole zoo at a glance: one row per network of specs/."""
from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import pandas as pd

from archprof.analysis import analyze
from archprof.source import graph, parameters
from archprof.spec.load import IMAGENET, registry


def overview() -> pd.DataFrame:
    rows = []
    for name, spec in sorted(registry().items()):
        t = analyze(spec).totals
        rows.append({"name": name, "title": spec.title, "year": spec.year, "input": t["input"],
                     "params": t["params"], "macs": t["macs"], "activations": t["activations"],
                     "peak_activations": t["peak_activations"],
                     "top1": spec.accuracy.get("top1"), "top5": spec.accuracy.get("top5"),
                     "dataset": spec.accuracy.get("dataset", IMAGENET) if spec.accuracy else None})
    return pd.DataFrame(rows)


def compare(names: list[str], params: dict | None = None) -> pd.DataFrame:
    """Totals of several networks side by side, with ratios to the first."""
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


def sweep(name: str, grid: dict[str, list],
          inputs: Sequence[tuple | None] | None = None) -> pd.DataFrame:
    """One row per combination of parameter values (and input shapes)."""
    rows = []
    keys = list(grid)
    for values in product(*grid.values()):
        for shape in inputs or [None]:
            a = analyze(graph(name, dict(zip(keys, values)), shape))
            rows.append({**dict(zip(keys, values)), "input": a.totals["input"],
                         "params": a.totals["params"], "macs": a.totals["macs"],
                         "activations": a.totals["activations"],
                         "peak_activations": a.totals["peak_activations"]})
    return pd.DataFrame(rows)


def _known(name: str, params: dict | None) -> dict:
    """The overrides that this network has (compare applies --param to all that know it)."""
    known = parameters(name)
    return {k: v for k, v in (params or {}).items() if k in known}
