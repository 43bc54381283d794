"""Charts from a small synthetic results file: the data each figure shows, not only the files."""
from __future__ import annotations

import colorsys
import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from archprof import analyze, registry
from archprof.cli.plot import plot as plot_command
from archprof.figures import plot
from archprof.figures.place import LABEL_GID
from archprof.measure import report
from archprof.measure.bench import COLUMNS, load_results
from archprof.measure.pick import annotate

NETS = ["alexnet", "resnet18", "resnet50", "vgg16", "lenet5"]     # lenet5: no top-1 in its spec
DEVICES = {"cpu": ("Test CPU", 20e9, None), "cuda:0": ("Test GPU", 900e9, 60.0)}
BATCHES = [1, 2, 16]


def fake_ms(net: str, device: str, batch: int) -> float:
    """Per-image time: MACs over a device rate, better with batch, plus a per-net wobble so a
    fit is not exact."""
    macs = analyze(net).totals["macs"]
    rate = DEVICES[device][1] * (1 + 0.3 * np.log2(batch))
    return 1e3 * macs / rate * (1 + 0.05 * (len(net) % 3))


def static_total(net: str, batch: int) -> int:
    """Weights, buffers and peak live activations in float32: what chart 4 draws dashed."""
    t = analyze(net).totals
    return t["peak_bytes"] * batch + 4 * (t["params"] + t["buffers"])


def rows() -> list[dict]:
    out = []
    for device, (name, _, power) in DEVICES.items():
        for net in NETS:
            t = analyze(net).totals
            for batch in BATCHES:
                per_image = fake_ms(net, device, batch)
                oom = device == "cuda:0" and net == "vgg16" and batch == 16
                row = {c: "" for c in COLUMNS} | {
                    "network": net, "input": t["input"], "batch": batch, "device": device,
                    "device_name": name, "dtype": "float32", "channels_last": False,
                    "compile": False, "threads": 2, "mode": "inference",
                    "status": "oom" if oom else "ok",
                    "macs": t["macs"], "model_params": t["params"],
                    "static_peak_bytes": t["peak_bytes"] * batch,
                    "torch": "2.x", "cpu": "test", "host": "box", "date": "2025-01-01"}
                if not oom:
                    row |= {"runs": 10, "median_ms": per_image * batch, "iqr_ms": 0.1,
                            "min_ms": per_image * batch * 0.95, "ms_per_image": per_image,
                            "images_per_s": 1e3 / per_image,
                            "mem_peak_bytes": round(1.2 * static_total(net, batch) + 50e6),
                            "power_w": power * (1 + batch / 32) if power else ""}
                out.append(row)
    return out


def write(path: Path, selected: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(selected)
    return path


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    return write(tmp_path / "results.csv", rows())


@pytest.fixture
def df(results_file: Path) -> pd.DataFrame:
    return annotate(load_results([results_file]))


def scatter(ax: Axes) -> PathCollection:
    """Offsets of the data scatter (the first PathCollection) of an axes."""
    return [c for c in ax.collections if isinstance(c, PathCollection)][0]


def top1(net: str) -> float:
    return registry()[net].accuracy["top1"]


def test_top1_bar_uses_spec_accuracy_and_leaves_out_unknown(df: pd.DataFrame) -> None:
    chart = plot.top1_bar(df)
    ax = chart.figure.axes[0]
    widths = {t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches)}
    assert widths == {n: top1(n) for n in NETS if n != "lenet5"}
    assert any("lenet5" in note for note in chart.notes)


