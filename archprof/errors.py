"""The one error type for anything wrong in a spec or in what a user asked for."""
from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable
from typing import Any


class SpecError(Exception):
    """A spec (or an argument) that cannot be loaded, expanded, analysed or built.

    The message names where the problem is (file, YAML line, layer path) and what is wrong,
    so that the CLI can print it as is, without a traceback.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None, hint: str | None = None) -> None:
        self.message, self.file, self.line, self.path, self.hint = message, file, line, path, hint
        super().__init__(str(self))

    def located(self, *, file: str | None = None, line: int | None = None,
                path: str | None = None) -> SpecError:
        """Fill in location fields that are still unknown (inner code knows less than outer)."""
        self.file = self.file or file
        self.line = self.line or line
        self.path = self.path or path
        self.args = (str(self),)
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        text = where + (f"{self.path}: " if self.path else "") + self.message
        return text + (f" ({self.hint})" if self.hint else "")


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known names, or None when nothing is close."""
    word, choices = str(word), [str(c) for c in choices]
    close = [c for c in choices if c.lower() == word.lower() and c != word]    # 'VGG16'
    close += [c for c in difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
              if c not in close][:3 - len(close)]
    # a prefix is a strong hint too ('b5x5' for 'b5x5_reduce'), though difflib scores it low
    close += [c for c in choices if c.startswith(word) and c not in close][:3 - len(close)]
    return ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else None


def short(value: Any, limit: int = 80, depth: int = 3) -> str:
    """A repr cut to about `limit` characters that looks at no more than 6 items per level and
    3 levels (a YAML alias bomb must never be printed or walked in full)."""
    if isinstance(value, (list, tuple, dict)):
        brackets = "{}" if isinstance(value, dict) else "[]" if isinstance(value, list) else "()"
        if depth == 0:
            return brackets[0] + "..." + brackets[1]
        items = itertools.islice(value.items() if isinstance(value, dict) else value, 6)
        parts = [f"{short(k, limit, depth - 1)}: {short(v, limit, depth - 1)}"
                 if isinstance(value, dict) else short(k, limit, depth - 1) for k, v in
                 (items if isinstance(value, dict) else ((x, None) for x in items))]
        text = brackets[0] + ", ".join(parts + ["..."] * (len(value) > 6)) + brackets[1]
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
