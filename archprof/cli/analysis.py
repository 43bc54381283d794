"""Static analysis commands: table, list, explain, compare, sweep."""
from __future__ import annotations

import sys

import click

from archprof.analysis import Analysis, analyze, uncounted_text
from archprof.cli.options import (
    MAC_NOTE,
    analysis_options,
    format_option,
    freeze_option,
    given,
    optimizer_option,
    parse_input,
    parse_params,
)
from archprof.errors import SpecError
from archprof.figures.render import Column, Table, render
from archprof.source import graph, parameters
from archprof.units import count, human, human_bytes
from archprof.zoo import PARALLEL_FROM, WORKER_LEAST

# --- table ----------------------------------------------------------------------------------
LAYER_COLUMNS = [Column("name", "name"), Column("type", "type"), Column("shape", "output (CxHxW)"),
                 Column("params", "params", "int"), Column("macs", "MACs", "int"),
                 Column("activations", "activations", "int"), Column("rf", "rf", "num"),
                 Column("jump", "jump", "num"), Column("pct_params", "%params", "pct"),
                 Column("pct_macs", "%MACs", "pct")]
CSV_DROP = ["line"]


@click.command()
@click.argument("name")
@analysis_options
@click.option("--depth", type=click.IntRange(min=1), help="Collapse rows to this many name levels.")
@click.option("--by", type=click.Choice(["layer", "type"]), default="layer", show_default=True,
              help="'type': one row per layer type (conv 1x1, conv 3x3 dw, fc, ...) with shares.")
@click.option("--train", is_flag=True, help="Add backward MACs and a training step's memory.")
@optimizer_option
@freeze_option
@click.option("--strict", is_flag=True,
              help="Exit 1 when a traced op has no rule (it is listed either way).")
@format_option
def table(name: str, input_shape: tuple | None, params: dict, batch: int, dtype: str,
          depth: int | None, by: str, train: bool, optimizer: str, freeze: str | None,
          strict: bool, fmt: str) -> None:
    """Per-layer table of NAME: output shape, params, MACs, activations, receptive field."""
    if by == "type" and depth:
        raise click.UsageError("--by type and --depth group the rows two ways: give one")
    if by == "type" and train:
        raise click.UsageError("--by type sums the forward counts per layer type; the training "
                               "columns are per layer: drop --train or --by type")
    needs_train(train, freeze)
    a = analyze(graph(name, params, input_shape, dtype=dtype), batch=batch, dtype=dtype,
                train=train, optimizer=optimizer, freeze=freeze)
    uncounted = a.totals["uncounted_ops"]
    if strict and uncounted:
        click.echo(f"error: {a.spec.name}: no rule counts {sum(uncounted.values())} op(s): "
                   + uncounted_text(a.totals), err=True)
        sys.exit(1)
    if train:
        warn_unfrozen(a, freeze)
    if by == "type":
        if fmt == "text":
            click.echo(header(a))
        click.echo(render(a.by_type(), TYPE_COLUMNS, fmt))
        return
    t = a.totals
    columns = layer_columns(a.graph.input) + (TRAIN_COLUMNS if train else [])
    if fmt in ("csv", "json"):
        rows = a.collapsed(depth) if depth else a.layers
        click.echo(render(rows.drop(columns=CSV_DROP, errors="ignore"), columns, fmt))
        return
    if depth:
        table: Table = a.collapsed(depth)
    elif train:
        table = a.layers        # the training columns are added to the DataFrame
    else:
        table = a.columns       # plain columns: printing them never imports pandas
    footer = [["total", "", "", f"{t['params']:,}", f"{t['macs']:,}", f"{t['activations']:,}",
               "", "", "100.00", "100.00"]
              + ([f"{t['backward_macs']:,}", f"{int(sum(table['saved'])):,}"] if train else [])]
    if fmt == "text":
        click.echo(header(a))
    click.echo(render(table, columns, fmt, footer))
    if fmt == "text":
        click.echo(summary(a))
        if train:
            click.echo(training_summary(a))


TRAIN_COLUMNS = [Column("backward_macs", "backward MACs", "int"), Column("saved", "saved", "int")]


def layer_columns(input: tuple[int, ...]) -> list[Column]:
    """The shape column says CxHxW where the input is an image, nothing it is not sure of."""
    if len(input) == 3:
        return LAYER_COLUMNS
    return [Column("shape", "output") if c.key == "shape" else c for c in LAYER_COLUMNS]


def needs_train(train: bool, freeze: str | None) -> None:
    """--freeze and an --optimizer given describe a training step: refused without --train."""
    if freeze is not None and not train:
        raise click.UsageError("--freeze sets what a training step updates: add --train")
    if not train and given("optimizer"):
        raise click.UsageError("--optimizer sets the state a training step keeps: add --train")


