"""The efficiency charts of Canziani et al. 2017, regenerated from results files plus the specs.

Each chart function takes results already joined with the specs (archprof.measure.pick.annotate) and
returns a Chart: the matplotlib Figure (None when there is nothing honest to draw), the data it
plotted, notes for the caption (what was left out and why) and any line fits. Only this module
imports matplotlib, and only the Agg canvas: no pyplot, no global state, no display needed.

Operations: G-MACs (1 MAC = one multiply-accumulate) or G-FLOPs = 2 x MACs, as Canziani counted.
Memory: MB = 10^6 bytes. Accuracy: the spec's published top-1; networks without one are left out
of accuracy charts (and the caption says so), never given a value.
"""
from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, LogFormatter, NullFormatter, ScalarFormatter

from archprof.analysis import DTYPE_BYTES
from archprof.errors import SpecError
from archprof.measure.pick import MB, annotate, ok, pareto
from archprof.spec.load import registry

OPS = {"macs": (1, "G-MACs"), "flops": (2, "G-FLOPs (= 2 x MACs)")}
FORMATS = ("png", "svg", "pdf")
MAX_BUBBLE = 1600.0                    # area in points^2 of the largest bubble
SETUP_MARKERS = "osD^vP*X"
GOLDEN = 0.618033988749895
MIN_FIT_POINTS = 3                     # a line through two points always has R^2 = 1
NO_ACCURACY = "chart skipped: no network here has a top-1 in its spec"
FRONTIER_STYLE: dict[str, Any] = {"color": "0.2", "lw": 1.2, "ls": "--", "zorder": 1}


@dataclass
class Fit:
    """y = slope * x + intercept by least squares, with its coefficient of determination."""
    slope: float
    intercept: float
    r2: float
    n: int
    slope_unit: str = ""
    intercept_unit: str = ""


@dataclass
class Chart:
    name: str                           # file stem, e.g. "02_top1_vs_ops"
    title: str
    figure: Figure | None
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    fits: dict[str, Fit] = field(default_factory=dict)


# --- colours ---------------------------------------------------------------------------------
@cache
def _families() -> dict[str, tuple[str, int, int]]:
    """network -> (family, index in its family, family size), from the spec files' order."""
    try:
        specs = registry()
    except SpecError:
        return {}
    members: dict[str, list[str]] = {}
    for name, spec in specs.items():
        members.setdefault(spec.family, []).append(name)
    return {n: (fam, i, len(names)) for fam, names in members.items() for i, n in enumerate(names)}


def network_color(network: str) -> tuple[float, float, float]:
    """One colour per network in every figure: a hue per spec family (families sorted by
    name, hues spread by the golden ratio so neighbours differ), shaded from dark to light
    along the family's file order (resnet18 dark ... resnet152 light); networks outside
    specs/ get a hue from a hash of their name."""
    info = _families().get(network)
    if info is None:
        hue, t = (zlib.crc32(network.encode()) % 1000) / 1000, 0.5
    else:
        family, i, size = info
        families = sorted({fam for fam, _, _ in _families().values()})
        hue = (families.index(family) * GOLDEN) % 1.0
        t = i / (size - 1) if size > 1 else 0.5
    r, g, b = mcolors.hsv_to_rgb((hue, 0.9 - 0.35 * t, 0.5 + 0.4 * t))
    return float(r), float(g), float(b)


# --- helpers ---------------------------------------------------------------------------------
def fit_line(x: Sequence[float], y: Sequence[float], slope_unit: str = "",
             intercept_unit: str = "") -> Fit:
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    slope, intercept = np.polyfit(xs, ys, 1)
    ss_res = float(np.sum((ys - (slope * xs + intercept)) ** 2))
    ss_tot = float(np.sum((ys - ys.mean()) ** 2))
    return Fit(float(slope), float(intercept), 1 - ss_res / ss_tot if ss_tot else 1.0, len(xs),
               slope_unit, intercept_unit)