@pytest.mark.parametrize("ops, factor", [("macs", 1), ("flops", 2)])
def test_top1_vs_ops_bubbles_area_proportional_to_params(df: pd.DataFrame, ops: str,
                                                         factor: int) -> None:
    chart = plot.top1_vs_ops(df, ops)
    ax = chart.figure.axes[0]
    nets = [n for n in NETS if n != "lenet5"]
    pts = scatter(ax)
    xy = {lab: tuple(o) for lab, o in zip(chart.data["label"], pts.get_offsets())}
    for n in nets:
        assert xy[n] == pytest.approx((factor * analyze(n).totals["macs"] / 1e9, top1(n)))
    params = np.array([analyze(n).totals["params"] for n in chart.data["label"]])
    ratio = pts.get_sizes() / params
    assert np.allclose(ratio, ratio[0]) and pts.get_sizes().max() == plot.MAX_BUBBLE
    assert ("G-FLOPs" if ops == "flops" else "G-MACs") in ax.get_xlabel()
    # Pareto by hand: fewer MACs and higher top-1 win. resnet50 beats vgg16 on both.
    macs = {n: analyze(n).totals["macs"] for n in nets}
    expected = {n for n in nets if not any(macs[m] <= macs[n] and top1(m) >= top1(n) and
                                           (macs[m], top1(m)) != (macs[n], top1(n)) for m in nets)}
    assert set(chart.data.loc[chart.data["pareto"], "label"]) == expected == {"alexnet",
                                                                             "resnet18", "resnet50"}


def test_time_vs_batch_log_log_one_line_per_network_and_device(df: pd.DataFrame) -> None:
    chart = plot.time_vs_batch(df)
    axes = chart.figure.axes
    assert [ax.get_title() for ax in axes] == ["Test CPU (cpu)", "Test GPU (cuda:0)"]
    for ax, device in zip(axes, DEVICES):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == set(NETS)
        for net, line in lines.items():
            batches = [b for b in BATCHES if not (device == "cuda:0" and net == "vgg16" and b == 16)]
            assert list(line.get_xdata()) == batches
            assert np.allclose(line.get_ydata(), [fake_ms(net, device, b) for b in batches])
    assert any("vgg16" in n and "oom" in n for n in chart.notes)


def test_memory_vs_batch_measured_and_static_dashed(df: pd.DataFrame) -> None:
    chart = plot.memory_vs_batch(df)
    ax = chart.figure.axes[0]
    lines = ax.get_lines()
    solid = [l for l in lines if l.get_linestyle() == "-"]
    dashed = [l for l in lines if l.get_linestyle() == "--"]
    assert len(solid) == len(dashed) == len(NETS)
    static = [static_total("resnet18", b) / 1e6 for b in BATCHES]
    r18 = [i for i, l in enumerate(solid) if l.get_label() == "resnet18"][0]
    assert np.allclose(dashed[r18].get_ydata(), static)
    assert np.allclose(solid[r18].get_ydata(), [1.2 * s + 50 for s in static])
    assert solid[r18].get_color() == dashed[r18].get_color()


def test_memory_vs_batch_training_static_is_the_steps_peak(tmp_path: Path) -> None:
    """A training row's static_peak_bytes is the whole step's peak (weights, gradients,
    optimizer state, saved activations: archprof.training), so nothing is added to it; an
    inference row's gets the weights. Panel titles keep what differs between the setups
    (inference / train-momentum), the figure title what they share (the device)."""
    from archprof.spec.expand import expand
    from archprof.spec.load import load_spec
    from archprof.training import plan
    step = plan(expand(load_spec("resnet18")), "float32", "momentum")
    gpu = [r for r in rows() if r["device"] == "cuda:0" and r["network"] == "resnet18"]
    train = [r | {"mode": "train-momentum", "static_peak_bytes": step.peak(r["batch"])[0],
                  "mem_peak_bytes": step.peak(r["batch"])[0] + 70 * 2**20} for r in gpu]
    df = annotate(load_results(write(tmp_path / "r.csv", gpu + train)))
    chart = plot.memory_vs_batch(df)
    titles = [ax.get_title() for ax in chart.figure.axes]
    assert titles == ["inference", "train-momentum"]
    assert chart.figure.get_suptitle() == "Memory vs batch size: Test GPU (cuda:0)"
    infer_ax, train_ax = chart.figure.axes
    dashed = [l for l in train_ax.get_lines() if l.get_linestyle() == "--"][0]
    assert np.allclose(dashed.get_ydata(), [step.peak(b)[0] / 1e6 for b in BATCHES])
    dashed = [l for l in infer_ax.get_lines() if l.get_linestyle() == "--"][0]
    assert np.allclose(dashed.get_ydata(), [static_total("resnet18", b) / 1e6 for b in BATCHES])
    assert plot.time_vs_batch(df).title == \
        "Time per image vs batch size (a training step in train setups)"
    # setups in the order the results first name them, not by name
    df = annotate(load_results(write(tmp_path / "t.csv", train + gpu)))
    assert [ax.get_title() for ax in plot.memory_vs_batch(df).figure.axes] == \
        ["train-momentum", "inference"]
    for chart in (plot.ops_vs_time(df), plot.top1_vs_throughput(df)):   # inference time only
        assert set(chart.data["setup"]) == {"Test GPU (cuda:0), inference"}
        assert any("training setups left out" in n for n in chart.notes)


