"""The efficiency charts of Canziani et al. 2017, regenerated from results files plus the specs.

Each chart function takes results already joined with the specs (archprof.measure.pick.annotate) and
returns a Chart: the matplotlib Figure (None when there is nothing honest to draw), the data it
plotted, notes for the caption (what was left out and why) and any line fits. Only archprof.figures
imports matplotlib, and only the Agg canvas: no pyplot, no global state, no display needed.

Every chart is drawn for a reader of a paper: one colour per network, a hue per family
(archprof.figures.colors), the same in every chart; labels placed on the rendered figure so
that none overlaps another or covers a point (archprof.figures.place); legends inside the
canvas (constrained layout); log axes where the data spans decades; bubbles with grey centre
dots and a size legend. Line charts over batch size with many networks become small multiples,
one panel per family, each line labelled at its end.

Operations: G-MACs (1 MAC = one multiply-accumulate) or G-FLOPs = 2 x MACs, as Canziani counted.
Memory: MB = 10^6 bytes. Accuracy: the spec's published top-1; networks without one are left out
of accuracy charts (and the caption says so), never given a value.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    MaxNLocator,
    NullFormatter,
    NullLocator,
    ScalarFormatter,
)

from archprof.analysis import DTYPE_BYTES
from archprof.figures.colors import family, family_color, network_color
from archprof.figures.place import Marker, freeze_layout, markers, place, polyline
from archprof.figures.presets import CANZIANI, PRESETS
from archprof.files import replacing
from archprof.measure.pick import MB, annotate, ok, pareto
from archprof.source import is_callable_ref

__all__ = ["CANZIANI", "PRESETS", "family", "network_color"]    # re-exported for callers

OPS = {"macs": (1, "G-MACs"), "flops": (2, "G-FLOPs (= 2 x MACs)")}
FORMATS = ("png", "svg", "pdf")
MAX_BUBBLE = 1200.0                    # area in points^2 of the largest bubble
DOT = 9.0                              # area of the grey centre dots and of plain markers' dots
SCATTER = 40.0                         # area of plain scatter markers
LINE_MARKER = 4.0                      # marker size (points) on lines over batch size
SETUP_MARKERS = "osD^vP*X"
MIN_FIT_POINTS = 3                     # a line through two points always has R^2 = 1
DIRECT_MAX = 10                        # up to this many networks share one panel
LOG_SPAN = 30.0                        # data spanning more than this ratio gets a log axis
NO_ACCURACY = "chart skipped: no network here has a top-1 in its spec"
FRONTIER_STYLE: dict[str, Any] = {"color": "0.2", "lw": 1.0, "ls": "--", "zorder": 2}
SAVE_RC: Any = {"svg.hashsalt": "archprof", "pdf.fonttype": 42, "ps.fonttype": 42}  # stubs: literal keys
METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


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


# --- selection -------------------------------------------------------------------------------
def select(results: pd.DataFrame, networks: Sequence[str] = (),
           families: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of the named networks and of the named families (case-insensitive); all rows when
    neither is given. Unknown names raise ValueError listing what the results hold."""
    if not networks and not families:
        return results
    held = sorted(set(results["network"].astype(str)))
    missing = [n for n in networks if n not in held]
    if missing:
        raise ValueError(f"not in these results: {', '.join(missing)} (they hold "
                         f"{', '.join(held)})")
    fams = {family(n).lower(): family(n) for n in held}
    unknown = [f for f in families if f.lower() not in fams]
    if unknown:
        raise ValueError(f"no network of family {', '.join(unknown)} in these results "
                         f"(families: {', '.join(sorted(set(fams.values())))})")
    wanted = set(networks) | {n for n in held if family(n).lower() in {f.lower() for f in families}}
    return results[results["network"].isin(wanted)]


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