def bubble_areas(values: Sequence[float]) -> np.ndarray:
    """Marker areas (points^2) proportional to the values, the largest MAX_BUBBLE."""
    v = np.asarray(values, dtype=float)
    return v / v.max() * MAX_BUBBLE


def _figure(n_axes: int = 1, width: float = 9.0, height: float = 5.5,
            cols: int = 3) -> tuple[Figure, list[Axes]]:
    cols = min(n_axes, cols)
    rows = math.ceil(n_axes / cols)
    fig = Figure(figsize=(width * (cols if n_axes > 1 else 1) * (0.75 if n_axes > 1 else 1),
                          height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for extra in axes[n_axes:]:
        extra.remove()
    return fig, axes[:n_axes]


def _networks(df: pd.DataFrame) -> pd.DataFrame:
    """One row per network label with its spec facts (device-independent)."""
    cols = ["label", "network", "top1", "top5", "spec_params", "spec_macs"]
    return df[cols].drop_duplicates("label").reset_index(drop=True)


def _with_accuracy(df: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    missing = sorted(set(df.loc[df["top1"].isna(), "label"]))
    if missing:
        notes.append("left out, no ImageNet top-1 in the spec: " + ", ".join(missing))
    return df[df["top1"].notna()]


def _failures(df: pd.DataFrame, notes: list[str]) -> None:
    bad = df[df["status"].astype(str) != "ok"]
    for (label, setup, status), group in bad.groupby(["label", "setup", "status"]):
        batches = ", ".join(str(b) for b in sorted(group["batch"]))
        notes.append(f"{label} on {setup}: {status} at batch {batches}")


def _annotate_points(ax: Axes, x: Iterable[float], y: Iterable[float], labels: Iterable[str]) -> None:
    for xi, yi, label in zip(x, y, labels):
        ax.annotate(label, (xi, yi), xytext=(5, 4), textcoords="offset points", fontsize=8)


def _frontier(ax: Axes, x: np.ndarray, y: np.ndarray, on: np.ndarray, higher_x_better: bool) -> None:
    """The Pareto points ringed and joined by the staircase of the best accuracy reachable."""
    if not on.any():
        return
    order = np.argsort(x[on])
    ax.step(x[on][order], y[on][order], where="pre" if higher_x_better else "post",
            label="Pareto frontier", **FRONTIER_STYLE)
    ax.scatter(x[on], y[on], s=30, facecolors="none", edgecolors="k", linewidths=1.2, zorder=4)


def _legend_networks(fig: Figure, labels: Iterable[str], networks: Iterable[str],
                     extra: Sequence[Line2D] = ()) -> None:
    handles = [Line2D([], [], color=network_color(n), marker="o", ls="-", label=lab)
               for lab, n in dict(zip(labels, networks)).items()]
    fig.legend(handles=[*handles, *extra], loc="outside right upper", fontsize=8)


def _batch_axis(ax: Axes, batches: Iterable[int]) -> None:
    """Log2 batch axis labelled with the measured batch sizes as plain numbers."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(batches))))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("batch size")


def _log_y(ax: Axes) -> None:
    """Log y axis with plain numbers (60, not 6 x 10^1), minor ticks labelled when few decades."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))


def _ops_scale(ops: str) -> tuple[int, str]:
    if ops not in OPS:
        raise ValueError(f"ops must be one of {', '.join(OPS)}, not {ops!r}")
    return OPS[ops]


# --- the charts ------------------------------------------------------------------------------
def top1_bar(df: pd.DataFrame) -> Chart:
    """1. Top-1 accuracy per network."""
    notes: list[str] = []
    data = _with_accuracy(_networks(df), notes).sort_values("top1", kind="stable")
    if data.empty:
        return Chart("01_top1", "Top-1 accuracy per network", None, data, notes + [NO_ACCURACY])
    fig, (ax,) = _figure()
    bars = ax.bar(data["label"], data["top1"], color=[network_color(n) for n in data["network"]])
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_ylabel("top-1 accuracy (%), ImageNet val, single crop")
    ax.set_ylim(max(0.0, float(data["top1"].min()) - 10), 100)
    ax.tick_params(axis="x", rotation=45)
    ax.set_title("Top-1 accuracy per network")
    return Chart("01_top1", "Top-1 accuracy per network", fig, data.reset_index(drop=True), notes)


def top1_vs_ops(df: pd.DataFrame, ops: str = "macs") -> Chart:
    """2. Top-1 vs operations per image; bubble area proportional to parameters."""
    factor, unit = _ops_scale(ops)
    notes: list[str] = []
    data = _with_accuracy(_networks(df), notes).reset_index(drop=True)
    title = f"Top-1 vs {unit}, bubble area = parameters"
    if data.empty:
        return Chart("02_top1_vs_ops", title, None, data, notes + [NO_ACCURACY])
    data["gops"] = data["spec_macs"] * factor / 1e9
    data["area"] = bubble_areas(data["spec_params"])
    data["pareto"] = pareto(data["gops"], data["top1"])
    fig, (ax,) = _figure()
    ax.scatter(data["gops"], data["top1"], s=data["area"], alpha=0.6, edgecolors="k",
               linewidths=0.5, c=[network_color(n) for n in data["network"]], zorder=3)
    _frontier(ax, data["gops"].to_numpy(), data["top1"].to_numpy(), data["pareto"].to_numpy(), False)
    _annotate_points(ax, data["gops"], data["top1"], data["label"])
    ax.set_xlabel(f"operations per image, {unit}")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Top-1 vs operations (bubble area = parameters)")
    ax.margins(0.12)
    ax.legend(handles=[*_param_legend(data["spec_params"]),
                       Line2D([], [], label="Pareto frontier", **FRONTIER_STYLE)],
              loc="best", fontsize=8, labelspacing=1.5, borderpad=1)
    return Chart("02_top1_vs_ops", title, fig, data, notes)


def _param_legend(params: pd.Series) -> list[Line2D]:
    """Reference bubbles for the size legend, on the same area scale as the data."""
    top = float(params.max())
    refs = sorted({float(f"{v:.1g}") for v in (top, top / 4, top / 16) if v > 0}, reverse=True)
    return [Line2D([], [], ls="", marker="o", markersize=math.sqrt(r / top * MAX_BUBBLE),
                   markerfacecolor="none", markeredgecolor="0.3", label=f"{r / 1e6:g}M params")
            for r in refs]


def time_vs_batch(df: pd.DataFrame) -> Chart:
    """3. Inference time per image vs batch size, log-log, one line per network per setup."""
    notes: list[str] = []
    _failures(df, notes)
    data = ok(df)[["setup", "label", "network", "batch", "ms_per_image", "iqr_ms"]]
    data = data.sort_values(["setup", "label", "batch"]).reset_index(drop=True)
    title = "Inference time per image vs batch size"
    if data.empty:
        return Chart("03_time_vs_batch", title, None, data, notes + ["no successful measurements"])
    fig = _lines_vs_batch(data, "ms_per_image", "inference time per image (ms, median)", log=True)
    fig.suptitle(title)
    return Chart("03_time_vs_batch", title, fig, data, notes)


def _lines_vs_batch(data: pd.DataFrame, y: str, ylabel: str, log: bool) -> Figure:
    """One panel per setup (device and options), one line per network over batch sizes."""
    setups = list(dict.fromkeys(data["setup"]))
    fig, axes = _figure(len(setups))
    for ax, setup in zip(axes, setups):
        for label, g in data[data["setup"] == setup].groupby("label", sort=False):
            ax.plot(g["batch"], g[y], marker="o", label=label,
                    color=network_color(g["network"].iloc[0]))
        _batch_axis(ax, data["batch"])
        if log:
            _log_y(ax)
        ax.set_ylabel(ylabel)
        ax.set_title(setup, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    _legend_networks(fig, data["label"], data["network"])
    return fig


def memory_vs_batch(df: pd.DataFrame) -> Chart:
    """4. Memory vs batch size: measured peak (solid) and the static estimate (dashed) of the
    same quantity - weights and buffers plus the peak of live activations (input included)."""
    notes: list[str] = []
    data = ok(df)[["setup", "label", "network", "batch", "dtype", "spec_params", "spec_buffers",
                   "mem_peak_bytes", "mem_context_bytes", "static_peak_bytes"]].copy()
    width = data["dtype"].map(DTYPE_BYTES)
    data["measured_mb"] = data["mem_peak_bytes"] / MB
    data["static_mb"] = (data["static_peak_bytes"]
                         + (data["spec_params"] + data["spec_buffers"]) * width) / MB
    data = data.sort_values(["setup", "label", "batch"]).reset_index(drop=True)
    setups = list(dict.fromkeys(data["setup"]))
    if not setups:
        return Chart("04_memory_vs_batch", "Memory vs batch size", None, data,
                     ["no successful measurements"])
    fig, axes = _figure(len(setups))
    for ax, setup in zip(axes, setups):
        sub = data[data["setup"] == setup]
        if sub["measured_mb"].isna().all():
            notes.append(f"{setup}: memory not measured; static estimate only")
        for label, g in sub.groupby("label", sort=False):
            color = network_color(g["network"].iloc[0])
            ax.plot(g["batch"], g["measured_mb"], marker="o", color=color, label=label)
            ax.plot(g["batch"], g["static_mb"], ls="--", marker="x", color=color, alpha=0.8)
        _batch_axis(ax, data["batch"])
        _log_y(ax)
        ax.set_ylabel("peak memory (MB)")
        ax.set_title(setup, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    styles = [Line2D([], [], color="0.3", marker="o", label="measured peak"),
              Line2D([], [], color="0.3", ls="--", marker="x",
                     label="static: weights + peak live activations")]
    _legend_networks(fig, data["label"], data["network"], styles)
    fig.suptitle("Memory vs batch size")
    return Chart("04_memory_vs_batch", "Memory vs batch size", fig, data, notes)


def memory_vs_params(df: pd.DataFrame) -> Chart:
    """5. Measured peak memory at batch 1 vs parameters, with a linear fit per setup."""
    notes: list[str] = []
    data = ok(df)
    data = data[(data["batch"] == 1) & data["mem_peak_bytes"].notna()]
    data = data[["setup", "label", "network", "spec_params", "mem_peak_bytes"]].copy()
    data["params_m"] = data["spec_params"] / 1e6
    data["measured_mb"] = data["mem_peak_bytes"] / MB
    data = data.reset_index(drop=True)
    if data.empty:
        return Chart("05_memory_vs_params", "Memory vs parameters at batch 1", None, data,
                     ["no memory measured at batch 1"])
    fig, (ax,) = _figure()
    fits, handles = {}, []
    for k, (setup, g) in enumerate(data.groupby("setup", sort=False)):
        marker = SETUP_MARKERS[k % len(SETUP_MARKERS)]
        ax.scatter(g["params_m"], g["measured_mb"], marker=marker, s=50, zorder=3,
                   c=[network_color(n) for n in g["network"]], edgecolors="k", linewidths=0.5)
        _annotate_points(ax, g["params_m"], g["measured_mb"], g["label"])
        label = setup
        if g["params_m"].nunique() >= MIN_FIT_POINTS:
            fits[setup] = fit = fit_line(g["params_m"], g["measured_mb"], "MB per M params", "MB")
            xs = np.linspace(0, g["params_m"].max(), 50)
            ax.plot(xs, fit.slope * xs + fit.intercept, ls=":", color="0.3")
            label += (f": {fit.intercept:.0f} MB + {fit.slope:.2f} MB per M params "
                      f"(R$^2$ {fit.r2:.3f})")
        else:
            notes.append(f"{setup}: fewer than {MIN_FIT_POINTS} distinct points, no fit")
        handles.append(Line2D([], [], ls="", marker=marker, color="0.5", label=label))
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("peak memory at batch 1 (MB)")
    ax.set_title("Memory vs parameters, batch 1")
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    return Chart("05_memory_vs_params", "Memory vs parameters at batch 1", fig, data, notes, fits)


def ops_vs_time(df: pd.DataFrame, ops: str = "macs", batch: int = 1) -> Chart:
    """6. Operations per image vs inference time per image at `batch`, linear fit and R^2 per
    setup; the networks on the top-1 vs time Pareto frontier are ringed."""
    factor, unit = _ops_scale(ops)
    notes: list[str] = []
    data = ok(df)
    data = data[data["batch"] == batch][["setup", "label", "network", "top1", "spec_macs",
                                         "ms_per_image"]].copy()
    data["gops"] = data["spec_macs"] * factor / 1e9
    data["pareto"] = False
    for _, g in data[data["top1"].notna()].groupby("setup"):
        data.loc[g.index, "pareto"] = pareto(g["ms_per_image"], g["top1"])
    data = data.reset_index(drop=True)
    setups = list(dict.fromkeys(data["setup"]))
    title = f"{unit} vs inference time per image, batch {batch}"
    if not setups:
        return Chart("06_ops_vs_time", title, None, data, [f"no measurements at batch {batch}"])
    fig, axes = _figure(len(setups))
    fits = {}
    for ax, setup in zip(axes, setups):
        g = data[data["setup"] == setup]
        ax.scatter(g["ms_per_image"], g["gops"], s=50, zorder=3, edgecolors="k", linewidths=0.5,
                   c=[network_color(n) for n in g["network"]])
        on = g["pareto"].to_numpy()
        ax.scatter(g["ms_per_image"][on], g["gops"][on], s=160, facecolors="none",
                   edgecolors="k", linewidths=1.2, zorder=4, label="top-1 vs time Pareto frontier")
        _annotate_points(ax, g["ms_per_image"], g["gops"], g["label"])
        if g["ms_per_image"].nunique() >= MIN_FIT_POINTS:
            fits[setup] = fit = fit_line(g["ms_per_image"], g["gops"], f"{unit.split()[0]} per ms",
                                             unit.split()[0])
            xs = np.linspace(0, g["ms_per_image"].max() * 1.05, 50)
            ax.plot(xs, fit.slope * xs + fit.intercept, ls=":", color="0.3",
                    label=f"fit: {fit.slope:.3g} {unit.split()[0]}/ms, R$^2$ = {fit.r2:.3f}")
        else:
            notes.append(f"{setup}: fewer than {MIN_FIT_POINTS} distinct points, no fit")
        ax.set_xlabel(f"inference time per image (ms), batch {batch}")
        ax.set_ylabel(f"operations per image, {unit}")
        ax.set_title(setup, fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(True, alpha=0.3)
    missing = sorted(set(data.loc[data["top1"].isna(), "label"]))
    if missing:
        notes.append("not on any frontier, no ImageNet top-1 in the spec: " + ", ".join(missing))
    fig.suptitle(title)
    return Chart("06_ops_vs_time", title, fig, data, notes, fits)


def accuracy_density(df: pd.DataFrame) -> Chart:
    """7. Accuracy density: top-1 points per million parameters."""
    notes: list[str] = []
    data = _with_accuracy(_networks(df), notes).copy()
    data["density"] = data["top1"] / (data["spec_params"] / 1e6)
    data = data.sort_values("density", kind="stable").reset_index(drop=True)
    if data.empty:
        return Chart("07_accuracy_density", "Accuracy density (top-1 per M params)", None, data,
                     notes + [NO_ACCURACY])
    fig, (ax,) = _figure()
    bars = ax.bar(data["label"], data["density"], color=[network_color(n) for n in data["network"]])
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_ylabel("top-1 accuracy (%) per million parameters")
    ax.tick_params(axis="x", rotation=45)
    ax.set_title("Accuracy density")
    return Chart("07_accuracy_density", "Accuracy density (top-1 per M params)", fig, data, notes)


def top1_vs_throughput(df: pd.DataFrame, ops: str = "macs",
                       batches: Sequence[int] = (1, 16)) -> Chart:
    """8. Top-1 vs images/s at each batch size in `batches`, bubble area proportional to
    operations per image; Pareto frontier per panel (more images/s and more top-1 is better)."""
    factor, unit = _ops_scale(ops)
    notes: list[str] = []
    data = _with_accuracy(ok(df), notes)
    data = data[data["batch"].isin(batches)][["setup", "label", "network", "batch", "top1",
                                              "images_per_s", "spec_macs"]].copy()
    data["gops"] = data["spec_macs"] * factor / 1e9
    data["area"] = bubble_areas(data["gops"]) if len(data) else []
    data["pareto"] = False
    for _, g in data.groupby(["setup", "batch"]):
        data.loc[g.index, "pareto"] = pareto(-g["images_per_s"], g["top1"])
    data = data.reset_index(drop=True)
    panels, labels = [], set(data["label"])
    for setup in dict.fromkeys(data["setup"]):
        for b in batches:
            here = set(data.loc[(data["setup"] == setup) & (data["batch"] == b), "label"])
            if not here:
                notes.append(f"{setup}: nothing measured at batch {b}, no panel")
                continue
            panels.append((setup, b))
            if labels - here:
                notes.append(f"{setup}, batch {b}: not measured for "
                             + ", ".join(sorted(labels - here)))
    title = "Top-1 vs images/s (bubble area = operations)"
    if not panels:
        return Chart("08_top1_vs_throughput", title, None, data,
                     notes + [f"no measurements at batch {', '.join(map(str, batches))}"])
    fig, axes = _figure(len(panels), cols=len(batches))
    for ax, (setup, b) in zip(axes, panels):
        g = data[(data["setup"] == setup) & (data["batch"] == b)]
        ax.scatter(g["images_per_s"], g["top1"], s=g["area"], alpha=0.6, edgecolors="k",
                   linewidths=0.5, c=[network_color(n) for n in g["network"]], zorder=3)
        _frontier(ax, g["images_per_s"].to_numpy(), g["top1"].to_numpy(), g["pareto"].to_numpy(),
                  True)
        _annotate_points(ax, g["images_per_s"], g["top1"], g["label"])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"images per second, batch {b}")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(f"{setup}, batch {b}", fontsize=10)
        ax.margins(0.15)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{title}; largest bubble {data['gops'].max():.3g} {unit}")
    return Chart("08_top1_vs_throughput", title, fig, data, notes)


def power_vs_batch(df: pd.DataFrame) -> Chart:
    """9. Power vs batch size, only where the device reported it."""
    data = ok(df)
    data = data[pd.to_numeric(data["power_w"], errors="coerce").notna()]
    data = data[["setup", "label", "network", "batch", "power_w"]].astype({"power_w": float})
    data = data.sort_values(["setup", "label", "batch"]).reset_index(drop=True)
    title = "Power vs batch size"
    if data.empty:
        return Chart("09_power_vs_batch", title, None, data,
                     ["chart skipped: no device in these results reported power"])
    fig = _lines_vs_batch(data, "power_w", "power (W)", log=False)
    fig.suptitle(title)
    return Chart("09_power_vs_batch", title, fig, data)


def all_charts(results: pd.DataFrame, ops: str = "macs", fit_batch: int = 1,
               batches: Sequence[int] = (1, 16)) -> list[Chart]:
    """Every chart from raw results rows (joined with the specs here)."""
    df = annotate(results)
    return [top1_bar(df), top1_vs_ops(df, ops), time_vs_batch(df), memory_vs_batch(df),
            memory_vs_params(df), ops_vs_time(df, ops, fit_batch), accuracy_density(df),
            top1_vs_throughput(df, ops, batches), power_vs_batch(df)]


def save(chart: Chart, out: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write the figure in each format, atomically (temp file + os.replace)."""
    if chart.figure is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out / f"{chart.name}.{fmt}"
        tmp = out / f".{chart.name}.{fmt}.tmp"
        chart.figure.savefig(tmp, format=fmt, dpi=150)
        os.replace(tmp, path)
        paths.append(path)
    return paths
