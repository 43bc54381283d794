"""Static memory against measured memory, per network and batch, from a bench results file.

Inference rows: archprof's static peak of live activations (`static_peak_bytes`: the most
bytes alive at once in the forward, each tensor freed after its last reader) against what the
device allocated beyond the context during the forward (`mem_peak_bytes - mem_context_bytes`:
on CUDA max_memory_allocated minus memory_allocated before it; the context is the weights,
buffers and input). The context itself is checked against (params + buffers + input) x dtype
bytes. Training rows: the static peak of a steady-state step (weights, gradients, optimizer
state, saved activations and the step's transient tensors, archprof.training) against the
measured peak of the whole step. Last, where measured memory leaves its flat part: a line
fitted to peak memory against batch size (least squares); the batch at which the per-image
part equals the fixed part (intercept / slope) is where memory has doubled from "flat".

Run: python benchmarks/static_vs_measured.py reports/gpu/results.csv [--device cuda:0]
Prints markdown tables (reports/NOTES.md holds the committed ones).
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import archprof
from archprof.analysis import DTYPE_BYTES
from archprof.ir.ops import numel
from archprof.measure.bench import load_results

MB = 2**20


def context_bytes(network: str, batch: int, dtype: str) -> int:
    """(params + buffers) of the spec plus one input batch, in dtype bytes."""
    a = archprof.analyze(network)
    return (a.totals["params"] + a.totals["buffers"] + batch * numel(a.graph.input)) \
        * DTYPE_BYTES[dtype]


def table(rows: pd.DataFrame, batches: list[int], training: bool) -> str:
    head = "| network | " + " | ".join(f"batch {b}: static / measured MiB" for b in batches) + " |"
    lines = [head, "|---|" + "---:|" * len(batches)]
    for network, g in rows.groupby("network", sort=False):
        cells = []
        for b in batches:
            r = g[g["batch"] == b]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            static = r["static_peak_bytes"]
            measured = r["mem_peak_bytes"] - (0 if training else r["mem_context_bytes"])
            error = 100 * (measured / static - 1)
            cells.append(f"{static / MB:,.1f} / {measured / MB:,.1f} ({error:+.0f} %)")
        lines.append(f"| {network} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def context_check(rows: pd.DataFrame) -> str:
    """Measured minus static context (MiB) at each batch size: what the device holds beyond
    the weights, buffers and input before a forward."""
    batches = sorted(rows["batch"].unique())
    lines = ["| network | dtype | static MiB at batch 1 | " + " | ".join(
        f"measured - static, batch {b}" for b in batches) + " |", "|---|---|" + "---:|" * (
        len(batches) + 1)]
    for (network, dtype), g in rows.groupby(["network", "dtype"], sort=False):
        extra = []
        for b in batches:
            r = g[g["batch"] == b]
            if not r.empty:
                beyond = r["mem_context_bytes"].iloc[0] - context_bytes(network, b, dtype)
            extra.append("" if r.empty else f"{beyond / MB:+,.2f}")
        lines.append(f"| {network} | {dtype} | {context_bytes(network, 1, dtype) / MB:,.2f} | "
                     + " | ".join(extra) + " |")
    return "\n".join(lines)


def flat_part(rows: pd.DataFrame) -> str:
    lines = ["| network | fixed MiB (intercept) | MiB per image (slope) | doubles at batch | R^2 |",
             "|---|---:|---:|---:|---:|"]
    for network, g in rows.groupby("network", sort=False):
        if g["batch"].nunique() < 3:
            continue
        x, y = g["batch"].to_numpy(float), g["mem_peak_bytes"].to_numpy(float) / MB
        slope, intercept = np.polyfit(x, y, 1)
        r2 = 1 - ((y - (slope * x + intercept)) ** 2).sum() / ((y - y.mean()) ** 2).sum()
        lines.append(f"| {network} | {intercept:,.1f} | {slope:,.2f} | {intercept / slope:,.1f} "
                     f"| {r2:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--device", default=None, help="only rows of this device (cuda:0, cpu)")
    args = parser.parse_args()
    df = load_results(args.results)
    df = df[df["status"] == "ok"]
    if args.device:
        df = df[df["device"] == args.device]
    for (mode, dtype), g in df.groupby(["mode", "dtype"], sort=False):
        batches = sorted(g["batch"].unique())
        if len(batches) > 5:
            batches = [b for b in batches if b in (1, 4, 16, 64)] or batches[:5]
        print(f"\n### {mode}, {dtype}: {g['device_name'].iloc[0]}\n")
        print(table(g, batches, mode != "inference"))
    for dtype, g in df[df["mode"] == "inference"].groupby("dtype", sort=False):
        print(f"\n### measured peak memory against batch, inference {dtype}\n")
        print(flat_part(g))
    inference = df[(df["mode"] == "inference") & df["batch"].isin([1, 64])]
    print("\n### context (weights, buffers, input) at batch 1 and 64\n")
    print(context_check(inference))


if __name__ == "__main__":
    main()
