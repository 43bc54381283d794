"""Options and argument parsers shared by the commands, and the one-line error type."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import yaml

from archprof.analysis import DTYPE_BYTES
from archprof.figures.render import FORMATS

MAC_NOTE = ("1 MAC = one multiply-accumulate, conv and linear only; bias adds, BN, activations, "
            "pooling and adds are counted apart as other ops")


class SpecFailure(click.ClickException):
    """A spec or argument error: printed as one line, exit status 2."""
    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


# --- argument parsing ---------------------------------------------------------------------
def parse_input(ctx: click.Context | None, param: click.Parameter | None,
                value: str | None) -> tuple | None:
    """'AxBx...': the shape of one sample, 1 to 5 positive sizes (what specs expand and modules
    are traced at)."""
    if value is None:
        return None
    try:
        shape = tuple(int(v) for v in value.lower().split("x"))
    except ValueError:
        shape = ()
    if not 1 <= len(shape) <= 5 or min(shape) <= 0:
        raise click.BadParameter(f"'{value}' is not 1 to 5 positive sizes AxBx... (e.g. "
                                 "3x224x224, 197x768, 3x16x112x112)")
    return shape


def input_option(default: str = "the spec's; 3x224x224 for MODULE:CALLABLE") -> Callable:
    return click.option("--input", "input_shape", callback=parse_input, metavar="AxBx...",
                        help="Input shape per sample, 1 to 5 sizes: 3x224x224 (image), 197x768 "
                             f"(tokens), 3x16x112x112 (video), 1x16000 (audio); default: {default}.")


def parse_batch_sizes(ctx: click.Context | None, param: click.Parameter | None,
                      value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"'{value}' is not a list of positive integers (e.g. 1,2,4,8)")
    return tuple(sorted(set(sizes)))


def parse_shard(ctx: click.Context | None, param: click.Parameter | None,
                value: str | None) -> tuple[int, int] | None:
    """K/N: the K-th (1-based) of N parts, as a job array's index and size give it."""
    if value is None:
        return None
    k, sep, n = value.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit()) or not 1 <= int(k) <= int(n):
        raise click.BadParameter(f"'{value}' is not K/N with 1 <= K <= N (e.g. 2/8)")
    return int(k), int(n)


def parse_params(ctx: click.Context | None, param: click.Parameter | None,
                 values: tuple[str, ...]) -> dict:
    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{item}' is not key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if not isinstance(value, (int, float, bool, str)):
            raise click.BadParameter(f"'{item}': value must be a number, true/false or a word")
        if key.strip() in out:
            raise click.BadParameter(f"'{key.strip()}' is given twice")
        out[key.strip()] = value
    return out


param_option = click.option("--param", "params", multiple=True, callback=parse_params,
                            metavar="KEY=VALUE", help="A spec parameter, or a keyword argument "
                            "of MODULE:CALLABLE (repeatable).")


def analysis_options(f: Callable) -> Callable:
    for option in reversed([
        input_option(),
        param_option,
        click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1),
                     help="Batch size: scales MACs, other ops and activations."),
        click.option("--dtype", default="float32", show_default=True,
                     type=click.Choice(list(DTYPE_BYTES)), help="Element type, for bytes."),
    ]):
        f = option(f)
    return f


OPTIMIZERS = ["sgd", "momentum", "adam", "adamw"]    # archprof.training.OPTIMIZERS
optimizer_option = click.option("--optimizer", default="adam", show_default=True,
                                type=click.Choice(OPTIMIZERS),
                                help="Optimizer whose state a training step keeps.")
def given(option: str) -> bool:
    """Whether the running command's `option` (its parameter name) was set by the user, not
    left at its default: an option that only means something with another one."""
    source = click.get_current_context().get_parameter_source(option)
    return source not in (None, click.core.ParameterSource.DEFAULT)


freeze_option = click.option("--freeze", metavar="PATTERN",
                             help="Layers whose weights are frozen (name glob, comma-separated).")
_SIZE = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
         "eb": 10**18, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
         "eib": 2**60}


def parse_size(ctx: click.Context | None, param: click.Parameter | None, value: str) -> int:
    """'16GiB' -> 17179869184, '16GB' -> 16000000000, '512MiB', '1e9' (bytes)."""
    number, unit = value.strip(), ""
    while number and number[-1].isalpha():
        number, unit = number[:-1], number[-1] + unit
    try:
        size = float(number.strip()) * _SIZE[unit.lower()]
    except (ValueError, KeyError):
        raise click.BadParameter(f"'{value}' is not a size (e.g. 16GiB, 16GB, 512MiB)") from None
    if not size > 0:
        raise click.BadParameter(f"'{value}' is not a positive size")
    if size >= 2**63:
        raise click.BadParameter(f"'{value}' is 2^63 bytes or more")
    if _SIZE[unit.lower()] == 1 and size != int(size):
        raise click.BadParameter(f"'{value}' is not a whole number of bytes")
    return int(size)


format_option = click.option("--format", "fmt", default="text", show_default=True,
                             type=click.Choice(FORMATS))


