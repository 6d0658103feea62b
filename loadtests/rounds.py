"""Several rounds of the comparison made into one table: each number the median of its rounds.

On this shared 2-core machine one run's numbers move by up to a third from one run to the next,
enough to flip a verdict. `python -m loadtests.compare --repeat N` runs every configuration under
every scenario N times, the configurations interleaved within each round, and reports per row:
the median rate, throughput, latency percentiles and CPU per request; the largest peak RSS (a peak
is a peak); the errors of all rounds added up; the request count, duration and other notes (spans
received, TIME-WAIT sockets) of the round whose rate was the median. A row that failed in some
rounds is the median of the others, with the count of failed rounds in its notes; a row that never
succeeded is its first failure. Pure: rows in, rows out.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from loadtests.measurement import OK, Measurement

ROUNDS_NOTE, FAILED_NOTE = "rounds", "rounds_failed"


def combine(rounds: Sequence[Sequence[Measurement]]) -> list[Measurement]:
    """One row per (configuration, scenario), in the order the first round has them."""
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for rows in rounds:
        for row in rows:
            groups.setdefault((row.config, row.scenario), []).append(row)
    return [_median_row(rows) for rows in groups.values()]


def _median_row(rows: list[Measurement]) -> Measurement:
    measured = [row for row in rows if row.outcome == OK]
    if not measured:
        return rows[0]
    by_rate = sorted(measured, key=lambda row: row.rate)
    middle = by_rate[(len(by_rate) - 1) // 2]  # the lower middle: a round that really happened
    combined = Measurement(
        middle.config,
        middle.scenario,
        requests=middle.requests,
        seconds=middle.seconds,
        rate=statistics.median(row.rate for row in measured),
        errors=sum(row.errors for row in measured),
        mib_per_s=_median([row.mib_per_s for row in measured]),
        latency_ms=_median_latencies(measured),
        proxy_peak_rss_mib=_largest([row.proxy_peak_rss_mib for row in measured]),
        proxy_processes=max(row.proxy_processes for row in measured),
        extra=dict(middle.extra),
    )
    cpu_us = _median([row.cpu_us_per_request for row in measured])
    if cpu_us is not None:
        combined.proxy_cpu_s = cpu_us * middle.requests / 1e6  # so that cpu_us_per_request is the median
    combined.extra[ROUNDS_NOTE] = float(len(measured))
    if len(measured) < len(rows):
        combined.extra[FAILED_NOTE] = float(len(rows) - len(measured))
    return combined


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _largest(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _median_latencies(rows: list[Measurement]) -> dict[str, float]:
    names = dict.fromkeys(name for row in rows for name in row.latency_ms)
    return {
        name: statistics.median(row.latency_ms[name] for row in rows if name in row.latency_ms)
        for name in names
    }
