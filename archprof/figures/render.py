"""Tables as text for people (aligned, thousands separators, M/G suffixes), Markdown, LaTeX,
and as CSV/JSON for machines (raw integers, no totals rows). A table is a DataFrame or plain
columns (name -> values): `archprof table` prints the latter without importing pandas."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from archprof.units import human

if TYPE_CHECKING:
    import pandas as pd

Table = Union["pd.DataFrame", Mapping[str, Sequence[Any]]]

FORMATS = ("text", "markdown", "csv", "json", "latex")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    style: str = "str"    # str | num (right-aligned str) | int (1,234) | human (1.23M) | pct | float

    def cell(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if self.style == "int":
            return f"{int(value):,}"
        if self.style == "human":
            return human(float(value))
        if self.style == "pct":
            return f"{float(value):.2f}"
        if self.style == "float":
            return f"{float(value):.3g}"
        return str(value)


def formatted(df: pd.DataFrame, formats: Mapping[str, Callable[[Any], str]]) -> pd.DataFrame:
    """`df` with each column named in `formats` as text (a missing value as '')."""
    import pandas as pd
    return df.assign(**{key: df[key].map(lambda v, f=f: "" if pd.isna(v) else f(v))
                        for key, f in formats.items()})


def cells(table: Table, columns: Sequence[Column]) -> list[list[str]]:
    if isinstance(table, Mapping):
        rows: Any = zip(*(table[c.key] for c in columns))
    else:
        rows = table[[c.key for c in columns]].itertuples(index=False)
    return [[c.cell(v) for c, v in zip(columns, row)] for row in rows]


def render(table: Table, columns: Sequence[Column], fmt: str,
           footer: Sequence[Sequence[str]] = ()) -> str:
    """`footer` rows (e.g. totals) are shown to people, never written into CSV/JSON."""
    if fmt in ("csv", "json"):
        return _for_machines(table, columns, fmt)
    body = cells(table, columns) + [list(r) for r in footer]
    headers = [c.header for c in columns]
    numeric = [c.style != "str" for c in columns]
    if fmt == "markdown":
        line = lambda r: "| " + " | ".join(v.replace("|", "\\|") for v in r) + " |"  # noqa: E731
        rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
        return "\n".join([line(headers), rule, *map(line, body)])
    if fmt == "latex":
        esc = lambda v: v.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")  # noqa: E731
        spec = "".join("r" if n else "l" for n in numeric)
        rows = [" & ".join(map(esc, r)) + r" \\" for r in body]
        return "\n".join([rf"\begin{{tabular}}{{{spec}}}", r"\hline",
                          " & ".join(map(esc, headers)) + r" \\", r"\hline", *rows[:len(body) - len(footer)],
                          *([r"\hline"] if footer else []), *rows[len(body) - len(footer):],
                          r"\hline", r"\end{tabular}"])
    widths = [max(len(v) for v in col) for col in zip(headers, *body)]
    fmt_row = lambda r: "  ".join(v.rjust(w) if n else v.ljust(w)  # noqa: E731
                                  for v, w, n in zip(r, widths, numeric)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    lines = [fmt_row(headers), rule, *map(fmt_row, body[:len(body) - len(footer)])]
    if footer:
        lines += [rule, *map(fmt_row, body[len(body) - len(footer):])]
    return "\n".join(lines)


def _for_machines(table: Table, columns: Sequence[Column], fmt: str) -> str:
    """CSV or JSON of every column the table has (not only those shown to people)."""
    import pandas as pd
    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    if fmt == "csv":      # no final newline, as the other formats: the caller's echo ends the line
        return df.to_csv(index=False, lineterminator="\n").removesuffix("\n")
    records = df.to_dict(orient="records")
    for key in [c.key for c in columns if c.style == "num" and c.key in df]:
        for record in records:
            record[key] = _json_size(record[key])
    return json.dumps(records, indent=1, default=_plain)


SIZE = re.compile(r"\d+(x\d+)*\Z")


def _json_size(value: Any) -> Any:
    """A size written for people as "7" or "7x3" (height x width, e.g. a receptive field) as
    the number 7 or the list [7, 3]; anything else ("global") as it is."""
    if not (isinstance(value, str) and SIZE.match(value)):
        return value
    sizes = [int(v) for v in value.split("x")]
    return sizes[0] if len(sizes) == 1 else sizes


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else str(value)
