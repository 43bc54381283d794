"""The one error type for anything wrong in a spec or in what a user asked for."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


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
                path: str | None = None) -> "SpecError":
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
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    # a prefix is a strong hint too ('b5x5' for 'b5x5_reduce'), though difflib scores it low
    close += [c for c in choices if c.startswith(word) and c not in close][:3 - len(close)]
    return ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else None
