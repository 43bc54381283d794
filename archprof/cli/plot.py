"""`archprof plot`, `archprof report` and `archprof pick`: click commands registered in archprof.cli.

Everything heavy (matplotlib, torch, the benchmark) is imported inside the commands, so that
importing the CLI - e.g. for `archprof table` - stays light.
"""
from __future__ import annotations

from pathlib import Path

import click

from archprof.cli.options import parse_batch_sizes, parse_shard
from archprof.errors import SpecError
from archprof.figures.presets import PRESETS
from archprof.units import megabytes, parse_quantity

RESULTS = click.argument("results", nargs=-1, required=True,
                         type=click.Path(exists=True, dir_okay=False, path_type=Path))
OPS_OPTION = click.option("--ops", type=click.Choice(["macs", "flops"]), default="macs",
                          show_default=True,
                          help="Operations axis: G-MACs, or G-FLOPs = 2 x MACs as Canziani counted.")


def parse_count(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_quantity(value)[0]
    except SpecError as err:
        raise click.BadParameter(err.message) from None


def parse_names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@click.command()
@RESULTS
@click.option("--out", default=Path("reports/charts"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the charts.")
@OPS_OPTION
@click.option("--fit-batch", default=1, show_default=True, type=click.IntRange(min=1),
              help="Batch size of the operations vs time chart.")
@click.option("--throughput-batches", default="1,16", show_default=True, callback=parse_batch_sizes,
              help="Batch sizes of the top-1 vs images/s panels.")
@click.option("--networks", callback=parse_names, metavar="A,B,...",
              help="Only these networks (comma-separated), named as in the results: "
                   "e.g. resnet50 or mypkg.nets:build.")
@click.option("--family", "families", callback=parse_names, metavar="F,G,...",
              help="Only the networks of these families, e.g. ResNet,VGG.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)),
              help="canziani: the 14 networks of Canziani et al. 2017, operations as G-FLOPs "
                   "on linear axes (overrides --networks and --ops).")
def plot(results: tuple[Path, ...], out: Path, ops: str, fit_batch: int,
         throughput_batches: tuple[int, ...], networks: tuple[str, ...],
         families: tuple[str, ...], preset: str | None) -> None:
    """Draw every efficiency chart from RESULTS files (archprof bench) plus the specs, each as
    PNG, SVG and PDF with its data as CSV. A benched MODULE:CALLABLE has its traced params and
    MACs and no known accuracy: charts of top-1 leave it out, with a note."""
    from archprof.figures.plot import all_charts, save, select
    from archprof.measure.bench import load_results
    log_ops = None
    if preset:
        networks, ops, log_ops = (PRESETS[preset][k] for k in ("networks", "ops", "log_ops"))
    try:
        chosen = select(load_results(list(results)), networks, families)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    for chart in all_charts(chosen, ops, fit_batch, throughput_batches, log_ops):
        paths = save(chart, out)
        click.echo(f"{chart.name}: " + (", ".join(map(str, paths)) if paths else "skipped"))
        for note in chart.notes:
            click.echo(f"    note: {note}")


@click.command()
@click.option("--out", default=Path("reports"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for results.csv, charts/ and README.md.")
@click.option("--device", help="cpu, cuda or cuda:N (default: cuda when available).")
@click.option("--batch-sizes", default="1,2,4,8,16,32,64", show_default=True,
              callback=parse_batch_sizes, help="Batch sizes to try (on CPU, capped by --max-batch-ms).")
@click.option("--max-batch-ms", default=2000.0, show_default=True, type=click.FloatRange(min=0),
              help="On CPU, skip a batch size whose forward pass would take longer than this, "
                   "estimated from the measured batch-1 time.")
@click.option("--budget-s", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="Time budget per configuration.")
@OPS_OPTION
@click.option("--force", is_flag=True, help="Measure again configurations already in the results.")
@click.option("--shard", callback=parse_shard, metavar="K/N",
              help="Only measure part K of N of the networks (balanced by MACs), no README: "
                   "rerun without --shard when every part is done.")
@click.option("--no-measure", is_flag=True,
              help="Measure nothing: redraw the charts, README.md and index.html from "
                   "OUT/results.csv.")
@click.argument("names", nargs=-1)
def report(out: Path, device: str | None, batch_sizes: tuple[int, ...], max_batch_ms: float,
           budget_s: float, ops: str, force: bool, shard: tuple[int, int] | None,
           no_measure: bool, names: tuple[str, ...]) -> None:
    """Benchmark NAMES (default: every network in specs/) with the sweep that fits this machine,
    then write every chart (PNG, SVG, PDF, CSV), OUT/README.md with the environment and this
    command, and the static site OUT/index.html (a page per network with its diagram)."""
    from archprof.measure.report import redraw, run
    readme: Path | None
    if no_measure:
        if not (out / "results.csv").exists():
            raise click.BadParameter(f"{out / 'results.csv'} does not exist", param_hint="--out")
        readme = redraw(out, ops)
    else:
        readme = run(out=out, names=names, device=device, batch_sizes=batch_sizes,
                     max_batch_ms=max_batch_ms, budget_s=budget_s, ops=ops, force=force,
                     shard=shard)
    if readme is not None:
        click.echo(f"wrote {readme} and {out / 'index.html'}")
    elif shard is not None:
        click.echo(f"measured part {shard[0]}/{shard[1]} into {out / 'results.csv'}; "
                   "run report without --shard to write the README")


PICK_FORMATS = ("text", "markdown", "csv", "json")


@click.command()
@RESULTS
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--max-latency-ms", type=click.FloatRange(min=0),
              help="Budget on the median time of one batch.")
@click.option("--max-memory-mb", type=click.FloatRange(min=0),
              help="Budget on the measured peak memory (MB = 10^6 bytes).")
@click.option("--max-params", callback=parse_count, metavar="N",
              help="Budget on parameters, e.g. 25M or 25000000.")
@click.option("--device", help="Only this device ('cpu', 'cuda:0') or device-name fragment.")
@click.option("--format", "fmt", default="text", show_default=True, type=click.Choice(PICK_FORMATS))
def pick(results: tuple[Path, ...], batch: int, max_latency_ms: float | None,
         max_memory_mb: float | None, max_params: float | None, device: str | None,
         fmt: str) -> None:
    """The networks that fit a budget on the measured device, best top-1 first; * marks the
    Pareto frontier (no other fitting network is both faster and more accurate). Networks
    without a top-1 (a benched MODULE:CALLABLE has none known) come last."""
    from archprof.figures.render import Column, formatted, render
    from archprof.measure.bench import load_results
    from archprof.measure.pick import pick as run_pick
    table, notes = run_pick(load_results(list(results)), batch, max_latency_ms, max_memory_mb,
                            max_params, device)
    if fmt in ("csv", "json"):
        click.echo(render(table, [], fmt))
        return
    columns = [Column("front", "frontier"), Column("label", "network"), Column("top1", "top-1", "num"),
               Column("latency_ms", "ms/batch", "num"), Column("images_per_s", "images/s", "num"),
               Column("memory_mb", "MB", "num"), Column("spec_params", "params", "human"),
               Column("spec_macs", "MACs", "human")]
    shown = {"top1": "{:.2f}".format, "latency_ms": "{:.1f}".format,
             "images_per_s": "{:.1f}".format, "memory_mb": megabytes}
    table = formatted(table.assign(front=table["pareto"].map({True: "*", False: ""})), shown)
    for setup, group in table.groupby("setup", sort=False):
        click.echo(f"{setup}, batch {batch}: {len(group)} networks fit\n")
        click.echo(render(group, columns, fmt) + "\n")
    if table.empty:
        click.echo("no network fits this budget")
    for note in notes:
        click.echo(f"note: {note}")
