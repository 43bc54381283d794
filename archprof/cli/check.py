"""`archprof check`: specs against their papers, their built models and fvcore."""
from __future__ import annotations

import sys

import click

from archprof.cli.options import input_option, parse_params
from archprof.progress import progress_bar
from archprof.source import is_callable_ref
from archprof.spec.load import load_spec, registry


@click.command()
@click.argument("names", nargs=-1)
@click.option("--no-fvcore", is_flag=True, help="Skip the (slower) MAC count by fvcore on CPU.")
@click.option("--param", "params", multiple=True, callback=parse_params, metavar="KEY=VALUE",
              help="A spec parameter or a keyword argument of MODULE:CALLABLE: checks a variant "
                   "(expect rows and references describe the defaults).")
@input_option("the spec's; 3x224x224 for MODULE:CALLABLE; paper figures are checked at the "
              "spec's")
@click.option("-v", "--verbose", is_flag=True, help="Show every passed check too.")
@click.option("--against", metavar="MODULE:CALLABLE",
              help="Compare the one spec named with this implementation, layer by layer "
                   "(output shapes, params, MACs of every conv, linear, norm, ... in order).")
def check(names: tuple[str, ...], no_fvcore: bool, params: dict, input_shape: tuple | None,
          verbose: bool, against: str | None) -> None:
    """Verify specs: expect rows, reference totals, static == built model == fvcore.
    A MODULE:CALLABLE is checked against its own module: params and buffers by numel, shapes
    by forward hooks, MACs by torch's FlopCounterMode.

    With --against: the spec against a torch implementation (MODULE:CALLABLE or
    path/file.py:CALLABLE); the first layer that differs is printed with both sides' numbers
    and names, exit status 1."""
    if against is not None:
        check_against(names, params, input_shape, against)
        return
    from archprof.check import check as run_check
    from archprof.check import check_module
    names = names or tuple(sorted(registry()))
    failed = []
    with progress_bar(len(names), "check", len(names) > 1, unit="network") as bar:
        for name in names:
            bar.set_postfix_str(name)
            report = (check_module(name, params, input_shape) if is_callable_ref(name) else
                      run_check(load_spec(name), params=params, fvcore=not no_fvcore,
                                input=input_shape))
            status = "ok  " if report.ok else "FAIL"
            lines = [f"{status} {report.name}: {len(report.passed)} checks passed"
                     + (f", {len(report.failed)} failed" if report.failed else "")]
            lines += [f"     FAILED {line}" for line in report.failed]
            lines += [f"     {line}" for line in report.passed] if verbose else []
            with bar.external_write_mode():
                click.echo("\n".join(lines))
            bar.update()
            if not report.ok:
                failed.append(report.name)
    if failed:
        click.echo(f"{len(failed)} of {len(names)} networks failed: {', '.join(failed)}")
        sys.exit(1)
    click.echo(f"all {len(names)} networks passed")




def check_against(names: tuple[str, ...], params: dict, input_shape: tuple | None,
                  against: str) -> None:
    from archprof.analysis import analyze
    from archprof.check import check_against as run
    from archprof.check import describe_against
    from archprof.source import graph

    if len(names) != 1:
        raise click.UsageError("--against compares one spec: name exactly one")
    spec = analyze(graph(names[0], params, input_shape))
    other = analyze(graph(against, None, spec.graph.input))
    result = run(spec, other)
    click.echo("\n".join(describe_against(result, names[0], against)))
    if not result.ok:
        sys.exit(1)
