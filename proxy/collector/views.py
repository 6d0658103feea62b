"""What the terminal and the web page draw, computed without drawing: pure functions of spans.

- `waterfall`: one row per span, depth-first from the roots (children by start time), each with its
  depth, where its bar starts and how wide it is as fractions of the trace's duration. A span whose
  parent is not in the trace (a hop that lost the context, or a parent not received yet) is shown as a
  root and marked `orphan`.
- `dependencies`: the service graph. An edge A -> B for every span of service B whose parent span
  belongs to service A (a CLIENT span in A and the SERVER span it caused in B, or any cross-service
  parent); a CLIENT span with no child at all calls something not traced (a database, an external
  API): the edge goes to the peer its attributes name (`peer.service`, `db.system`, `server.address`).
- `graph_layout`: columns by call depth, for drawing the graph left to right.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from proxy.collector.model import KIND_CLIENT, Span

PEER_ATTRIBUTES = ("peer.service", "db.system", "server.address")


@dataclass(frozen=True)
class Row:
    span: Span
    depth: int
    offset: float  # where the bar starts, 0..1 of the trace's duration
    width: float  # how long it is, 0..1
    orphan: bool  # has a parent id, but that span is not in the trace


def waterfall(spans: Sequence[Span]) -> list[Row]:
    if not spans:
        return []
    start = min(span.start_ns for span in spans)
    total = max(1, max(span.end_ns for span in spans) - start)
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children[parent].append(span)
    rows: list[Row] = []
    seen: set[str] = set()
    stack = [(span, 0) for span in _by_start(children[None], reverse=True)]
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:  # a span id used twice in one trace: show it once
            continue
        seen.add(span.span_id)
        orphan = depth == 0 and span.parent_span_id is not None
        offset = (span.start_ns - start) / total
        rows.append(Row(span, depth, offset, min(span.duration_ns / total, 1.0 - offset), orphan))
        stack.extend((child, depth + 1) for child in _by_start(children[span.span_id], reverse=True))
    return rows


def _by_start(spans: Iterable[Span], reverse: bool = False) -> list[Span]:
    return sorted(spans, key=lambda span: (span.start_ns, span.span_id), reverse=reverse)


@dataclass(frozen=True)
class Edge:
    caller: str
    callee: str
    calls: int
    errors: int
    peer: bool = False  # the callee is not traced: named from the caller's CLIENT span attributes


def dependencies(spans: Iterable[Span]) -> list[Edge]:
    spans = list(spans)
    by_id = {(span.trace_id, span.span_id): span for span in spans}
    has_child = {(span.trace_id, span.parent_span_id) for span in spans}
    counts: dict[tuple[str, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for span in spans:
        parent = by_id.get((span.trace_id, span.parent_span_id or ""))
        if parent is not None and parent.service != span.service:
            callee, peer = span.service, False
        elif span.kind == KIND_CLIENT and (span.trace_id, span.span_id) not in has_child:
            callee, peer, parent = _peer(span), True, span
        else:
            continue
        count = counts[parent.service, callee, peer]
        count[0] += 1
        count[1] += span.is_error
    return [
        Edge(caller, callee, calls, errors, peer)
        for (caller, callee, peer), (calls, errors) in sorted(counts.items())
    ]


def _peer(span: Span) -> str:
    for key in PEER_ATTRIBUTES:
        value = span.attributes.get(key)
        if value:
            return str(value)
    return "(untraced peer)"


@dataclass(frozen=True)
class Node:
    name: str
    column: int
    row: int


def graph_layout(edges: Sequence[Edge]) -> list[Node]:
    """Each service in the column one past its deepest caller (cycles broken), rows in name order."""
    names = sorted({edge.caller for edge in edges} | {edge.callee for edge in edges})
    callers: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        if edge.caller != edge.callee:
            callers[edge.callee].add(edge.caller)
    column: dict[str, int] = {}

    def depth(name: str, visiting: frozenset[str]) -> int:
        if name not in column:
            upstream = [depth(c, visiting | {name}) + 1 for c in callers[name] if c not in visiting]
            column[name] = max(upstream, default=0)
        return column[name]

    for name in names:
        depth(name, frozenset())
    rows: dict[int, int] = defaultdict(int)
    nodes = []
    for name in sorted(names, key=lambda n: (column[n], n)):
        nodes.append(Node(name, column[name], rows[column[name]]))
        rows[column[name]] += 1
    return nodes


def format_duration(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1_000:
        return f"{ns / 1e3:.0f} µs"
    return f"{ns} ns"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
