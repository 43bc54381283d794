"""`archprof import`: a torch module (or any NAME) written as a spec that reproduces it."""
from __future__ import annotations

from pathlib import Path

import click

from archprof.cli.options import parse_input, parse_params
from archprof.errors import SpecError
from archprof.files import replacing
from archprof.source import graph, is_callable_ref
from archprof.spec.expand import NAME


@click.command("import")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the spec to this file (default: print it).")
@click.option("--input", "input_shape", callback=parse_input, metavar="CxHxW",
              help="Input shape per image the module is traced with (default 3x224x224).")
@click.option("--param", "params", multiple=True, callback=parse_params, metavar="KEY=VALUE",
              help="A keyword argument of the callable (repeatable).")
@click.option("--network", metavar="WORD", callback=lambda ctx, param, value: _word(value),
              help="The network's name in the spec (default: the callable's).")
def import_spec(name: str, output: str | None, input_shape: tuple | None, params: dict,
                network: str | None) -> None:
    """Write MODULE:CALLABLE (or file.py:CALLABLE) as a spec: `archprof table` of the spec
    equals that of the module layer by layer; repeated blocks are written once with `repeat`."""
    from archprof.trace.to_spec import to_spec

    g = graph(name, params, input_shape)
    command = " ".join(["archprof import", name]
                       + [f"--param {k}={v}" for k, v in params.items()]
                       + ([f"--input {'x'.join(map(str, input_shape))}"] if input_shape else []))
    default = name.rpartition(":")[2].rpartition(".")[2] if is_callable_ref(name) else None
    text = to_spec(g, name=network or default, note=f"written by `{command}`")
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with replacing(Path(output)) as f:     # a spec folder's readers never see half
            f.write(text)
    except OSError as err:
        raise SpecError(f"cannot write {output}: {err.strerror}") from None
    click.echo(f"wrote {output}: {len(g.nodes)} ops; `archprof table {output}` reproduces "
               f"{name} layer by layer", err=True)


def _word(value: str | None) -> str | None:
    """A network name as `archprof table FILE:NAME` can name it (the spec's rule for names):
    taken as given, or refused (renaming it in silence would leave the user's name unknown)."""
    if value is not None and not NAME.match(value):
        raise click.BadParameter(f"'{value}' is not a word of letters, digits and _ that "
                                 "does not start with a digit", param_hint="--network")
    return value