def test_a_range_under_a_decade_still_has_labelled_y_ticks() -> None:
    """lenet5 at batch 1 and 2 as the committed CPU results measured it: times and memory each
    within a factor of 2, with no power of ten inside, so decade ticks alone label nothing."""
    df = annotate(load_results([COMMITTED]))
    only = df[(df["network"] == "lenet5") & df["batch"].isin([1, 2])]
    assert len(only) == 2
    for chart in (plot.time_vs_batch(only), plot.memory_vs_batch(only)):
        ax = chart.figure.axes[0]
        low, high = ax.get_ylim()
        assert high < 10 * low and ax.get_yscale() == "log"
        inside = [t for t in ax.get_yticks() if low <= t <= high]
        assert len(inside) >= 3, (chart.name, low, high, list(ax.get_yticks()))


def test_memory_vs_params_fit(df: pd.DataFrame) -> None:
    chart = plot.memory_vs_params(df)
    cpu = chart.data[chart.data["setup"] == "Test CPU (cpu)"]
    slope, intercept = np.polyfit(cpu["params_m"], cpu["measured_mb"], 1)
    assert chart.fits["Test CPU (cpu)"].slope == pytest.approx(slope)
    assert chart.fits["Test CPU (cpu)"].intercept == pytest.approx(intercept)
    assert sorted(cpu["label"]) == sorted(NETS)


def test_ops_vs_time_fit_and_r2_per_device(df: pd.DataFrame) -> None:
    chart = plot.ops_vs_time(df, "flops", batch=1)
    assert set(chart.fits) == {"Test CPU (cpu)", "Test GPU (cuda:0)"}
    for ax, (device, (name, _, _)) in zip(chart.figure.axes, DEVICES.items()):
        x = np.array([fake_ms(n, device, 1) for n in NETS])
        y = np.array([2 * analyze(n).totals["macs"] / 1e9 for n in NETS])
        slope, intercept = np.polyfit(x, y, 1)
        r2 = 1 - np.sum((y - (slope * x + intercept)) ** 2) / np.sum((y - y.mean()) ** 2)
        fit = chart.fits[f"{name} ({device})"]
        assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((slope, intercept, r2))
        assert np.allclose(sorted(map(tuple, scatter(ax).get_offsets())), sorted(zip(x, y)))
        # Pareto on top-1 vs time by hand: lenet5 has no top-1, vgg16 is slower and worse than
        # resnet50, the rest trade time for accuracy.
        on = chart.data[(chart.data["setup"] == f"{name} ({device})") & chart.data["pareto"]]
        assert set(on["label"]) == {"alexnet", "resnet18", "resnet50"}


def test_accuracy_density(df: pd.DataFrame) -> None:
    chart = plot.accuracy_density(df)
    ax = chart.figure.axes[0]
    got = {t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches)}
    assert got == pytest.approx({n: top1(n) / (analyze(n).totals["params"] / 1e6)
                                 for n in NETS if n != "lenet5"})


