"""The archprof command line (click). Every command is a thin layer over the Python API; one
module per group of commands. Heavy ones are imported only when used, so `archprof table`
never loads torch, matplotlib or fvcore."""
from __future__ import annotations

import importlib
import warnings
from typing import Any

import click

import archprof
from archprof.cli.options import SpecFailure
from archprof.errors import SpecError

# command -> "module:attribute", imported when the command is named
COMMANDS = {
    "table": "archprof.cli.analysis:table", "list": "archprof.cli.analysis:list_networks",
    "explain": "archprof.cli.analysis:explain", "compare": "archprof.cli.analysis:compare",
    "sweep": "archprof.cli.analysis:sweep", "check": "archprof.cli.check:check",
    "bench": "archprof.cli.bench:bench", "plot": "archprof.cli.plot:plot",
    "report": "archprof.cli.plot:report", "pick": "archprof.cli.plot:pick",
    "fit": "archprof.cli.train:fit",
    "merge": "archprof.cli.merge:merge",
    "import": "archprof.cli.imports:import_spec",
    "draw": "archprof.cli.draw:draw",
}


class Group(click.Group):
    """Commands are imported when named; spec errors and bad options become one-line
    messages (exit 2)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line(warnings.showwarning)
                return super().invoke(ctx)
        except SpecError as err:
            raise SpecFailure(str(err)) from None
        except click.UsageError as err:     # bad options too: one line, exit 2
            where = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            raise SpecFailure(err.format_message() + where) from None


def _one_line(shown: Any) -> Any:
    """`warnings.showwarning` that prints archprof's warnings (control flow a trace cannot
    follow, ...) as one line on stderr, as its errors are, and others as `shown` does."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if category.__module__.startswith("archprof."):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)
    return show


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(archprof.__version__, "-V", "--version", prog_name="archprof")
def main() -> None:
    """Analyse and profile CNN architectures from declarative specs.

    MACs: 1 MAC = one multiply-accumulate (conv and linear layers); everything else is
    reported apart as "other ops". FLOPs as some papers count them = 2 x MACs.

    \b
    Environment:
      ARCHPROF_SPECS  the folder of spec files NAME is looked up in (default: the shipped ones)
      ARCHPROF_CACHE  where parsed spec files and compiled networks are kept for the
                      next process (default $XDG_CACHE_HOME/archprof or
                      ~/.cache/archprof; `off`: nowhere)
    """
