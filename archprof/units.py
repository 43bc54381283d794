"""Numbers as people write them: '25.5M', '4.1G', '159Ki' in specs; 15.47G in tables."""
from __future__ import annotations

import re
from typing import Any

from archprof.errors import SpecError

SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20}
_QUANTITY = re.compile(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(Ki|Mi|[KMGT]?)\s*\Z", re.I)


def parse_quantity(value: Any) -> tuple[float, float]:
    """(value, half a unit of the last written digit): '2.7K' -> (2700, 50); 34944 -> (34944, 0).

    A number written with a suffix is taken at the precision it is printed with, as papers
    print it; a plain number is exact."""
    if isinstance(value, bool):
        raise SpecError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value), 0.0
    match = _QUANTITY.match(str(value))
    if not match:
        raise SpecError(f"cannot read quantity {value!r} (write e.g. 34944, 2.7K, 25.5M, 4.1G)")
    digits, suffix = match.groups()
    suffix = suffix[0].upper() + suffix[1:]
    scale = SUFFIX[suffix]
    decimals = len(digits.split(".")[1]) if "." in digits and "e" not in digits.lower() else 0
    half = 0.5 * scale * 10**-decimals if suffix else 0.0
    return float(digits) * scale, half


def human(n: float, digits: int = 2) -> str:
    """15470264320 -> '15.47G'; 138357544 -> '138.36M'; 950 -> '950'."""
    for suffix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6),
                          ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{suffix}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def human_bytes(n: float) -> str:
    """'1.5 KiB', '14.6 TiB'; an amount the unit below would print as 1024.0 takes the unit
    above (2^20 - 10 bytes is 1.0 MiB, not 1024.0 KiB)."""
    for suffix, scale in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20),
                          ("KiB", 2**10)):
        if abs(n) >= scale or (scale > 2**10 and round(abs(n) / (scale >> 10), 1) >= 1024):
            return f"{n / scale:.1f} {suffix}"
    return f"{int(n)} B"


def count(n: int, noun: str) -> str:
    """'1 layer', '2 layers' (nouns whose plural adds an s)."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def megabytes(mb: float) -> str:
    """'1234', '45.6', '0.46': whole megabytes, or three significant digits below 100 (a small
    network's peak is not 0 MB)."""
    return f"{mb:.0f}" if abs(mb) >= 100 else f"{mb:.3g}"
