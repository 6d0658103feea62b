"""Micro-benchmark: what trace-context propagation costs the proxy per request.

    .venv/bin/python -m loadtests.propagation_bench [--iterations N] [--repeat R]

Prints microseconds per request (best of R runs, the usual way to read a micro-benchmark on a
shared machine) for typical header sets. `hop` is what the proxy runs per request: extract,
sample, start the span context, inject. Target: extract+inject under 5 us for a typical
traceparent + short tracestate.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import timeit
from collections.abc import Callable

import propagation
from propagation import Propagators, next_context, sampling
from propagation.headers import Header

COMMON: list[Header] = [
    (b"Host", b"checkout.shop.svc.cluster.local:8080"),
    (b"User-Agent", b"python-requests/2.31.0"),
    (b"Accept", b"*/*"),
    (b"Content-Type", b"application/json"),
    (b"Content-Length", b"42"),
    (b"X-Request-Id", b"5a3c0b1e-3f7d-4c55-9a8e-1f2b3c4d5e6f"),
]
TRACEPARENT = (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
TRACESTATE = (b"tracestate", b"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
B3_MULTI: list[Header] = [
    (b"X-B3-TraceId", b"4bf92f3577b34da6a3ce929d0e0e4736"),
    (b"X-B3-SpanId", b"00f067aa0ba902b7"),
    (b"X-B3-Sampled", b"1"),
]

CASES: dict[str, tuple[Propagators, list[Header]]] = {
    "traceparent + short tracestate": (Propagators(), [*COMMON, TRACEPARENT, TRACESTATE]),
    "no incoming context (new trace)": (Propagators(), list(COMMON)),
    "B3 multi in, all four formats out": (
        Propagators(("tracecontext", "baggage", "b3", "b3multi")),
        [*COMMON, *B3_MULTI],
    ),
}


def best_microseconds(run: Callable[[], object], iterations: int, repeat: int) -> float:
    return min(timeit.repeat(run, number=iterations, repeat=repeat)) / iterations * 1e6


def measure(
    propagators: Propagators, headers: list[Header], iterations: int, repeat: int
) -> dict[str, float]:
    sampler = sampling.from_env({})
    extracted = propagators.extract(headers)
    context = next_context(extracted, sampler)
    return {
        "extract+inject": best_microseconds(
            lambda: propagators.inject(headers, context, propagators.extract(headers).baggage),
            iterations,
            repeat,
        ),
        "hop": best_microseconds(lambda: propagators.hop(headers, sampler), iterations, repeat),
    }


def measure_cold_tracestate(iterations: int, repeat: int) -> float:
    """A tracestate never seen before on every request (a vendor value that changes per span)."""
    propagators, sampler = Propagators(), sampling.from_env({})
    states = itertools.cycle(
        [(b"tracestate", b"congo=t61rc%06d,rojo=00f067aa0ba902b7" % i) for i in range(4096)]
    )
    headers = [*COMMON, TRACEPARENT]
    return best_microseconds(lambda: propagators.hop([*headers, next(states)], sampler), iterations, repeat)


def compiled() -> bool:
    return propagation.__file__ is not None and propagation.__file__.endswith(".so")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=50_000, help="calls per timed run (default 50000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs; the best is reported (default 7)")
    args = parser.parse_args(argv)
    build = "compiled (mypyc)" if compiled() else "pure Python"
    print(f"propagation cost per request, {build}, Python {sys.version.split()[0]}, best of {args.repeat}")
    print(f"{'case':<36} {'extract+inject':>15} {'hop':>8}")
    for name, (propagators, headers) in CASES.items():
        got = measure(propagators, headers, args.iterations, args.repeat)
        print(f"{name:<36} {got['extract+inject']:>12.2f} us {got['hop']:>5.2f} us")
    cold = measure_cold_tracestate(args.iterations, args.repeat)
    print(f"{'unique tracestate every request':<36} {'':>15} {cold:>5.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