def _figure(n_axes: int = 1, cols: int = 3, size: tuple[float, float] = (6.5, 5.0),
            panel: tuple[float, float] = (3.4, 2.8), share: bool = False,
            extra_width: float = 2.2) -> tuple[Figure, list[Axes]]:
    """A figure of n_axes panels; `extra_width` inches on the right for a legend."""
    cols = min(n_axes, cols)
    rows = math.ceil(n_axes / cols)
    w, h = size if n_axes == 1 else (panel[0] * cols, panel[1] * rows + 0.6)
    fig = Figure(figsize=(w + extra_width, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=share, sharey=share).ravel().tolist()
    for extra in axes[n_axes:]:
        extra.remove()
    return fig, axes[:n_axes]


def _networks(df: pd.DataFrame) -> pd.DataFrame:
    """One row per network label with its spec facts (device-independent)."""
    cols = ["label", "network", "top1", "top5", "spec_params", "spec_macs"]
    return df[cols].drop_duplicates("label").reset_index(drop=True)


def _with_accuracy(df: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    notes += _no_top1(df, "left out")
    return df[df["top1"].notna()]


def _no_top1(df: pd.DataFrame, what: str) -> list[str]:
    """Notes naming the networks without a top-1: specs that give none, and traced modules
    (MODULE:CALLABLE), whose accuracy archprof cannot know."""
    missing = df[df["top1"].isna()].drop_duplicates("label")
    traced = missing["network"].astype(str).map(is_callable_ref).astype(bool)
    return [f"{what}, {why}: " + ", ".join(sorted(group["label"]))
            for why, group in (("no ImageNet top-1 in the spec", missing[~traced]),
                               ("traced modules, accuracy not known", missing[traced]))
            if len(group)]


def _failures(df: pd.DataFrame, notes: list[str]) -> None:
    bad = df[df["status"].astype(str) != "ok"]
    for (label, setup, status), group in bad.groupby(["label", "setup", "status"]):
        batches = ", ".join(str(b) for b in sorted(group["batch"]))
        notes.append(f"{label} on {setup}: {status} at batch {batches}")


def _colors(networks: pd.Series) -> list[tuple[float, float, float]]:
    return [network_color(n) for n in networks]


def _family_handles(networks: Sequence[str]) -> list[Line2D]:
    """One legend entry per family present, in its base colour."""
    fams = dict.fromkeys(family(n) for n in networks)
    return [Line2D([], [], ls="", marker="o", markersize=7, color=family_color(f), label=f)
            for f in fams]


def _side_legend(fig: Figure, handles: Sequence[Line2D], title: str = "",
                 sizes: Sequence[Line2D] = ()) -> None:
    """Legends right of the plot, inside the canvas: families, then the bubble sizes apart
    (their markers are big, they need room)."""
    fig.legend(handles=list(handles), loc="outside right upper", fontsize=7.5, title=title,
               title_fontsize=8, frameon=False, labelspacing=0.7)
    if sizes:
        fig.legend(handles=list(sizes), loc="outside right lower", fontsize=7.5,
                   frameon=False, labelspacing=2.2, borderpad=1.2, handletextpad=1.5)


def _auto_log(ax: Axes, axis: str, values: pd.Series, log: bool | None = None) -> bool:
    """Log scale where the data spans more than LOG_SPAN (or as forced), plain numbers."""
    v = pd.to_numeric(values, errors="coerce")
    v = v[v > 0]
    if log is None:
        log = bool(len(v)) and float(v.max()) / float(v.min()) > LOG_SPAN
    if log:
        getattr(ax, f"set_{axis}scale")("log")
        _plain_log(ax.xaxis if axis == "x" else ax.yaxis, math.log10(float(v.max() / v.min())))
    return log


def _plain_log(axis: Axis, decades: float) -> None:
    """Log ticks as plain numbers (0.1, 1, 10), the 2s and 5s labelled too when the data spans
    at most three decades."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if decades > 3:
        axis.set_minor_formatter(NullFormatter())
        return
    axis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""))


def _batch_axis(ax: Axes, batches: Sequence[int], room: float = 1.0) -> None:
    """Log2 batch axis labelled with the measured batch sizes; `room` octaves to the right for
    the line-end labels."""
    b = sorted(set(batches))
    ax.set_xscale("log", base=2)
    ax.set_xlim(b[0] / 1.3, b[-1] * 2 ** room)
    ax.xaxis.set_major_locator(FixedLocator(b))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())


def _ops_scale(ops: str) -> tuple[int, str]:
    if ops not in OPS:
        raise ValueError(f"ops must be one of {', '.join(OPS)}, not {ops!r}")
    return OPS[ops]


def _bubbles(ax: Axes, x: pd.Series, y: pd.Series, areas: pd.Series,
             networks: pd.Series) -> None:
    """Bubbles with grey centre dots at their centres."""
    ax.scatter(x, y, s=areas, c=_colors(networks), alpha=0.55, edgecolors=_colors(networks),
               linewidths=0.8, zorder=3)
    ax.scatter(x, y, s=DOT, c="0.35", zorder=5, linewidths=0, gid="centres")


def _bubble_markers(ax: Axes, x: pd.Series, y: pd.Series, areas: pd.Series) -> list[Marker]:
    """What labels must respect: the centre dots (hard) and the bubbles (soft)."""
    return (markers(ax, x, y, math.sqrt(DOT) / 2)
            + markers(ax, x, y, np.sqrt(np.asarray(areas, float)) / 2, hard=False))


def _size_legend(values: pd.Series, unit: str, scale: float = 1.0) -> list[Line2D]:
    """Reference bubbles on the same area scale as the data: one significant figure, from
    about the smallest to the largest value."""
    top = float(values.max())
    picks = (float(values.min()), top / 16, top / 4, top)
    refs = sorted({float(f"{v:.1g}") for v in picks if v > 0 and float(f"{v:.1g}") <= top},
                  reverse=True)
    return [Line2D([], [], ls="", marker="o", markersize=math.sqrt(r / top * MAX_BUBBLE),
                   markerfacecolor="0.85", markeredgecolor="0.4",
                   label=f"{r / scale:g} {unit}") for r in refs]


def _label(ax: Axes, x: pd.Series, y: pd.Series, labels: pd.Series, own_pt: Sequence[float] | float,
           obstacles: list[Marker], angles: Sequence[int] | None = None) -> None:
    extra: dict[str, Any] = {} if angles is None else {"angles": angles}
    place(ax, list(x), list(y), list(labels), own_pt, obstacles, **extra)


# --- the charts ------------------------------------------------------------------------------
def _bars(data: pd.DataFrame, value: str, fmt: str, xlabel: str, title: str,
          start: float = 0.0) -> Figure:
    """Horizontal bars, one per network, best at the top, value printed at the bar's end."""
    fig, (ax,) = _figure(size=(6.0, 0.8 + 0.2 * len(data)))
    bars = ax.barh(data["label"], data[value], color=_colors(data["network"]), height=0.7)
    ax.bar_label(bars, fmt=fmt, fontsize=7, padding=2)
    ax.set_xlim(start, float(data[value].max()) * 1.12 if start == 0 else
                start + (float(data[value].max()) - start) * 1.1)
    ax.set_ylim(-0.6, len(data) - 0.4)
    ax.tick_params(axis="y", labelsize=7.5)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    _side_legend(fig, _family_handles(data["network"]), "family")
    return fig


def top1_bar(df: pd.DataFrame) -> Chart:
    """1. Top-1 accuracy per network."""
    notes: list[str] = []
    data = _with_accuracy(_networks(df), notes).sort_values("top1", kind="stable")
    if data.empty:
        return Chart("01_top1", "Top-1 accuracy per network", None, data, notes + [NO_ACCURACY])
    start = max(0.0, 5 * math.floor((float(data["top1"].min()) - 5) / 5))
    fig = _bars(data, "top1", "%.1f", "top-1 accuracy (%), ImageNet val", "Top-1 accuracy per network",
                start)
    return Chart("01_top1", "Top-1 accuracy per network", fig, data.reset_index(drop=True), notes)


def top1_vs_ops(df: pd.DataFrame, ops: str = "macs", log_ops: bool | None = None) -> Chart:
    """2. Top-1 vs operations per image; bubble area proportional to parameters."""
    factor, unit = _ops_scale(ops)
    notes: list[str] = []
    data = _with_accuracy(_networks(df), notes).reset_index(drop=True)
    title = f"Top-1 vs {unit.split()[0]}, bubble area = parameters"
    if data.empty:
        return Chart("02_top1_vs_ops", title, None, data, notes + [NO_ACCURACY])
    data["gops"] = data["spec_macs"] * factor / 1e9
    data["area"] = bubble_areas(data["spec_params"])
    data["pareto"] = pareto(data["gops"], data["top1"])
    fig, (ax,) = _figure(size=(8.0, 6.0))
    _bubbles(ax, data["gops"], data["top1"], data["area"], data["network"])
    on = data["pareto"].to_numpy()
    order = np.argsort(data["gops"].to_numpy()[on])
    ax.step(data["gops"].to_numpy()[on][order], data["top1"].to_numpy()[on][order], where="post",
            **FRONTIER_STYLE)
    log = _auto_log(ax, "x", data["gops"], log_ops)
    ax.set_xlabel(f"operations per image, {unit}" + (" (log scale)" if log else ""))
    ax.set_ylabel("top-1 accuracy (%), ImageNet val")
    ax.set_title("Top-1 vs operations (bubble area = parameters)")
    ax.margins(0.08 if log else 0.06, 0.08)
    ax.grid(True, which="major", alpha=0.25)
    if not log:
        ax.set_xlim(left=0)
    _side_legend(fig, [*_family_handles(data["network"]),
                       Line2D([], [], label="Pareto frontier", **FRONTIER_STYLE)], "family",
                 _size_legend(data["spec_params"], "M params", 1e6))
    freeze_layout(ax)
    front = data[data["pareto"]].sort_values("gops")
    _label(ax, data["gops"], data["top1"], data["label"], np.sqrt(data["area"]) / 2,
           _bubble_markers(ax, data["gops"], data["top1"], data["area"])
           + polyline(ax, front["gops"], front["top1"], "post"))
    return Chart("02_top1_vs_ops", title, fig, data, notes)


def _panels(data: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(setup, family or '', rows): one panel per setup when it has few networks, else one per
    family within each setup."""
    out = []
    for setup, g in data.groupby("setup", sort=False):
        if g["label"].nunique() <= DIRECT_MAX:
            out.append((str(setup), "", g))
            continue
        fams = g["network"].map(family)
        for fam in dict.fromkeys(fams):
            out.append((str(setup), fam, g[fams == fam]))
    return out


def _shared_prefix(setups: list[str]) -> tuple[str, dict[str, str]]:
    """The leading ', '-separated words all setups share ('NVIDIA H100 80GB HBM3 (cuda:0)'),
    and each setup without them ('float16, inference'): a panel title names what differs,
    the figure title what is common, so titles fit their panels."""
    words = [s.split(", ") for s in setups]
    n = 0
    while all(len(w) > n + 1 and w[n] == words[0][n] for w in words):
        n += 1
    return ", ".join(words[0][:n]), {s: ", ".join(w[n:]) for s, w in zip(setups, words)}


def _lines_vs_batch(data: pd.DataFrame, title: str, y: str, ylabel: str, log: bool,
                    dashed: str | None = None) -> Figure:
    """Lines over batch size, one per network, labelled at their ends; small multiples per
    family (shared axes) when there are many networks. `dashed`: a second column drawn dashed
    in the same colour."""
    panels = _panels(data)
    common, short = _shared_prefix(list(dict.fromkeys(data["setup"].astype(str))))
    fig, axes = _figure(len(panels), cols=4 if len(panels) > 6 else 3, share=True,
                        extra_width=0.0)
    for ax, (setup, fam, g) in zip(axes, panels):
        for label, line in g.groupby("label", sort=False):
            color = network_color(line["network"].iloc[0])
            ax.plot(line["batch"], line[y], marker="o", markersize=LINE_MARKER, color=color,
                    label=label, lw=1.3)
            if dashed:
                ax.plot(line["batch"], line[dashed], ls="--", marker="x", markersize=LINE_MARKER,
                        color=color, lw=1.0, alpha=0.9)
        ax.set_title(" / ".join(t for t in (fam, short[setup] if len(short) > 1 or not fam
                                             else "") if t), fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
    drawn = pd.to_numeric(pd.concat([data[y]] + ([data[dashed]] if dashed else [])),
                          errors="coerce")
    drawn = drawn[drawn > 0]
    narrow = len(drawn) > 0 and float(drawn.max()) < 10 * float(drawn.min())
    for ax in axes:
        _batch_axis(ax, data["batch"], room=2.5)
        if log:
            ax.set_yscale("log")
            if narrow:      # under a decade no power of ten need fall inside: even steps
                ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_locator(NullLocator())    # many panels: ticks cost, decades read
    fig.suptitle(f"{title}: {common}" if common and len(short) > 1 else title)
    for ax in axes:
        ax.set_xlabel("batch size", fontsize=8.5)
        ax.set_ylabel(ylabel, fontsize=8.5)
        ax.label_outer()
    if dashed:
        fig.legend(handles=[Line2D([], [], color="0.3", marker="o", markersize=LINE_MARKER,
                                   label="measured peak"),
                            Line2D([], [], color="0.3", ls="--", marker="x", markersize=LINE_MARKER,
                                   label="static estimate: weights + peak live activations "
                                         "(training: the static step's peak)")],
                   loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    freeze_layout(axes[0])
    right = (0, 15, 345, 30, 330, 45, 315, 60, 300, 90, 270, 180, 150, 210)
    for ax, (_, _, g) in zip(axes, panels):
        ends = g.sort_values("batch").groupby("label", sort=False).tail(1)
        cols = [y] + ([dashed] if dashed else [])
        obstacles = [m for c in cols for m in markers(ax, g["batch"], g[c], LINE_MARKER / 2 + 0.5)]
        _label(ax, ends["batch"], ends[y], ends["label"], LINE_MARKER / 2 + 0.5, obstacles, right)
    return fig


def time_vs_batch(df: pd.DataFrame) -> Chart:
    """3. Time per image vs batch size (inference; a training step's in training setups),
    log-log, one line per network per setup."""
    notes: list[str] = []
    _failures(df, notes)
    data = ok(df)[["setup", "label", "network", "batch", "ms_per_image", "iqr_ms"]]
    data = _by_setup(data)
    title = ("Inference time per image vs batch size" if (ok(df)["mode"] == "inference").all()
             else "Time per image vs batch size (a training step in train setups)")
    if data.empty:
        return Chart("03_time_vs_batch", title, None, data, notes + ["no successful measurements"])
    fig = _lines_vs_batch(data, title, "ms_per_image", "ms per image (median)",
                          log=True)
    return Chart("03_time_vs_batch", title, fig, data, notes)


def memory_vs_batch(df: pd.DataFrame) -> Chart:
    """4. Memory vs batch size: measured peak (solid) and the static estimate (dashed) of the
    same quantity - inference: weights and buffers plus the peak of live activations (input
    included); training: the static step's peak, which holds the weights already."""
    notes: list[str] = []
    data = ok(df)[["setup", "label", "network", "batch", "dtype", "mode", "spec_params",
                   "spec_buffers", "mem_peak_bytes", "mem_context_bytes",
                   "static_peak_bytes"]].copy()
    weights = (data["spec_params"] + data["spec_buffers"]) * data["dtype"].map(DTYPE_BYTES)
    data["measured_mb"] = data["mem_peak_bytes"] / MB
    data["static_mb"] = (data["static_peak_bytes"]
                         + weights.where(data["mode"] == "inference", 0)) / MB
    data = _by_setup(data)
    if data.empty:
        return Chart("04_memory_vs_batch", "Memory vs batch size", None, data,
                     ["no successful measurements"])
    for setup, sub in data.groupby("setup", sort=False):
        if sub["measured_mb"].isna().all():
            notes.append(f"{setup}: memory not measured; static estimate only")
    fig = _lines_vs_batch(data, "Memory vs batch size", "measured_mb", "peak memory (MB)", log=True,
                          dashed="static_mb")
    return Chart("04_memory_vs_batch", "Memory vs batch size", fig, data, notes)


def _setup_scatter(data: pd.DataFrame, title: str, x: str, y: str, xlabel: str, ylabel: str,
                   fit_units: tuple[str, str], notes: list[str],
                   ring: pd.Series | None = None) -> tuple[Figure, dict[str, Fit]]:
    """One log-log panel per setup: a point per network, labelled, with a least-squares line
    (drawn as the curve it is on log axes); `ring` marks points with a black ring."""
    setups = list(dict.fromkeys(data["setup"]))
    fig, axes = _figure(len(setups), cols=2, size=(9.0, 6.5), panel=(7.0, 5.5))
    fig.suptitle(title)
    fits: dict[str, Fit] = {}
    handles = []
    for ax, setup in zip(axes, setups):
        g = data[data["setup"] == setup]
        ax.scatter(g[x], g[y], s=SCATTER, c=_colors(g["network"]), edgecolors="0.2",
                   linewidths=0.5, zorder=3)
        if ring is not None and ring[g.index].any():
            on = ring[g.index].to_numpy()
            ax.scatter(g[x][on], g[y][on], s=SCATTER * 3, facecolors="none", edgecolors="k",
                       linewidths=1.0, zorder=4)
        if g[x].nunique() >= MIN_FIT_POINTS:
            fits[setup] = fit = fit_line(g[x], g[y], *fit_units)
            xs = np.geomspace(float(g[x].min()), float(g[x].max()), 80)
            ys = fit.slope * xs + fit.intercept
            keep = ys > 0
            ax.plot(xs[keep], ys[keep], ls=":", color="0.3", zorder=2)
            handles.append(Line2D([], [], ls=":", color="0.3",
                                  label=f"{setup}: y = {fit.slope:.3g} x {fit.intercept:+.3g}, "
                                        f"R$^2$ = {fit.r2:.3f} (least squares)"))
        else:
            notes.append(f"{setup}: fewer than {MIN_FIT_POINTS} distinct points, no fit")
        _auto_log(ax, "x", data[x], True)
        _auto_log(ax, "y", data[y], True)
        ax.margins(0.1)
        ax.set_xlabel(xlabel + " (log scale)")
        ax.set_ylabel(ylabel + " (log scale)")
        ax.set_title(setup, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    if ring is not None and ring.any():
        handles.append(Line2D([], [], ls="", marker="o", markersize=9, markerfacecolor="none",
                              markeredgecolor="k", label="on the top-1 vs time Pareto frontier"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False)
    _side_legend(fig, _family_handles(data["network"]), "family")
    freeze_layout(axes[0])
    for ax, setup in zip(axes, setups):
        g = data[data["setup"] == setup]
        ringed = ring[g.index].to_numpy() if ring is not None else np.zeros(len(g), bool)
        radius = (np.where(ringed, math.sqrt(3 * SCATTER), math.sqrt(SCATTER)) / 2).tolist()
        _label(ax, g[x], g[y], g["label"], radius, markers(ax, g[x], g[y], radius))
    return fig, fits


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
    title = "Memory vs parameters at batch 1"
    fig, fits = _setup_scatter(data, title, "params_m", "measured_mb", "parameters (millions)",
                               "peak memory at batch 1 (MB)", ("MB per M params", "MB"), notes)
    return Chart("05_memory_vs_params", title, fig, data, notes, fits)


def _by_setup(data: pd.DataFrame) -> pd.DataFrame:
    """Rows by setup in the order the results first name them (the run's first setup, e.g.
    float32, before the ones measured after it), then network and batch."""
    order = {setup: i for i, setup in enumerate(dict.fromkeys(data["setup"]))}
    return data.sort_values(["setup", "label", "batch"], kind="stable", key=lambda c: (
        c.map(order) if c.name == "setup" else c)).reset_index(drop=True)


def _inference(data: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The inference rows: a chart of inference time or images/s leaves training steps out,
    saying so (charts 3 and 4 draw them)."""
    train = data["mode"] != "inference"
    if train.any():
        notes.append("training setups left out (" + ", ".join(
            dict.fromkeys(data.loc[train, "setup"].astype(str))) + "): see time and memory vs "
            "batch size")
    return data[~train]


def ops_vs_time(df: pd.DataFrame, ops: str = "macs", batch: int = 1) -> Chart:
    """6. Operations per image vs inference time per image at `batch`, linear fit and R^2 per
    setup; the networks on the top-1 vs time Pareto frontier are ringed."""
    factor, unit = _ops_scale(ops)
    notes: list[str] = []
    data = _inference(ok(df), notes)
    data = data[data["batch"] == batch][["setup", "label", "network", "top1", "spec_macs",
                                         "ms_per_image"]].copy()
    data["gops"] = data["spec_macs"] * factor / 1e9
    data["pareto"] = False
    for _, g in data[data["top1"].notna()].groupby("setup"):
        data.loc[g.index, "pareto"] = pareto(g["ms_per_image"], g["top1"])
    data = data.reset_index(drop=True)
    title = f"{unit.split()[0]} vs inference time per image, batch {batch}"
    if data.empty:
        return Chart("06_ops_vs_time", title, None, data, [f"no measurements at batch {batch}"])
    short = unit.split()[0]
    fig, fits = _setup_scatter(data, title, "ms_per_image", "gops",
                               f"inference time per image (ms), batch {batch}",
                               f"operations per image, {unit}", (f"{short} per ms", short), notes,
                               ring=data["pareto"])
    notes += _no_top1(data, "not on any frontier")
    return Chart("06_ops_vs_time", title, fig, data, notes, fits)


def accuracy_density(df: pd.DataFrame) -> Chart:
    """7. Accuracy density: top-1 points per million parameters."""
    notes: list[str] = []
    data = _with_accuracy(_networks(df), notes).copy()
    data["density"] = data["top1"] / (data["spec_params"] / 1e6)
    data = data.sort_values("density", kind="stable").reset_index(drop=True)
    title = "Accuracy density (top-1 per M params)"
    if data.empty:
        return Chart("07_accuracy_density", title, None, data, notes + [NO_ACCURACY])
    fig = _bars(data, "density", "%.2f", "top-1 accuracy (%) per million parameters",
                "Accuracy density")
    return Chart("07_accuracy_density", title, fig, data, notes)


def top1_vs_throughput(df: pd.DataFrame, ops: str = "macs",
                       batches: Sequence[int] = (1, 16)) -> Chart:
    """8. Top-1 vs images/s at each batch size in `batches`, bubble area proportional to
    operations per image; Pareto frontier per panel (more images/s and more top-1 is better)."""
    factor, unit = _ops_scale(ops)
    notes: list[str] = []
    known = _with_accuracy(_inference(ok(df), notes), notes)
    data = known[known["batch"].isin(batches)][["setup", "label", "network", "batch", "top1",
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
        why = f"no measurements at batch {', '.join(map(str, batches))}" if len(known) \
            else NO_ACCURACY      # every network was left out for want of a top-1
        return Chart("08_top1_vs_throughput", title, None, data, notes + [why])
    fig, axes = _figure(len(panels), cols=len(batches), panel=(6.0, 5.0))
    for ax, (setup, b) in zip(axes, panels):
        g = data[(data["setup"] == setup) & (data["batch"] == b)]
        _bubbles(ax, g["images_per_s"], g["top1"], g["area"], g["network"])
        on = g["pareto"].to_numpy()
        order = np.argsort(g["images_per_s"].to_numpy()[on])
        ax.step(g["images_per_s"].to_numpy()[on][order], g["top1"].to_numpy()[on][order],
                where="pre", **FRONTIER_STYLE)
        _auto_log(ax, "x", data["images_per_s"], True)
        ax.set_xlabel(f"images per second, batch {b} (log scale)")
        ax.set_ylabel("top-1 accuracy (%), ImageNet val")
        ax.set_title(f"{setup}, batch {b}", fontsize=10)
        ax.margins(0.1)
        ax.grid(True, which="major", alpha=0.3)
    _side_legend(fig, [*_family_handles(data["network"]),
                       Line2D([], [], label="Pareto frontier", **FRONTIER_STYLE)], "family",
                 _size_legend(data["gops"], unit.split()[0]))
    fig.suptitle(title)
    freeze_layout(axes[0])
    for ax, (setup, b) in zip(axes, panels):
        g = data[(data["setup"] == setup) & (data["batch"] == b)]
        front = g[g["pareto"]].sort_values("images_per_s")
        _label(ax, g["images_per_s"], g["top1"], g["label"], np.sqrt(g["area"]) / 2,
               _bubble_markers(ax, g["images_per_s"], g["top1"], g["area"])
               + polyline(ax, front["images_per_s"], front["top1"], "pre"))
    return Chart("08_top1_vs_throughput", title, fig, data, notes)


def power_vs_batch(df: pd.DataFrame) -> Chart:
    """9. Power vs batch size, only where the device reported it."""
    data = ok(df)
    data = data[pd.to_numeric(data["power_w"], errors="coerce").notna()]
    data = data[["setup", "label", "network", "batch", "power_w"]].astype({"power_w": float})
    data = _by_setup(data)
    title = "Power vs batch size"
    if data.empty:
        return Chart("09_power_vs_batch", title, None, data,
                     ["chart skipped: no device in these results reported power"])
    fig = _lines_vs_batch(data, title, "power_w", "power (W)", log=False)
    return Chart("09_power_vs_batch", title, fig, data)


def all_charts(results: pd.DataFrame, ops: str = "macs", fit_batch: int = 1,
               batches: Sequence[int] = (1, 16), log_ops: bool | None = None) -> list[Chart]:
    """Every chart from raw results rows (joined with the specs here)."""
    df = annotate(results)
    return [top1_bar(df), top1_vs_ops(df, ops, log_ops), time_vs_batch(df), memory_vs_batch(df),
            memory_vs_params(df), ops_vs_time(df, ops, fit_batch), accuracy_density(df),
            top1_vs_throughput(df, ops, batches), power_vs_batch(df)]


def save(chart: Chart, out: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the figure in each format and its data as CSV beside it, atomically
    (archprof.files). SVG and PDF carry no date and fixed ids, so that a redraw is byte-identical;
    PDF fonts are embedded as TrueType (Type 42). Returns the paths, images first, CSV last."""
    if chart.figure is None:
        return []
    paths = []
    with rc_context(SAVE_RC):
        for fmt in formats:
            path = out / f"{chart.name}.{fmt}"
            with replacing(path, binary=True) as f:
                chart.figure.savefig(f, format=fmt, dpi=150, metadata=METADATA.get(fmt, {}))
            paths.append(path)
    csv = out / f"{chart.name}.csv"
    with replacing(csv) as f:
        chart.data.to_csv(f, index=False, lineterminator="\n")
    return [*paths, csv]
