"""`archprof draw`: an architecture diagram of a network (DOT text; SVG/PDF/PNG through Graphviz)."""
from __future__ import annotations

from pathlib import Path

import click

from archprof.cli.options import SpecFailure, input_option, param_option


@click.command()
@click.argument("name")
@click.option("--depth", default=1, show_default=True, type=click.IntRange(min=1),
              help="Name levels drawn as boxes: 1 = stages/blocks, more = their insides.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="NAME.dot, .svg, .pdf or .png (default: DOT text on stdout).")
@click.option("--params", "show_params", is_flag=True, help="Parameters in each box.")
@click.option("--macs", "show_macs", is_flag=True, help="MACs in each box.")
@input_option()
@param_option
def draw(name: str, depth: int, output: Path | None, show_params: bool, show_macs: bool,
         input_shape: tuple | None, params: dict) -> None:
    """Diagram of NAME: boxes with output shapes, branches, merges, repeats folded as 'x N'."""
    from archprof.analysis import analyze
    from archprof.figures.draw import FORMATS, GraphvizMissing, render, to_dot
    from archprof.source import graph
    graph_ = graph(name, params, input_shape)   # a spec, or MODULE:CALLABLE traced
    dot = to_dot(analyze(graph_), depth, show_params, show_macs)
    if output is None:
        click.echo(dot, nl=False)
        return
    if output.suffix.lstrip(".").lower() not in FORMATS:
        raise SpecFailure(f"{output}: the format comes from the suffix, one of "
                          + ", ".join("." + f for f in FORMATS))
    try:
        click.echo(f"wrote {render(dot, output)}")
    except GraphvizMissing as err:
        raise SpecFailure(str(err)) from None
