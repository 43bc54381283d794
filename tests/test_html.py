"""The static HTML report: links resolve, numbers are the analysis', and a real browser
(headless Chromium) loads every page with no console error and every image rendered."""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from archprof import analyze
from archprof.cli import main
from archprof.measure import report
from archprof.measure.bench import load_results

REPORTS = Path(__file__).resolve().parents[1] / "reports"
NETS = ["alexnet", "resnet50", "googlenet", "vgg16"]
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                 if p), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                    "(Debian: apt-get install chromium); browser checks skipped")


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "img":
            self.images.append(a.get("src") or "")


def parsed(page: Path) -> Links:
    p = Links()
    p.feed(page.read_text())
    return p


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of four networks from the committed measurements, written as `report` does."""
    out = tmp_path_factory.mktemp("report")
    results = load_results([REPORTS / "results.csv"])
    results = results[results["network"].isin(NETS)]
    report.write_readme(out, results, "archprof report --out x --device cpu")
    return out


def test_every_link_and_image_resolves(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert [p.relative_to(site).as_posix() for p in pages] == sorted(
        ["index.html", *(f"networks/{n}.html" for n in NETS)])
    for page in pages:
        p = parsed(page)
        for target in p.links + p.images:
            assert not re.match(r"[a-z]+:", target), f"{page}: {target} is not relative"
            assert (page.parent / target.split("#")[0]).is_file(), f"{page}: {target}"
    index = parsed(site / "index.html")
    assert sum(i.startswith("charts/") and i.endswith(".svg") for i in index.images) == 8
    assert sorted(l for l in index.links if l.startswith("networks/")) == sorted(
        [f"networks/{n}.html" for n in NETS] * 2)          # from the table and the list


def test_numbers_on_the_pages_are_the_analysis(site: Path) -> None:
    text = (site / "index.html").read_text()
    t = analyze("resnet50").totals
    row = re.search(r'resnet50</a></td>(.*?)</tr>', text)
    assert row is not None
    values = re.findall(r'<td class="[^"]*">([^<]*)</td>', row[1])
    assert values[1:3] == ["76.13", "25.56M"] and values[3] == f"{t['macs'] / 1e9:.2f}"
    page = (site / "networks" / "resnet50.html").read_text()
    assert f"params {t['params']:,}" in page and f"MACs {t['macs']:,}" in page
    assert "conv4_x  (block x6)" in page or "conv4_x" in (site / "networks" / "resnet50.dot").read_text()


def check_in_browser(page: Path) -> tuple[str, str, str]:
    """Load a copy of the page with a checker script: (console and load errors, images that
    did not render, Chromium's own console lines)."""
    probe = page.with_name(f"_probe_{page.name}")
    script = ("<script>window.__errors=[];console.error=(...a)=>window.__errors.push(a.join(' '));"
              "window.addEventListener('error',e=>window.__errors.push((e.target&&e.target.src)||"
              "e.message),true);window.addEventListener('load',()=>{document.body.dataset.errors="
              "window.__errors.join('|');document.body.dataset.broken=[...document.images].filter("
              "i=>!(i.complete&&i.naturalWidth>0)).map(i=>i.getAttribute('src')).join('|');"
              "document.body.dataset.checked='yes'});</script>")
    probe.write_text(page.read_text().replace("<head>", "<head>" + script, 1))
    try:
        run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                              "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                             timeout=120)
    finally:
        probe.unlink()
    dom = run.stdout
    assert 'data-checked="yes"' in dom, dom[-500:]
    attr = lambda name: re.search(rf'data-{name}="([^"]*)"', dom)[1]  # type: ignore[index]  # noqa: E731
    console = "\n".join(l for l in run.stderr.splitlines() if "CONSOLE" in l)
    return attr("errors"), attr("broken"), console


def screenshot_is_drawn(page: Path, shot: Path) -> None:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--window-size=1280,3000", "--virtual-time-budget=10000",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120,
                   check=True)
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    ink = (pixels < 200).any(axis=2).mean()
    colours = len(np.unique(pixels.reshape(-1, 3)[::97], axis=0))
    assert ink > 0.02 and colours > 50, (ink, colours)      # text, tables and charts, not blank


@needs_chromium
def test_pages_load_in_chromium(site: Path, tmp_path: Path) -> None:
    for page in sorted(site.rglob("*.html")):
        errors, broken, console = check_in_browser(page)
        assert (errors, broken, console) == ("", "", ""), page
    screenshot_is_drawn(site / "index.html", tmp_path / "index.png")
    screenshot_is_drawn(site / "networks" / "googlenet.html", tmp_path / "googlenet.png")


@needs_chromium
def test_committed_report_loads_in_chromium(tmp_path: Path) -> None:
    copy = tmp_path / "reports"
    shutil.copytree(REPORTS, copy)
    errors, broken, console = check_in_browser(copy / "index.html")
    assert (errors, broken, console) == ("", "", "")
    index = parsed(copy / "index.html")
    assert len([i for i in index.images if i.startswith("charts/")]) == 8
    for target in index.links + index.images:
        assert (copy / target).is_file(), target
    screenshot_is_drawn(copy / "index.html", tmp_path / "index.png")


def test_report_no_measure_redraws_from_results(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-measure runs no benchmark and keeps the measuring command in the README."""
    out = tmp_path / "rep"
    out.mkdir()
    rows = pd.read_csv(REPORTS / "results.csv")
    rows[rows["network"].isin(["alexnet", "resnet18"])].to_csv(out / "results.csv", index=False)
    (out / "README.md").write_text("# old\n\n```\narchprof report --out rep --device cpu\n```\n")
    monkeypatch.setattr("archprof.measure.bench.sweep", lambda *a, **k: pytest.fail("measured"))
    result = CliRunner().invoke(main, ["report", "--out", str(out), "--no-measure"])
    assert result.exit_code == 0, result.output
    text = (out / "README.md").read_text()
    assert "```\narchprof report --out rep --device cpu\n```" in text
    assert (out / "index.html").is_file() and (out / "networks" / "resnet18.html").is_file()
    assert (out / "charts" / "02_top1_vs_ops.pdf").is_file()
