"""`archprof merge`: several results files (the parts of a sharded sweep) into one."""
from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged results CSV; rows it already holds are kept.")
def merge(files: tuple[Path, ...], out: Path) -> None:
    """Merge results FILES into --out, every configuration once: a row found again identical is
    kept once; the same configuration with different results is an error naming both places
    (and nothing is written)."""
    from archprof.measure.bench import ResultsFile, merge_rows, write_rows

    with ResultsFile(out).lock():          # other writers of --out wait; none is lost
        sources = [out] if out.exists() else []
        sources += [f for f in files if not (out.exists() and f.samefile(out))]
        rows = merge_rows(sources)
        write_rows(out, rows)
    click.echo(f"{len(rows)} rows from {len(files)} file{'s' * (len(files) > 1)} in {out}")
