"""`tracecar demo`: one request through a chain of services that speak different trace formats.

The applications read different formats (W3C, or B3 as Zipkin-era services do); their sidecars all
speak both, as a mixed mesh is configured, so the trace survives every hop. The demo shows the
headers each sidecar forwards and checks the chain stayed one trace with correct parents.
"""

from __future__ import annotations

import argparse

from propagation import Propagators, SpanContext, sampling
from propagation.headers import Header

HELP = "follow one request through sidecars speaking W3C and B3, hop by hop"

# (service, the format its application reads)
CHAIN = (
    ("frontend", "W3C traceparent"),
    ("checkout", "W3C traceparent"),
    ("payments", "B3 (X-B3-* headers), a Zipkin-era service"),
    ("ledger", "W3C traceparent"),
)
MESH_FORMATS = ("tracecontext", "baggage", "b3multi")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help=HELP, description=HELP + ".")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    headers: list[Header] = [(b"Host", b"shop.example"), (b"Baggage", b"customer=alice")]
    sampler, mesh = sampling.from_env({}), Propagators(MESH_FORMATS)
    previous: SpanContext | None = None
    intact = True
    print(f"Every sidecar speaks {', '.join(MESH_FORMATS)}. A request arrives with no trace context.\n")
    for service, reads in CHAIN:
        extracted, context, headers = mesh.hop(headers, sampler)
        parent = extracted.parent
        if previous is not None:
            intact &= parent is not None and (parent.trace_id, parent.span_id) == (
                previous.trace_id,
                previous.span_id,
            )
        previous = context
        print(describe_hop(service, reads, context, headers))
    print("one trace, each hop the child of the one before:", "yes" if intact else "NO")
    return 0 if intact else 1


def describe_hop(service: str, reads: str, context: SpanContext, headers: list[Header]) -> str:
    lines = [
        f"{service} (reads {reads}): span {context.span_id.decode()} of trace {context.trace_id.decode()}"
    ]
    lines.append("  its sidecar forwards:")
    lines.extend(f"    {name.decode()}: {value.decode()}" for name, value in headers if name != b"Host")
    return "\n".join(lines) + "\n"
