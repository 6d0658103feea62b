"""Command-line values of the collector commands: durations (`250ms`, `1.5s`, `24h`, `7d`) and sizes
(`500MB`, `1GiB`). A bad value raises ValueError saying what was expected."""

from __future__ import annotations

import os
import re

DEFAULT_DB = "tracecar-traces.db"
DB_VARIABLE = "TRACECAR_DB"

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_SIZE_UNITS = {
    "": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip
_NUMBER_UNIT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zµ]*)\s*", re.IGNORECASE)


def default_db() -> str:
    return os.environ.get(DB_VARIABLE) or DEFAULT_DB


def parse_duration_s(text: str, default_unit: str = "s") -> float:
    """Seconds; a bare number is in `default_unit`."""
    match = _NUMBER_UNIT.fullmatch(text)
    unit = (match.group(2).lower() if match else "") or default_unit
    if match is None or unit not in _DURATION_UNITS:
        raise ValueError(f"{text!r} is not a duration (a number with ns, us, ms, s, m, h or d)")
    return float(match.group(1)) * _DURATION_UNITS[unit]


def parse_size(text: str) -> int:
    """Bytes."""
    match = _NUMBER_UNIT.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (a number with B, KB, MB, GB, KiB, MiB or GiB)")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])
