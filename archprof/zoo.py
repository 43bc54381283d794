"""The whole zoo at a glance: one row per network of specs/."""
from __future__ import annotations

import pandas as pd

from archprof.analysis import analyze
from archprof.spec import registry


def overview() -> pd.DataFrame:
    rows = []
    for name, spec in sorted(registry().items()):
        t = analyze(spec).totals
        rows.append({"name": name, "title": spec.title, "year": spec.year, "input": t["input"],
                     "params": t["params"], "macs": t["macs"], "activations": t["activations"],
                     "peak_activations": t["peak_activations"],
                     "top1": spec.accuracy.get("top1"), "top5": spec.accuracy.get("top5")})
    return pd.DataFrame(rows)
