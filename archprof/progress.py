"""Progress bars for long commands (bench, report, check): tqdm on stderr with rate and time
left when stderr is a terminal, silent otherwise (logs and pipes get no carriage returns)."""
from __future__ import annotations

from typing import Any


def progress_bar(total: int, what: str, enabled: bool = True, unit: str = "it") -> Any:
    """A tqdm bar (a context manager; `update()` after each item, `set_postfix_str` for what
    runs now). Lines printed meanwhile go through `bar.external_write_mode()`."""
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit=unit, disable=None if enabled else True,
                dynamic_ncols=True, leave=False)
