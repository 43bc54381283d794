"""`archprof report`: benchmark the zoo with a sweep sized for this machine, then write every
chart and a README.md that embeds them with the environment and the command that made them.

Sizing: every network is measured at batch 1 first. On CUDA every batch size follows (an OOM is
recorded by the benchmark and the sweep goes on). On CPU, a larger batch size is measured only
when the batch-1 time per image says its forward pass takes at most `max_batch_ms`, and its
static memory estimate (activations at that batch plus weights, doubled for the allocator's
slack) fits in half the memory now available - a CPU out-of-memory kills the process instead
of raising an error the benchmark could record.
"""
from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from archprof.analysis import analyze
from archprof.figures.render import Column, formatted, render
from archprof.files import replacing
from archprof.measure.pick import MB, annotate, ok
from archprof.source import graph
from archprof.spec.load import registry
from archprof.units import human, megabytes

CANZIANI = ("Canziani et al. 2017 measured on an NVIDIA Jetson TX1 (embedded GPU, Torch7 + "
            "cuDNN v5) and counted operations as 2 per multiply-add plus bias, ReLU and pooling.")


def default_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def available_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def plan(batch1: pd.DataFrame, batch_sizes: Sequence[int], max_batch_ms: float,
         memory_bytes: float) -> dict[str, list[int]]:
    """network -> the batch sizes above 1 worth measuring on CPU, from batch-1 results."""
    out: dict[str, list[int]] = {}
    for row in ok(batch1[batch1["batch"] == 1]).itertuples():
        fits, made = [], graph(row.network)       # a callable is traced once, not per batch
        for b in sorted(b for b in batch_sizes if b > 1):
            t = analyze(made, batch=b).totals
            if (b * row.ms_per_image <= max_batch_ms
                    and 2 * (t["peak_bytes"] + t["param_bytes"]) <= memory_bytes / 2):
                fits.append(b)
        if fits:
            out[row.network] = fits
    return out


def command_line(out: Path, names: Sequence[str], device: str, batch_sizes: Sequence[int],
                 max_batch_ms: float, budget_s: float, ops: str, force: bool) -> str:
    """The command with every option spelled out, so that it reproduces the run."""
    args = ["archprof", "report", "--out", str(out), "--device", device,
            "--batch-sizes", ",".join(map(str, batch_sizes)), "--max-batch-ms", f"{max_batch_ms:g}",
            "--budget-s", f"{budget_s:g}", "--ops", ops, *(["--force"] if force else []), *names]
    return shlex.join(args)


def run(out: Path = Path("reports"), names: Sequence[str] = (), device: str | None = None,
        batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64), max_batch_ms: float = 2000.0,
        budget_s: float = 10.0, ops: str = "macs", force: bool = False,
        shard: tuple[int, int] | None = None) -> Path | None:
    """Sweep, chart, write OUT/README.md and OUT/index.html; returns the README path. With
    `shard` (k, n): only measure the k-th of n disjoint parts of the networks (balanced by
    MACs) and write no README (a run without shard, once every part is in OUT/results.csv,
    writes it)."""
    from archprof.measure.bench import load_results, shard_plan, sweep
    from archprof.progress import progress_bar
    device = device or default_device()
    command = command_line(out, names, device, batch_sizes, max_batch_ms, budget_s, ops, force)
    names = list(names) or sorted(registry())
    if shard is not None:
        names = [names[i] for i in shard_plan([analyze(graph(n)).totals["macs"] for n in names],
                                              *shard)]
    results_csv = out / "results.csv"
    options: dict[str, Any] = {"device": device, "out": results_csv, "budget_s": budget_s, "force": force}
    if device == "cpu":
        sweep(names, batch_sizes=(1,), **options)
        done = load_results([results_csv])
        done = done[done["network"].isin(names) & (done["device"] == device)]
        larger = plan(done, batch_sizes, max_batch_ms, available_bytes())
        with progress_bar(len(larger), "larger batches", unit="network") as bar:
            for network, batches in larger.items():
                sweep([network], batch_sizes=tuple(batches), progress=False, **options)
                bar.update()
    else:
        sweep(names, batch_sizes=tuple(batch_sizes), **options)
    if shard is not None:
        return None
    results = load_results([results_csv])
    return write_readme(out, results, command, ops)


def redraw(out: Path = Path("reports"), ops: str = "macs") -> Path:
    """Charts, README.md and index.html again from OUT/results.csv, measuring nothing; the
    README keeps the command that made the measurements."""
    from archprof.measure.bench import load_results
    readme = out / "README.md"
    previous = readme.read_text().split("```")[1].strip() if readme.exists() else ""
    command = previous or shlex.join(["archprof", "report", "--out", str(out), "--no-measure"])
    return write_readme(out, load_results([out / "results.csv"]), command, ops)