def test_top1_vs_throughput_panels_bubbles_and_pareto(df: pd.DataFrame) -> None:
    chart = plot.top1_vs_throughput(df, "macs", batches=(1, 16))
    assert len(chart.figure.axes) == 4
    gpu16 = chart.figure.axes[3]
    assert gpu16.get_title() == "Test GPU (cuda:0), batch 16" and gpu16.get_xscale() == "log"
    data = chart.data[(chart.data["setup"] == "Test GPU (cuda:0)") & (chart.data["batch"] == 16)]
    assert set(data["label"]) == {"alexnet", "resnet18", "resnet50"}     # vgg16 OOM, lenet5 no top-1
    assert any("vgg16" in n for n in chart.notes)
    sizes = scatter(gpu16).get_sizes()
    macs = np.array([analyze(n).totals["macs"] for n in data["label"]])
    assert np.allclose(sizes / macs, sizes[0] / macs[0])
    ips = {n: 1e3 / fake_ms(n, "cuda:0", 16) for n in data["label"]}
    expected = {n for n in ips if not any(ips[m] >= ips[n] and top1(m) >= top1(n) and m != n
                                          for m in ips)}
    assert set(data.loc[data["pareto"], "label"]) == expected


def test_power_only_where_measured(df: pd.DataFrame) -> None:
    chart = plot.power_vs_batch(df)
    assert [ax.get_title() for ax in chart.figure.axes] == ["Test GPU (cuda:0)"]
    cpu_only = plot.power_vs_batch(df[df["device"] == "cpu"])
    assert cpu_only.figure is None and "skipped" in cpu_only.notes[0]


def test_colours_stable_across_figures(df: pd.DataFrame) -> None:
    a = plot.time_vs_batch(df).figure.axes[0].get_lines()
    b = plot.memory_vs_batch(df).figure.axes[1].get_lines()
    colour = lambda lines, net: [l.get_color() for l in lines if l.get_label() == net][0]  # noqa: E731
    for net in NETS:
        assert colour(a, net) == colour(b, net) == plot.network_color(net)
    assert len({plot.network_color(n) for n in registry()}) == len(registry())


