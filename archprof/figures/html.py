"""A static HTML report: OUT/index.html with the results table and every chart inline, and one
page per network (OUT/networks/NAME.html) with its layer table and architecture diagram.

Plain HTML and CSS, no script, no server, relative links only: the folder can be opened from
disk, served by any static host or zipped. Diagrams are SVG when Graphviz's `dot` is installed,
else the DOT text is linked and shown.
"""
from __future__ import annotations

import html
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from archprof.analysis import analyze
from archprof.figures.draw import render, to_dot
from archprof.figures.plot import Chart
from archprof.figures.render import Column, cells, formatted
from archprof.files import replacing
from archprof.measure.pick import MB, annotate, ok
from archprof.source import graph, is_callable_ref
from archprof.units import human, human_bytes, megabytes

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; } pre { background: #f6f6f6; padding: 1em;
overflow: auto; font-size: 12px; } .diagram img { max-width: 100%; }
"""
RESULT_COLUMNS = [Column("network", "network"), Column("setup", "setup"),
                  Column("top1", "top-1 %", "num"), Column("spec_params", "params", "human"),
                  Column("gmacs", "G-MACs", "num"), Column("ms_per_image", "ms/image", "num"),
                  Column("images_per_s", "images/s", "num"), Column("memory_mb", "peak MB", "num")]
LAYER_COLUMNS = [Column("name", "name"), Column("type", "type"), Column("shape", "output"),
                 Column("params", "params", "int"), Column("macs", "MACs", "int"),
                 Column("activations", "activations", "int"), Column("rf", "rf", "num")]


def _page(title: str, body: Sequence[str]) -> str:
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>",
                      "</head>", "<body>", *body, "</body>", "</html>", ""])


def _table(df: pd.DataFrame, columns: Sequence[Column], links: dict[str, str] | None = None) -> str:
    head = "".join(f'<th class="{"num" if c.style != "str" else ""}">{html.escape(c.header)}</th>'
                   for c in columns)
    rows = []
    for row in cells(df, columns):
        tds = []
        for c, v in zip(columns, row):
            text = html.escape(v)
            if links and c.key == "network" and v in links:
                text = f'<a href="{html.escape(links[v])}">{text}</a>'
            tds.append(f'<td class="{"num" if c.style != "str" else ""}">{text}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"


def _write(path: Path, text: str) -> None:
    """Atomically (archprof.files), so a reader never sees half a page."""
    with replacing(path) as f:
        f.write(text)


def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """Batch-1 rows, best top-1 first, with the columns the index shows."""
    df = ok(annotate(results))
    df = df[df["batch"] == 1].sort_values(["setup", "top1", "network"],
                                          ascending=[True, False, True])
    df = df.assign(gmacs=df["spec_macs"] / 1e9, memory_mb=df["mem_peak_bytes"] / MB)
    shown = {"top1": "{:.2f}".format, "gmacs": "{:.2f}".format, "ms_per_image": "{:.1f}".format,
             "images_per_s": "{:.1f}".format, "memory_mb": megabytes}
    return formatted(df, shown)


def page_name(network: str) -> str:
    """A file name for a network's page: a zoo name as it is, a MODULE:CALLABLE or a
    file.py:CALLABLE with every character outside [A-Za-z0-9_.-] as '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", network).strip("._") or "network"


def network_page(out: Path, network: str, depth: int = 1) -> Path:
    """OUT/networks/NAME.html: totals, diagram, layer table (names collapsed to two levels).
    A MODULE:CALLABLE's page is drawn from its trace."""
    a = analyze(graph(network))
    t, spec, name = a.totals, a.spec, page_name(network)
    folder = out / "networks"
    dot = to_dot(a, depth, params=True)
    render(dot, folder / f"{name}.dot")
    if shutil.which("dot"):
        render(dot, folder / f"{name}.svg")
        diagram = (f'<div class="diagram"><img src="{name}.svg" alt="architecture of {name}">'
                   f'</div><p>Also as <a href="{name}.dot">DOT</a>.</p>')
    else:
        diagram = (f'<p>Graphviz was not installed when this page was written: the diagram is '
                   f'its <a href="{name}.dot">DOT text</a>.</p><pre>{html.escape(dot)}</pre>')
    layers = a.collapsed(2) if len(a.layers) > 60 else a.layers
    facts = [f"input {t['input']}", f"params {t['params']:,} ({human(t['params'])})",
             f"MACs {t['macs']:,} ({human(t['macs'])}; G-FLOPs = 2 x MACs)",
             f"activations {human(t['activations'])} elements, peak live "
             f"{human_bytes(t['peak_bytes'])} as {t['dtype']}"]
    if spec.accuracy:
        acc = spec.accuracy
        facts.append(f"top-1 {acc.get('top1')}% ({html.escape(str(acc.get('source', '')))})")
    elif is_callable_ref(network):
        facts.append("a traced module: its accuracy is not known")
    body = ['<p><a href="../index.html">&larr; all networks</a></p>',
            f"<h1>{html.escape(spec.title or network)} <small>({html.escape(network)})</small></h1>",
            f"<p>{html.escape(spec.paper or '')}</p>",
            "<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>",
            f"<h2>Architecture</h2>{diagram}",
            "<h2>Layers</h2>" + (f"<p>{len(a.layers)} ops, shown by block (names to two levels); "
                                 f"<code>archprof table {html.escape(network)}</code> lists every "
                                 "op.</p>"
                                 if layers is not a.layers else ""),
            _table(layers, LAYER_COLUMNS)]
    path = folder / f"{name}.html"
    _write(path, _page(f"{name} - archprof", body))
    return path


def write_site(out: Path, results: pd.DataFrame, charts: Sequence[Chart],
               chart_files: dict[str, list[Path]], intro: Sequence[str] = ()) -> Path:
    """OUT/index.html and a page per network in the results; returns the index path."""
    table = results_table(results)
    names = sorted(set(results["network"].astype(str)))
    links = {}
    for name in names:
        page = network_page(out, name)
        links[name] = page.relative_to(out).as_posix()
    body = ["<h1>Efficiency of the archprof zoo, measured</h1>",
            *(f"<p>{html.escape(line)}</p>" for line in intro if line.strip()),
            "<h2>Results at batch 1</h2>",
            "<p>Top-1 as published (see each network's page for the source); G-MACs: "
            "multiply-accumulates per image (G-FLOPs = 2 x MACs); peak MB = 10<sup>6</sup> "
            "bytes measured.</p>", _table(table, RESULT_COLUMNS, links), "<h2>Charts</h2>"]
    for chart in charts:
        files = chart_files.get(chart.name, [])
        if not files:
            body.append(f"<p><b>{html.escape(chart.title)}</b>: "
                        + html.escape("; ".join(chart.notes)) + "</p>")
            continue
        rel = {p.suffix.lstrip("."): p.relative_to(out).as_posix() for p in files}
        image = rel.get("svg") or rel.get("png")
        others = ", ".join(f'<a href="{html.escape(v)}">{k.upper()}</a>' for k, v in rel.items())
        notes = "".join(f"<br>{html.escape(n)}" for n in chart.notes)
        body.append(f'<figure id="{chart.name}"><img src="{html.escape(image or "")}" '
                    f'alt="{html.escape(chart.title)}"><figcaption><b>{html.escape(chart.title)}'
                    f"</b> ({others}){notes}</figcaption></figure>")
    body.append("<h2>Networks</h2><p>" + ", ".join(
        f'<a href="{html.escape(links[n])}">{html.escape(n)}</a>' for n in names) + "</p>")
    index = out / "index.html"
    _write(index, _page("archprof report", body))
    return index
