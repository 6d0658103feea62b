"""Traces as text: the trace list as a table and one trace as a waterfall with unicode bars.

    render_trace_list(summaries)               -> str
    render_waterfall(spans, width=100, color=False) -> str

Colours (one per service, red for errors) only when asked: `tracecar traces` asks when its output is
a terminal, so piped output stays plain text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from proxy.collector.model import Span, TraceSummary
from proxy.collector.views import Row, format_duration, plural, waterfall

SERVICE_COLOURS = (36, 33, 35, 32, 34, 96, 93, 95)  # ANSI foreground codes, one per service in turn
ERROR_COLOUR = 31
EIGHTHS = " ▏▎▍▌▋▊▉"  # partial blocks: bars are drawn to an eighth of a character
LABEL_SHARE = 0.45  # of the width, for the tree of names
MIN_BAR_WIDTH = 20


def render_trace_list(summaries: Sequence[TraceSummary], color: bool = False) -> str:
    if not summaries:
        return "no traces (yet): point OTEL_EXPORTER_OTLP_ENDPOINT at the collector"
    header = f"{'TRACE ID':32}  {'STARTED':19}  {'DURATION':>10}  {'SPANS':>5}  {'ERRORS':>6}  ROOT"
    lines = [header]
    for summary in summaries:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary.start_ns / 1e9))
        errors = f"{summary.error_count or '-':>6}"
        errors = _paint(errors, ERROR_COLOUR, color and summary.error_count > 0)
        lines.append(
            f"{summary.trace_id:32}  {started:19}  {format_duration(summary.duration_ns):>10}  "
            f"{summary.span_count:>5}  {errors}  {summary.root_service}: {summary.root_name}"
        )
    return "\n".join(lines)


def render_waterfall(spans: Sequence[Span], width: int = 100, color: bool = False) -> str:
    rows = waterfall(spans)
    if not rows:
        return "no spans"
    label_width = max(24, int(width * LABEL_SHARE))
    bar_width = max(MIN_BAR_WIDTH, width - label_width - 12)
    colours = _service_colours(rows)
    total = max(s.end_ns for s in spans) - min(s.start_ns for s in spans)
    errors = sum(row.span.is_error for row in rows)
    title = (
        f"trace {spans[0].trace_id}  {format_duration(total)}  {plural(len(rows), 'span')}  "
        f"{plural(len(colours), 'service')}  {plural(errors, 'error')}"
    )
    lines = [title, ""]
    for row in rows:
        colour = ERROR_COLOUR if row.span.is_error else colours[row.span.service]
        label = _fit(_label(row), label_width)
        bar = _bar(row.offset, row.width, bar_width)
        lines.append(
            f"{label}  {format_duration(row.span.duration_ns):>9} "
            f"│{_paint(bar, colour, color)}│{_status(row, color)}"
        )
    return "\n".join(lines)


def _label(row: Row) -> str:
    span = row.span
    mark = "↳ " if row.depth else ("⚠ " if row.orphan else "")
    return f"{'  ' * row.depth}{mark}{span.service} {span.name} [{span.kind_name.lower()}]"


def _status(row: Row, color: bool) -> str:
    notes = []
    if row.span.is_error:
        message = f" {row.span.status_message}" if row.span.status_message else ""
        notes.append(_paint(f"ERROR{message}", ERROR_COLOUR, color))
    if row.orphan:
        notes.append("parent span missing")
    return (" " + ", ".join(notes)) if notes else ""


def _bar(offset: float, width: float, columns: int) -> str:
    """A bar from `offset` to `offset + width` of `columns` characters, to an eighth of one."""
    start = round(offset * columns * 8)
    length = max(1, round(width * columns * 8))  # a zero-length span is still a visible sliver
    end = min(columns * 8, start + length)
    start = min(start, end - 1)
    full, partial = divmod(end - start, 8)
    # The bar starts on a character boundary at start // 8 (leading partial blocks do not exist).
    text = " " * (start // 8) + "█" * full + (EIGHTHS[partial] if partial else "")
    return text[:columns].ljust(columns)


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def _service_colours(rows: Sequence[Row]) -> dict[str, int]:
    colours: dict[str, int] = {}
    for row in rows:
        colours.setdefault(row.span.service, SERVICE_COLOURS[len(colours) % len(SERVICE_COLOURS)])
    return colours


def _paint(text: str, colour: int, color: bool) -> str:
    return f"\x1b[{colour}m{text}\x1b[0m" if color else text
