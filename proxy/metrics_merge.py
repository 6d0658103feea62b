"""The metrics of `--workers N` as one: each worker's exposition text summed sample by sample.

Pure: texts in, text out. Every series the proxy exports adds up across processes: counters, the
histograms' cumulative buckets, sums and counts, and the gauges too (connections open, spans queued:
the pod's total). The first text, the admin worker's, gives the order and the HELP and TYPE lines
(it holds every family; only it runs the eBPF fallback, whose series the others lack); a sample only
another worker has is added after the rest.
"""

from __future__ import annotations

from proxy.metrics import format_value


def _sample(line: str) -> tuple[str, float] | None:
    """("name{labels}", value) of a sample line; None for comments and anything malformed."""
    if not line or line.startswith("#"):
        return None
    key, _, value = line.rpartition(" ")
    try:
        return key, _number(value)
    except ValueError:
        return None


def _number(text: str) -> float:
    """Integers stay integers, so counts print as they came."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def merge(texts: list[str]) -> str:
    if not texts:
        return ""
    totals: dict[str, float] = {}
    for text in texts:
        for line in text.splitlines():
            sample = _sample(line)
            if sample is not None:
                key, value = sample
                totals[key] = totals.get(key, 0) + value
    lines = []
    for line in texts[0].splitlines():
        sample = _sample(line)
        lines.append(line if sample is None else f"{sample[0]} {format_value(totals.pop(sample[0]))}")
    lines += [f"{key} {format_value(value)}" for key, value in totals.items()]
    return "".join(line + "\n" for line in lines)