def write_readme(out: Path, results: pd.DataFrame, command: str, ops: str = "macs") -> Path:
    """Charts (PNG, SVG, PDF and CSV) into OUT/charts/, OUT/README.md embedding them and the
    static site OUT/index.html; all written atomically."""
    from archprof.figures.html import write_site
    from archprof.figures.plot import all_charts, save
    charts = all_charts(results, ops)
    redraw_hint = ("Redraw the charts, this README and index.html from the results alone with "
                   f"`archprof report --out {out} --no-measure`.")
    lines = ["# Efficiency of the archprof zoo, measured", "",
             f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; measured by:", "",
             "```", command, "```", "", redraw_hint,
             "Browse everything (charts, a page per network with its diagram) in "
             "[index.html](index.html).", "",
             *environment(results), "", *summary_table(results), ""]
    files = {}
    for chart in charts:
        paths = files[chart.name] = save(chart, out / "charts")
        lines += [f"## {chart.title}", ""]
        if paths:
            rel = [p.relative_to(out).as_posix() for p in paths]
            lines += [f"![{chart.title}]({rel[0]})", "",
                      "Also as " + ", ".join(f"[{p.rsplit('.', 1)[1].upper()}]({p})"
                                             for p in rel[1:]) + ".", ""]
        for setup, fit in chart.fits.items():
            lines.append(f"- least-squares line on {setup}: slope {fit.slope:.4g} {fit.slope_unit}, "
                         f"intercept {fit.intercept:.4g} {fit.intercept_unit}, R^2 {fit.r2:.4f} "
                         f"over {fit.n} networks")
        lines += [f"- {note}" for note in chart.notes] + [""]
    notes = out / "NOTES.md"            # kept by every redraw: e.g. before/after comparisons
    if notes.exists():
        lines += [notes.read_text()]
    out.mkdir(parents=True, exist_ok=True)
    write_site(out, results, charts, files, [f"Measured by: {command}", redraw_hint])
    readme = out / "README.md"
    with replacing(readme) as f:
        f.write("\n".join(lines))
    return readme


def environment(results: pd.DataFrame) -> list[str]:
    """Where the numbers come from, one line per measured setup, from the results rows."""
    lines = ["## Environment", ""]
    df = annotate(results)
    for setup, g in df.groupby("setup", sort=False):
        first = g.iloc[0]
        peak = pd.to_numeric(g["peak_macs_per_s"], errors="coerce").max()
        dates = sorted(g["date"].astype(str))
        lines.append(f"- **{setup}**: host {first['host']}, CPU {first['cpu']}, torch "
                     f"{first['torch']}, {first['dtype']}, threads {first['threads']}, "
                     f"{len(g)} configurations measured {dates[0][:10]} to {dates[-1][:10]}"
                     + (f"; matmul peak {human(peak)} MAC/s" if pd.notna(peak) else ""))
    lines += ["", f"{CANZIANI} Absolute times are "
              "therefore not comparable with theirs; the shapes of the curves (how time and "
              "memory grow with batch size, how time follows operations) are what to compare."]
    return lines


def summary_table(results: pd.DataFrame) -> list[str]:
    """Batch-1 numbers per network and setup, best top-1 first."""
    df = ok(annotate(results))
    df = df[df["batch"] == 1].sort_values(["setup", "top1"], ascending=[True, False])
    if df.empty:
        return []
    df = df.assign(gmacs=df["spec_macs"] / 1e9, memory_mb=df["mem_peak_bytes"] / MB,
                   frac=100 * pd.to_numeric(df["fraction_of_peak"], errors="coerce"))
    shown = {"top1": "{:.2f}".format, "gmacs": "{:.2f}".format, "ms_per_image": "{:.1f}".format,
             "images_per_s": "{:.1f}".format, "memory_mb": megabytes, "frac": "{:.1f}".format}
    df = formatted(df, shown)
    columns = [Column("setup", "setup"), Column("label", "network"), Column("top1", "top-1 %", "num"),
               Column("spec_params", "params", "human"), Column("gmacs", "G-MACs", "num"),
               Column("ms_per_image", "ms/image", "num"), Column("images_per_s", "images/s", "num"),
               Column("memory_mb", "peak MB", "num"), Column("frac", "% of matmul peak", "num")]
    return ["## At batch 1", "", render(df, columns, "markdown")]