def test_plot_command_writes_every_chart(results_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "charts"
    result = CliRunner().invoke(plot_command, [str(results_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    stems = sorted({p.stem for p in out.iterdir()})
    assert stems == sorted(c for c in ["01_top1", "02_top1_vs_ops", "03_time_vs_batch",
                                       "04_memory_vs_batch", "05_memory_vs_params",
                                       "06_ops_vs_time", "07_accuracy_density",
                                       "08_top1_vs_throughput", "09_power_vs_batch"])
    assert all((out / f"01_top1.{ext}").stat().st_size > 0 for ext in ("png", "svg", "pdf", "csv"))
    shown = pd.read_csv(out / "02_top1_vs_ops.csv")                # the data beside the chart
    assert dict(zip(shown["label"], shown["top1"])) == {n: top1(n) for n in NETS if n != "lenet5"}
    assert not list(out.glob(".*tmp"))
    assert "lenet5" in result.output                      # the caption says who was left out


def test_report_plans_cpu_batches_from_batch1_times_and_writes_readme(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep is replaced by one that writes the synthetic CPU rows asked for."""
    calls = []
    measured: list[dict] = []

    def fake_sweep(names: list[str], batch_sizes: tuple[int, ...], out: Path, **kw: object) -> None:
        calls.append((list(names), tuple(batch_sizes)))
        measured.extend(r for r in rows() if r["device"] == "cpu" and r["network"] in names
                        and r["batch"] in batch_sizes)
        write(out, measured)

    monkeypatch.setattr("archprof.measure.bench.sweep", fake_sweep)
    monkeypatch.setattr(report, "available_bytes", lambda: 64e9)
    cap = 100.0
    readme = report.run(out=tmp_path / "rep", names=NETS, device="cpu", batch_sizes=(1, 2, 16),
                        max_batch_ms=cap, budget_s=1.0)
    expected = [([n], tuple(b for b in (2, 16) if b * fake_ms(n, "cpu", 1) <= cap))
                for n in NETS if 2 * fake_ms(n, "cpu", 1) <= cap]
    assert calls == [(NETS, (1,)), *expected] and expected      # at least one net gets batch 2
    text = readme.read_text()
    assert ("archprof report --out " + str(tmp_path / "rep") + " --device cpu --batch-sizes "
            "1,2,16 --max-batch-ms 100 --budget-s 1 --ops macs " + " ".join(NETS)) in text
    for chart in ["01_top1", "02_top1_vs_ops", "03_time_vs_batch", "06_ops_vs_time"]:
        assert f"](charts/{chart}.png)" in text and (tmp_path / "rep/charts" / f"{chart}.svg").exists()
    assert "Test CPU" in text and "chart skipped: no device in these results reported power" in text
    assert "| resnet50 | 76.13 |" in text                      # batch-1 table from spec + results


def test_report_memory_guard() -> None:
    """A batch whose static estimate needs more than half the free memory (x2) is not tried."""
    batch1 = pd.DataFrame([r for r in rows() if r["device"] == "cpu" and r["batch"] == 1])
    t = analyze("vgg16", batch=16).totals
    need = 2 * (t["peak_bytes"] + t["param_bytes"])
    plan = report.plan(batch1, (1, 16), max_batch_ms=1e9, memory_bytes=2 * need)
    assert plan["vgg16"] == [16]
    plan = report.plan(batch1, (1, 16), max_batch_ms=1e9, memory_bytes=2 * need - 1)
    assert "vgg16" not in plan and plan["alexnet"] == [16]


def test_accuracy_charts_skip_when_no_network_has_top1(df: pd.DataFrame) -> None:
    only = df[df["network"] == "lenet5"]
    for chart in (plot.top1_bar(only), plot.top1_vs_ops(only), plot.accuracy_density(only),
                  plot.top1_vs_throughput(only)):
        assert chart.figure is None and any("lenet5" in n for n in chart.notes)
        # the reason is the missing top-1, though lenet5 was measured at batch 1
        assert not any("no measurements" in n for n in chart.notes)
    assert set(only["batch"]) & {1}
    assert plot.time_vs_batch(only).figure is not None       # timing charts still drawn


# --- publication grade, measured on the rendered figures ------------------------------------
COMMITTED = Path(__file__).resolve().parents[1] / "reports" / "results.csv"
COMMITTED_GPU = COMMITTED.parent / "gpu" / "results.csv"


def drawn_texts(fig: Figure) -> list[Text]:
    """Every text the renderer draws: tick labels of drawn ticks, titles, axis labels, point and
    bar labels, legend entries and titles."""
    fig.canvas.draw()
    out: list[Text] = [t for t in (fig._suptitle, fig._supxlabel, fig._supylabel) if t]
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():
                out += [tick.label1, tick.label2]
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label,
                *ax.texts]
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if legend is not None:
            out += [*legend.get_texts(), legend.get_title()]
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def overlapping_pairs(fig: Figure) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in drawn_texts(fig)]
    return [(a, b) for i, (a, p) in enumerate(boxes) for b, q in boxes[i + 1:]
            if min(p.x1, q.x1) - max(p.x0, q.x0) > 0.5 and min(p.y1, q.y1) - max(p.y0, q.y0) > 0.5]


def covered_markers(fig: Figure) -> list[str]:
    """Point labels lying on a marker: a scatter point (for bubbles, its grey centre dot) or a
    marker on a line."""
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72
    hits = []
    for ax in fig.axes:
        circles = []
        scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
        if any(c.get_gid() == "centres" for c in scatters):
            scatters = [c for c in scatters if c.get_gid() == "centres"]
        for c in scatters:
            xy = ax.transData.transform(c.get_offsets())
            r = np.sqrt(np.broadcast_to(c.get_sizes(), (len(xy),))) / 2 * px
            circles += list(zip(xy[:, 0], xy[:, 1], r))
        for line in ax.get_lines():
            if line.get_marker() not in (None, "", "None"):
                xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))
                circles += [(x, y, line.get_markersize() / 2 * px) for x, y in xy]
        for label in (t for t in ax.texts if t.get_gid() == LABEL_GID):
            b = Text.get_window_extent(label, renderer)       # the text, not its leader line
            for x, y, r in circles:
                nx, ny = min(max(x, b.x0), b.x1), min(max(y, b.y0), b.y1)
                if (x - nx) ** 2 + (y - ny) ** 2 < r ** 2:
                    hits.append(label.get_text())
    return hits


@pytest.fixture(scope="module", params=[COMMITTED, COMMITTED_GPU], ids=["cpu", "gpu"])
def committed_charts(request: pytest.FixtureRequest) -> list[plot.Chart]:
    return [c for c in plot.all_charts(load_results([request.param])) if c.figure is not None]


def test_committed_charts_publication_grade(committed_charts: list[plot.Chart]) -> None:
    """Every chart of the committed results (the CPU's one setup, the GPU's three: float32,
    float16, training): no two texts overlap, no label on a point, every legend inside the
    canvas, every network of the chart labelled exactly once per setup."""
    power = any(c.name == "09_power_vs_batch" for c in committed_charts)   # measured on GPUs
    assert len(committed_charts) == 8 + power
    for chart in committed_charts:
        fig = chart.figure
        assert overlapping_pairs(fig) == [], chart.name
        assert covered_markers(fig) == [], chart.name
        canvas = fig.bbox
        for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
            if legend is not None:
                b = legend.get_window_extent(fig.canvas.get_renderer())
                assert (b.x0 >= canvas.x0 and b.y0 >= canvas.y0 and b.x1 <= canvas.x1
                        and b.y1 <= canvas.y1), chart.name
                assert len(legend.get_texts()) < 25, chart.name           # never 45 entries
        labels = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == LABEL_GID]
        if chart.name in ("02_top1_vs_ops", "05_memory_vs_params", "06_ops_vs_time"):
            assert sorted(labels) == sorted(chart.data["label"])
        if chart.name in ("03_time_vs_batch", "04_memory_vs_batch"):    # one label per line
            lines = chart.data[["setup", "label"]].drop_duplicates()
            assert sorted(labels) == sorted(lines["label"])
            assert len(fig.axes) == len(plot._panels(chart.data))


def test_family_hues_and_variant_shades() -> None:
    """Networks of a family share a hue and differ in lightness, darkest first."""
    hls = {n: colorsys.rgb_to_hls(*plot.network_color(n))
           for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")}
    hues = {round(h, 3) for h, _, _ in hls.values()}
    assert len(hues) == 1
    lightness = [v[1] for v in hls.values()]
    assert lightness == sorted(lightness) and len(set(lightness)) == 5
    assert colorsys.rgb_to_hls(*plot.network_color("vgg16"))[0] != hues.pop()
    assert plot.family("bn_alexnet") == plot.family("alexnet") == "AlexNet"


def test_saved_files_deterministic_and_fonts_embedded(df: pd.DataFrame, tmp_path: Path) -> None:
    first = plot.save(plot.top1_vs_ops(df), tmp_path / "a")
    second = plot.save(plot.top1_vs_ops(df), tmp_path / "b")
    assert [p.name for p in first] == [f"02_top1_vs_ops.{e}" for e in ("png", "svg", "pdf", "csv")]
    assert first[1].read_bytes() == second[1].read_bytes()                     # SVG
    assert b"<dc:date>" not in first[1].read_bytes()
    pdf = first[2].read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf                      # TrueType fonts
    assert first[3].read_bytes() == second[3].read_bytes()


def test_select_networks_families_and_preset(df: pd.DataFrame) -> None:
    assert set(plot.select(df, ["vgg16"], ["resnet"])["network"]) == {"vgg16", "resnet18",
                                                                       "resnet50"}
    with pytest.raises(ValueError, match="densenet121"):
        plot.select(df, ["densenet121"])
    assert len(plot.CANZIANI) == 14 and set(plot.CANZIANI) <= set(registry())


def test_preset_canziani_draws_14_networks_in_gflops(tmp_path: Path) -> None:
    result = CliRunner().invoke(plot_command, [str(COMMITTED), "--out", str(tmp_path),
                                               "--preset", "canziani"])
    assert result.exit_code == 0, result.output
    shown = pd.read_csv(tmp_path / "02_top1_vs_ops.csv")
    assert sorted(shown["network"]) == sorted(plot.CANZIANI)
    macs = {n: analyze(n).totals["macs"] for n in plot.CANZIANI}
    assert dict(zip(shown["network"], shown["gops"])) == pytest.approx(
        {n: 2 * m / 1e9 for n, m in macs.items()})
