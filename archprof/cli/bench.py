"""`archprof bench`: the CLI over archprof.measure.bench.sweep. Importing this module is cheap (click
and archprof.cli's parsers): torch and archprof.measure.bench are imported when the command runs."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from archprof.cli.options import (
    SpecFailure,
    given,
    input_option,
    optimizer_option,
    param_option,
    parse_batch_sizes,
    parse_shard,
)

BENCH_DTYPES = ["float32", "float16", "bfloat16"]


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_networks", is_flag=True, help="Every network in specs/.")
@click.option("--batch-sizes", default="1", show_default=True, callback=parse_batch_sizes,
              metavar="N,N,...", help="Batch sizes to sweep, e.g. 1,2,4,8.")
@click.option("--device", default=None, metavar="cpu|cuda|cuda:N",
              help="Device (default: cuda when available, else cpu).")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(BENCH_DTYPES))
@click.option("--channels-last", is_flag=True, help="Model and input in channels_last layout.")
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model.")
@click.option("--threads", type=click.IntRange(min=1), help="torch.set_num_threads (CPU).")
@param_option
@input_option()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reports/results.csv"), show_default=True, help="Results CSV.")
@click.option("--force", is_flag=True, help="Measure again configs already in --out.")
@click.option("--mode", type=click.Choice(["inference", "train"]), default="inference",
              show_default=True, help="train: training steps (forward, cross-entropy, backward, "
              "optimizer step) beside archprof's static step peak.")
@optimizer_option     # adam, as `table --train` and `fit`: their static peak is the step's
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds of timed runs per config (3 runs at least).")
@click.option("--shard", callback=parse_shard, metavar="K/N",
              help="Measure only part K of N disjoint parts of the plan, balanced by static cost "
                   "(e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).")
def bench(names: tuple[str, ...], all_networks: bool, batch_sizes: tuple[int, ...],
          device: str | None, dtype: str, channels_last: bool, compile_model: bool,
          threads: int | None, params: dict, input_shape: tuple | None, out: Path, force: bool,
          mode: str, optimizer: str, budget: float, shard: tuple[int, int] | None) -> None:
    """Time NAMES (or --all) over batch sizes; append the rows to --out (rerun to resume).
    Any number of bench processes may write one --out at once. A NAME is a network of specs/,
    a spec file, or MODULE:CALLABLE / path/file.py:CALLABLE: the module it returns (--param
    as keyword arguments), moved to --device, its static columns from its trace at --input.

    Median of adaptive repeated runs, per-image latency, images/s, measured and static
    memory, and achieved MAC/s as a fraction of this device's matmul peak.
    """
    from archprof.errors import SpecError
    from archprof.measure.bench import sweep
    from archprof.spec.load import registry

    if all_networks == bool(names):
        raise SpecFailure("name the networks to benchmark, or pass --all (not both)")
    if mode == "inference" and given("optimizer"):
        raise click.UsageError("--optimizer is that of --mode train: add --mode train")
    try:
        names = tuple(sorted(registry())) if all_networks else names
        df = sweep(names, batch_sizes, device=device, dtype=dtype, channels_last=channels_last,
                   compile=compile_model, threads=threads, params=params, input=input_shape,
                   out=out, force=force, budget_s=budget, progress=True, shard=shard,
                   mode=mode if mode == "inference" else f"train-{optimizer}")
    except SpecError as err:
        raise SpecFailure(str(err)) from None
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: every finished row is kept in {out}; rerun to resume",
                   err=True)
        sys.exit(130)
    click.echo(summary(df, out))


def summary(df: Any, out: Path) -> str:
    from archprof.figures.render import Column, render
    from archprof.units import count, human, human_bytes

    columns = [Column("network", "network"), Column("mode", "mode"), Column("batch", "batch", "num"),
               Column("status", "status"), Column("runs", "runs", "num"),
               Column("ms_per_image", "ms/image", "float"), Column("iqr_pct", "IQR %", "float"),
               Column("images_per_s", "images/s", "float"), Column("memory", "memory", "num"),
               Column("static", "static", "num"),
               Column("pct_peak", "% of peak", "float")]
    # like with like: static_peak_bytes is an inference's live activations (the weights and
    # input come on top) but a training step's whole peak
    infer = df["mode"] == "inference"
    measured = df["mem_peak_bytes"].astype(float) - df["mem_context_bytes"].astype(float).where(
        infer, 0.0)
    df = df.assign(iqr_pct=100 * df["iqr_ms"] / df["median_ms"],
                   pct_peak=100 * df["fraction_of_peak"],
                   memory=[human_bytes(v) if v == v else "" for v in measured],
                   static=[human_bytes(v) for v in df["static_peak_bytes"].astype(float)])
    lines = [render(df, columns, "text"), ""]
    if infer.any():
        lines.append("memory, static (inference): the peak of activations above the weights and "
                     "input, measured and static")
    if (~infer).any():
        lines.append("memory, static (training): the whole step's peak, measured and static")
    for (device, name, dtype), peaks in df.groupby(["device", "device_name", "dtype"])[
            "peak_macs_per_s"]:
        values = ", ".join(f"{human(p)}MAC/s" for p in peaks.dropna().unique())
        if values:     # rows kept from earlier runs carry the peak measured in their run
            lines.append(f"matmul peak on {device} ({name}, {dtype}): {values}")
    lines.append(f"{count(len(df), 'row')} in {out}")
    return "\n".join(lines)