def warn_unfrozen(a: Analysis, freeze: str | None) -> None:
    if freeze and not a.totals["frozen"]:
        click.echo(f"warning: --freeze '{freeze}' matches no layer with weights in "
                   f"{a.spec.name}; nothing is frozen", err=True)


def training_summary(a: Analysis) -> str:
    """The memory of one training step, term by term, under the table."""
    t = a.totals
    frozen = f", {count(t['frozen_layers'], 'layer')} frozen" if t["frozen_layers"] else ""
    terms = [("weights and buffers", t["train_params_bytes"]),
             ("gradients", t["train_grads_bytes"]),
             (f"optimizer state ({t['optimizer']})", t["train_optimizer_bytes"]),
             ("saved activations", t["train_saved_bytes"]),
             ("input batch and labels", t["train_input_bytes"])]
    lines = ["", f"training step ({t['optimizer']}, {t['dtype']}, batch {t['batch']}{frozen}; "
             "saved = elements autograd keeps for the backward)",
             f"backward MACs  {t['backward_macs']:,} ({human(t['backward_macs'])}); forward + "
             f"backward {human(t['train_macs'])} = {t['train_ratio']:.2f} x forward"]
    lines += [f"  {what:<28}{human_bytes(n):>12}" for what, n in terms]
    lines.append(f"  {'peak':<28}{human_bytes(t['train_peak_bytes']):>12}  "
                 f"({t['train_peak_at']})")
    return "\n".join(lines)


TYPE_COLUMNS = [Column("type", "type"), Column("count", "count", "int"),
                Column("params", "params", "int"), Column("pct_params", "%params", "pct"),
                Column("pct_weights", "%weights", "pct"), Column("macs", "MACs", "int"),
                Column("pct_macs", "%MACs", "pct")]


def header(a: Analysis) -> str:
    t, s = a.totals, a.spec
    year = f", {s.year}" if s.year else ""
    return (f"{s.name}: {s.title}{year} | input {t['input']} | batch {t['batch']} | {t['dtype']}\n"
            f"({MAC_NOTE}; activations in elements, the input included; in-place ops add none)\n")


def summary(a: Analysis) -> str:
    t = a.totals
    return "\n".join([
        "",
        f"params       {t['params']:,} ({human(t['params'])}; {human_bytes(t['param_bytes'])} as "
        f"{t['dtype']}); buffers {t['buffers']:,}",
        f"MACs         {t['macs']:,} ({human(t['macs'])}); other ops {human(t['other_ops'])}",
        f"activations  {t['activations']:,} elements ({human_bytes(t['activation_bytes'])}); "
        f"peak live {t['peak_activations']:,} ({human_bytes(t['peak_bytes'])})",
    ] + ([f"outputs      {', '.join(a.graph.outputs)} (rows nothing reads are outputs, as "
          "auxiliary heads are)"] if len(a.graph.outputs) > 1 else [])
      + ([f"uncounted    {sum(t['uncounted_ops'].values())} op(s) with no rule, not in the "
          "numbers above: " + uncounted_text(t)]
         if t.get("uncounted_ops") else [])
      + ([f"constant     {sum(t['constant_work'].values())} op(s) with MACs run on parameters "
          "alone, once per forward whatever the batch, not in the numbers above: "
          + ", ".join(f"{op} x{n}" for op, n in t["constant_work"].items())]
         if t.get("constant_work") else []))


# --- list -----------------------------------------------------------------------------------
LIST_COLUMNS = [Column("name", "name"), Column("title", "title"), Column("year", "year"),
                Column("input", "input"), Column("params", "params", "human"),
                Column("macs", "MACs", "human"), Column("activations", "activations", "human"),
                Column("peak_activations", "peak act.", "human"), Column("top1", "top-1", "str"),
                Column("top5", "top-5", "str"), Column("dataset", "accuracy on")]


@click.command("list")
@format_option
def list_networks(fmt: str) -> None:
    """Every network in specs/ with its totals and published accuracy."""
    from archprof.zoo import overview_columns
    columns = overview_columns()
    if fmt == "text":
        click.echo(f"({MAC_NOTE}; activations in elements per image)\n")
    click.echo(render(columns, LIST_COLUMNS, fmt))


