"""Micro-benchmark: what updating the proxy's metrics costs per request.

    .venv/bin/python -m loadtests.metrics_bench [--iterations N] [--repeat R]

Prints nanoseconds per operation, best of R runs. `per request` is what the data path does for one
exchange on a new connection: open-connections gauge up, request counter by status class, latency
histogram, gauge down. Target: a few hundred nanoseconds at most.
"""

from __future__ import annotations

import argparse
import sys
import timeit

from proxy.metrics import ProxyMetrics

SETUP = "metrics = ProxyMetrics(); series = metrics.inbound"
CASES: dict[str, str] = {
    "counter inc": "series.upstream_opened.inc()",
    "gauge inc + dec": "series.open_connections.inc(); series.open_connections.dec()",
    "histogram observe": "series.duration.observe(0.0042)",
    "request_finished (count + observe)": "series.request_finished(200, 0.0042)",
    "per request (+ connection open/close)": (
        "series.connection_opened(); series.request_finished(200, 0.0042); series.connection_closed()"
    ),
    "per request, failed (+ error reason)": "series.request_finished(502, 0.0042, 'upstream_refused')",
    "empty statement (timing overhead)": "pass",
}


def best_nanoseconds(statement: str, iterations: int, repeat: int) -> float:
    times = timeit.repeat(
        statement, SETUP, number=iterations, repeat=repeat, globals={"ProxyMetrics": ProxyMetrics}
    )
    return min(times) / iterations * 1e9


def scrape_microseconds(iterations: int, repeat: int) -> float:
    metrics = ProxyMetrics()
    return min(timeit.repeat(metrics.render, number=iterations, repeat=repeat)) / iterations * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=1_000_000, help="per timed run (default 1000000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs; the best is reported (default 7)")
    args = parser.parse_args(argv)
    print(f"metrics update cost, Python {sys.version.split()[0]}, best of {args.repeat}")
    for name, statement in CASES.items():
        print(f"{name:<40} {best_nanoseconds(statement, args.iterations, args.repeat):>8.1f} ns")
    scrapes = max(1, args.iterations // 1000)
    print(f"{'render /metrics (whole registry)':<40} {scrape_microseconds(scrapes, args.repeat):>8.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
