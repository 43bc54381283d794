"""Results joined with the specs, the Pareto frontier, and `pick`: which networks fit a budget.

Accuracy and parameter counts come from the specs (archprof.analyze), timings and memory from
results files written by archprof.measure.bench. No matplotlib here: `archprof pick` stays light.

Units: memory in MB = 10^6 bytes; latency = median time of one batch (`median_ms`), which for
batch 1 is the time per image.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import yaml

from archprof.analysis import analyze
from archprof.errors import SpecError
from archprof.source import graph, is_callable_ref
from archprof.spec.load import imagenet_accuracy, load_spec

MB = 1e6
# Benchmark options that, when they differ between rows, make two rows different setups.
# mode: inference or train-<optimizer>
OPTION_COLUMNS = ("dtype", "channels_last", "compile", "threads", "mode")


def parse_params(text: Any) -> dict[str, Any]:
    """'k=v;k=v' (as bench writes it) -> {k: v}, values read as YAML scalars ('false' -> False)."""
    if not isinstance(text, str) or not text.strip():
        return {}
    out = {}
    for item in text.split(";"):
        key, _, raw = item.partition("=")
        out[key.strip()] = yaml.safe_load(raw)
    return out


def parse_input(text: Any) -> tuple[int, ...] | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return tuple(int(v) for v in text.lower().split("x"))


@cache
def spec_facts(network: str, params: str = "", input: str = "") -> dict[str, Any]:
    """top-1/top-5 (None when the spec gives none), params and MACs per image from the spec;
    a MODULE:CALLABLE's from its module traced again, with no accuracy (none is known)."""
    if is_callable_ref(network):
        made = graph(network, parse_params(params), parse_input(input))
        t = analyze(made).totals
        return {"top1": None, "top5": None, "params": t["params"], "buffers": t["buffers"],
                "macs": t["macs"], "title": made.spec.title}
    spec = load_spec(network)
    t = analyze(spec, input=parse_input(input), params=parse_params(params)).totals
    acc = imagenet_accuracy(spec)
    return {"top1": acc.get("top1"), "top5": acc.get("top5"), "params": t["params"],
            "buffers": t["buffers"], "macs": t["macs"], "title": spec.title}


def no_accuracy(network: str) -> str:
    """Why a network has no top-1, for notes."""
    return ("a traced module, its accuracy is not known" if is_callable_ref(network)
            else "no top-1 in its spec")


def annotate(results: pd.DataFrame) -> pd.DataFrame:
    """Results plus, per row: `label` (network, with its params and, when it varies, input),
    `setup` (device, with the options that vary between rows), and from the specs `top1`,
    `top5`, `spec_params`, `spec_buffers`, `spec_macs`. Networks whose spec cannot be found
    keep the results' own static counts and get no accuracy. Nullable integer columns become
    floats (NaN where empty), which is what arithmetic and matplotlib expect."""
    df = results.copy().reset_index(drop=True)
    for col in df.columns:
        if isinstance(df[col].dtype, pd.Int64Dtype) and col not in ("threads", "runs"):
            df[col] = df[col].astype(float)
    df["batch"] = df["batch"].astype(int)
    for col in ("params", "input", "device_name", "host"):
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else str(v))
    facts = []
    for net, params, inp, macs, n_params in zip(df["network"], df["params"], df["input"],
                                                df["macs"], df["model_params"]):
        try:
            facts.append(spec_facts(str(net), params, inp))
        except SpecError:
            facts.append({"top1": None, "top5": None, "params": n_params, "buffers": 0,
                          "macs": macs, "title": str(net)})
    df["top1"] = pd.to_numeric(pd.Series([f["top1"] for f in facts], dtype=object), errors="coerce")
    df["top5"] = pd.to_numeric(pd.Series([f["top5"] for f in facts], dtype=object), errors="coerce")
    df["spec_params"] = [f["params"] for f in facts]
    df["spec_buffers"] = [f["buffers"] for f in facts]
    df["spec_macs"] = [f["macs"] for f in facts]
    inputs_per_net = df.groupby("network")["input"].transform("nunique")
    df["label"] = [net + (f" [{p.replace(';', ', ')}]" if p else "") + (f" @{i}" if n > 1 else "")
                   for net, p, i, n in zip(df["network"], df["params"], df["input"], inputs_per_net)]
    df["setup"] = _setups(df)
    return df


