"""`archprof fit`: the largest batch whose static peak memory fits a budget."""
from __future__ import annotations

import json

import click

from archprof.cli.options import (
    freeze_option,
    given,
    input_option,
    optimizer_option,
    param_option,
    parse_size,
)

FIT_DTYPES = ["float32", "float16", "bfloat16"]


@click.command()
@click.argument("name")
@click.option("--memory", required=True, callback=parse_size, metavar="SIZE",
              help="Memory budget: 16GiB (2^30), 16GB (10^9), 512MiB, or bytes.")
@optimizer_option
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(FIT_DTYPES),
              help="float16/bfloat16: mixed precision with float32 master weights.")
@click.option("--infer", is_flag=True, help="Inference instead of a training step.")
@freeze_option
@input_option()
@param_option
@click.option("--format", "fmt", default="text", show_default=True,
              type=click.Choice(["text", "json"]))
def fit(name: str, memory: int, optimizer: str, dtype: str, infer: bool, freeze: str | None,
        input_shape: tuple | None, params: dict, fmt: str) -> None:
    """The largest batch of NAME whose static peak memory fits --memory (a training step with
    --optimizer, or inference with --infer), with the breakdown at that batch."""
    from archprof.source import graph as resolve
    from archprof.training import fit as run
    from archprof.units import human_bytes

    if infer and (freeze is not None or given("optimizer")):
        raise click.UsageError("--optimizer and --freeze describe a training step; --infer "
                               "fits inference: give one or the other")
    graph = resolve(name, params, input_shape)   # a spec, or MODULE:CALLABLE traced
    result = run(graph, memory, optimizer=optimizer, dtype=dtype, infer=infer, freeze=freeze)
    b = result.breakdown
    if freeze and not infer and not b["frozen_layers"]:
        click.echo(f"warning: --freeze '{freeze}' matches no layer with weights in "
                   f"{graph.spec.name}; nothing is frozen", err=True)
    if fmt == "json":
        click.echo(json.dumps({"network": graph.spec.name, "batch": result.batch,
                               "budget_bytes": memory, "dtype": dtype,
                               "peak_bytes": result.peak_bytes,
                               "next_peak_bytes": result.next_peak_bytes, **b}, indent=1))
        return
    mode = "inference" if infer else f"training step ({optimizer})"
    click.echo(f"{graph.spec.name}: largest batch {result.batch:,} for {mode} in {dtype} within "
               f"{memory:,} bytes ({human_bytes(memory)}): peak {result.peak_bytes:,}; batch "
               f"{result.batch + 1:,} would need {result.next_peak_bytes:,}")
    if b["element_limit"]:
        click.echo(f"  (at batch {result.batch + 1:,} a tensor would pass the 2^40 elements a "
                   "tensor may have: the budget is not what limits it)")
    if not infer:
        for what, key in [("weights and buffers", "train_params_bytes"),
                          ("gradients", "train_grads_bytes"),
                          ("optimizer state", "train_optimizer_bytes"),
                          ("saved activations", "train_saved_bytes"),
                          ("input batch and labels", "train_input_bytes")]:
            click.echo(f"  {what:<24}{human_bytes(b[key]):>12}")
        click.echo(f"  {'peak':<24}{human_bytes(result.peak_bytes):>12}  ({b['train_peak_at']})")
