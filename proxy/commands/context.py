"""`tracecar context`: show what the sidecar reads from trace headers and what it would forward."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from propagation import ConfigError, Extracted, Propagators, SpanContext, sampling
from propagation.headers import Header

HELP = "decode trace headers: the incoming context and the headers the next hop would get"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "context",
        help=HELP,
        description=HELP + ". Headers come from -H options, or from standard input one per line "
        "('Name: value', as curl -v or a proxy log prints them).",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeatable)",
    )
    parser.add_argument(
        "--propagators",
        default=os.environ.get("OTEL_PROPAGATORS", ""),
        help="formats to read and write: tracecontext, baggage, b3, b3multi, comma-separated "
        "(default: $OTEL_PROPAGATORS, else tracecontext,baggage)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    lines = args.header or [line for line in sys.stdin.read().splitlines() if line.strip()]
    try:
        headers = [parse_header_line(line) for line in lines]
        propagators = Propagators.from_env({"OTEL_PROPAGATORS": args.propagators})
        sampler = sampling.from_env(os.environ)
    except (ValueError, ConfigError) as error:
        print(f"tracecar context: {error}", file=sys.stderr)
        return 2
    extracted, child, forwarded = propagators.hop(headers, sampler)
    report = describe(extracted, child, forwarded, propagators)
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return 0


def parse_header_line(line: str) -> Header:
    name, colon, value = line.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"not a header line (want 'Name: value'): {line!r}")
    return name.strip().encode("latin-1"), value.strip().encode("latin-1")


def describe(
    extracted: Extracted, child: SpanContext, forwarded: list[Header], propagators: Propagators
) -> dict[str, Any]:
    parent = extracted.parent
    return {
        "propagators": list(propagators.formats),
        "incoming": None if parent is None else context_fields(parent),
        "sampling_decision_from_upstream": extracted.decision,
        "baggage": dict(extracted.baggage) if extracted.baggage is not None else {},
        "this_hop": context_fields(child),
        "forwarded_headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in forwarded],
    }


def context_fields(context: SpanContext) -> dict[str, Any]:
    return {
        "trace_id": context.trace_id.decode(),
        "span_id": context.span_id.decode(),
        "sampled": context.sampled,
        "flags": f"{context.flags:02x}",
        "debug": context.debug,
        "tracestate": dict(context.trace_state),
    }


def render_text(report: dict[str, Any]) -> str:
    incoming = report["incoming"]
    lines = [f"propagators: {','.join(report['propagators']) or 'none'}"]
    if incoming is None:
        lines.append("incoming:    no valid context (a new trace starts here)")
    else:
        lines.append(
            f"incoming:    trace {incoming['trace_id']} span {incoming['span_id']} flags {incoming['flags']}"
        )
        lines.extend(f"  tracestate {key}={value}" for key, value in incoming["tracestate"].items())
    lines.extend(f"  baggage    {key}={value}" for key, value in report["baggage"].items())
    hop = report["this_hop"]
    lines.append(f"this hop:    trace {hop['trace_id']} span {hop['span_id']} sampled={hop['sampled']}")
    lines.append("forwarded headers:")
    lines.extend(f"  {name}: {value}" for name, value in report["forwarded_headers"])
    return "\n".join(lines)