# --- explain --------------------------------------------------------------------------------
@click.command()
@click.argument("name")
@click.argument("layer", required=False)
@analysis_options
@click.option("--train", is_flag=True, help="Also the backward MACs and what autograd saves.")
@freeze_option
def explain(name: str, layer: str | None, input_shape: tuple | None, params: dict, batch: int,
            dtype: str, train: bool, freeze: str | None) -> None:
    """The arithmetic behind every number of NAME (or of LAYER and the ops inside it)."""
    needs_train(train, freeze)
    a = analyze(graph(name, params, input_shape, dtype=dtype), batch=batch, dtype=dtype,
                train=train, freeze=freeze)
    if train:
        from archprof.training import explain as explain_training
        from archprof.training import plan
        warn_unfrozen(a, freeze)
        steps = plan(a.graph, freeze=freeze)
    nodes = [n for n in a.graph.nodes
             if layer is None or n.name == layer or n.name.startswith(layer + ".")]
    if not nodes:
        from archprof.errors import did_you_mean
        raise SpecError(f"no layer '{layer}' in {a.spec.name}",
                        hint=did_you_mean(layer or "", [n.name for n in a.graph.nodes]))
    rf = dict(zip(a.layers["name"], zip(a.layers["rf"], a.layers["jump"])))
    click.echo(f"{a.spec.name}, input {a.totals['input']}"
               + (f", batch {batch}" if batch > 1 else "") + f" ({MAC_NOTE})")
    for node in nodes:
        parts = node.op.explain(node.ins, node.out)
        size, jump = rf[node.name]
        macs = parts["macs"]        # the arithmetic is per sample
        if batch > 1:
            macs += f" per sample, x {batch} = {node.counts()[3] * batch:,}"
        click.echo(f"{node.name}: out = {parts['out']}; params = {parts['params']}; "
                   f"MACs = {macs}; receptive field {size}, jump {jump}")
        if train:
            click.echo("  " + explain_training(steps, a.graph.nodes.index(node), batch))


# --- compare / sweep ----------------------------------------------------------------------------
COMPARE_COLUMNS = [Column("name", "name"), Column("input", "input"),
                   Column("params", "params", "int"), Column("params_ratio", "x params", "float"),
                   Column("macs", "MACs", "int"), Column("macs_ratio", "x MACs", "float"),
                   Column("activations", "activations", "int"),
                   Column("param_mb", "params MB (fp32)", "float"), Column("top1", "top-1")]


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--param", "params", multiple=True, callback=parse_params, metavar="KEY=VALUE",
              help="Override a parameter in every network that has it.")
@format_option
def compare(names: tuple[str, ...], params: dict, fmt: str) -> None:
    """Totals of several networks side by side, with ratios to the first."""
    from archprof.zoo import compare as run
    for key in params:
        if not any(key in parameters(n) for n in names):
            raise SpecError(f"no network among {', '.join(names)} has parameter '{key}'")
    table = run(list(names), params)       # an unknown name fails before anything is printed
    if fmt == "text":
        click.echo(f"({MAC_NOTE})\n")
    click.echo(render(table, COMPARE_COLUMNS, fmt))


@click.command()
@click.argument("name")
@click.option("--param", "grid", multiple=True, metavar="KEY=V1,V2,...",
              help="Values to sweep (repeatable: the product of all is swept).")
@click.option("--input", "inputs", metavar="AxBx...[,AxBx...]",
              help="Input shapes to sweep (1 to 5 sizes each).")
@click.option("--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help=f"Worker processes for a grid of {PARALLEL_FROM:,} variants or more, at most "
                   f"one per {WORKER_LEAST} variants (0: one per CPU; 1: none).")
@format_option
def sweep(name: str, grid: tuple[str, ...], inputs: str | None, jobs: int, fmt: str) -> None:
    """One row per parameter value (e.g. --param alpha=1.0,0.75,0.5,0.25)."""
    from archprof.zoo import sweep as run
    values = {}
    for item in grid:
        key, _, raw = item.partition("=")
        if not raw:
            raise click.BadParameter(f"'{item}' is not key=v1,v2,...", param_hint="--param")
        if key in values:
            raise click.BadParameter(f"'{key}' is given twice; list its values once: "
                                     f"{key}=v1,v2,...", param_hint="--param")
        if "" in raw.split(","):
            raise click.BadParameter(f"'{item}' has an empty value", param_hint="--param")
        values[key] = [parse_params(None, None, (f"{key}={v}",))[key] for v in raw.split(",")]
    shapes = [parse_input(None, None, s) for s in inputs.split(",")] if inputs else None
    if not values and not shapes:
        raise click.UsageError("give --param KEY=V1,V2,... and/or --input SHAPES to sweep")
    df = run(name, values, shapes, jobs=jobs)
    columns = [Column(k, k) for k in values] + [
        Column("input", "input"), Column("params", "params", "int"), Column("macs", "MACs", "int"),
        Column("activations", "activations", "int")]
    if fmt == "text":
        click.echo(f"{name} ({MAC_NOTE})\n")
    click.echo(render(df, columns, fmt))