def _setups(df: pd.DataFrame) -> pd.Series:
    """'Intel Xeon (cpu)' - plus the host when one device name comes from several hosts, plus
    each option that is not the same in every row (e.g. 'float16', 'channels_last')."""
    name = [(d or dev) + (f" ({dev})" if d and d != dev else "")
            for d, dev in zip(df["device_name"], df["device"].astype(str))]
    out = pd.Series(name, index=df.index)
    hosts = df.groupby(out)["host"].transform("nunique")
    out = out.where(hosts <= 1, out + " @" + df["host"])
    for col in OPTION_COLUMNS:
        if col not in df or df[col].astype(str).nunique() <= 1:
            continue
        out = out + ", " + df[col].map(lambda v, c=col: _option(c, v))
    return out


def _option(col: str, value: Any) -> str:
    on = str(value).strip().lower() in ("true", "1")
    if col == "channels_last":
        return "channels_last" if on else "NCHW"
    if col == "compile":
        return "compiled" if on else "eager"
    if col == "threads":
        return f"{value} threads"
    return str(value)


def ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"].astype(str) == "ok"]


def pareto(cost: Sequence[float], gain: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point beats: none has cost <= and gain >= with one
    of the two strictly better. Lower cost and higher gain are better (negate to flip)."""
    c, g = np.asarray(cost, dtype=float), np.asarray(gain, dtype=float)
    keep = np.ones(len(c), dtype=bool)
    for i in range(len(c)):
        dominated = (c <= c[i]) & (g >= g[i]) & ((c < c[i]) | (g > g[i]))
        keep[i] = not dominated.any()
    return keep


COLUMNS = ["setup", "label", "network", "params", "batch", "top1", "top5", "latency_ms",
           "ms_per_image", "images_per_s", "memory_mb", "spec_params", "spec_macs", "pareto"]


def pick(results: pd.DataFrame, batch: int = 1, max_latency_ms: float | None = None,
         max_memory_mb: float | None = None, max_params: float | None = None,
         device: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The networks whose measured config at `batch` fits every budget given, best top-1 first
    (networks without a published top-1 after, fastest first), one block per setup; `pareto`
    marks the fitting networks no other fitting one beats on both latency and top-1. Returns
    the table and notes on what was left out and why."""
    df = annotate(results)
    if device:
        df = df[df["device"].astype(str).eq(device) | df["setup"].str.contains(device, regex=False)]
    df = df[df["batch"] == batch]
    notes = []
    if df.empty:
        return pd.DataFrame(columns=COLUMNS), [
            f"no results at batch {batch}" + (f" on '{device}'" if device else "")]
    failed = df[df["status"].astype(str) != "ok"]
    for row in failed.itertuples():
        notes.append(f"{row.label} on {row.setup}: {row.status} at batch {batch}")
    df = ok(df).assign(latency_ms=lambda d: d["median_ms"],
                       memory_mb=lambda d: d["mem_peak_bytes"] / MB)
    fits = pd.Series(True, index=df.index)
    if max_latency_ms is not None:
        fits &= df["latency_ms"] <= max_latency_ms
    if max_memory_mb is not None:
        unknown = df["memory_mb"].isna()
        for row in df[unknown].itertuples():
            notes.append(f"{row.label} on {row.setup}: memory not measured, left out")
        fits &= ~unknown & (df["memory_mb"] <= max_memory_mb)
    if max_params is not None:
        fits &= df["spec_params"] <= max_params
    out = df[fits].copy()
    out["pareto"] = False
    for _, group in out.groupby("setup"):
        known = group[group["top1"].notna()]
        out.loc[known.index, "pareto"] = pareto(known["latency_ms"], known["top1"])
    out["has_top1"] = out["top1"].notna()
    out = out.sort_values(["setup", "has_top1", "top1", "latency_ms"],
                          ascending=[True, False, False, True], kind="stable")
    for row in out[~out["has_top1"]].itertuples():
        notes.append(f"{row.label} on {row.setup}: {no_accuracy(row.network)}, listed last")
    return out[COLUMNS].reset_index(drop=True), notes
