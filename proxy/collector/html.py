"""The collector's web page, rendered on the server: plain HTML and CSS, one small script that opens
and closes a span's details. Everything taken from spans is escaped.

    trace_list_page(summaries, services, chosen)   the list with its filter form
    trace_page(spans)                              one trace's waterfall
    dependencies_page(edges)                       the service graph as inline SVG
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from proxy.collector.model import Span, TraceFilter, TraceSummary
from proxy.collector.views import Edge, Row, format_duration, graph_layout, plural, waterfall

PALETTE = ("#4c6ef5", "#12b886", "#f59f00", "#ae3ec9", "#1098ad", "#74b816", "#f76707", "#845ef7")
ERROR_COLOUR = "#e03131"
_DASHED = ' stroke-dasharray="5 4"'  # a peer known only from CLIENT spans, not traced itself
NODE_WIDTH, NODE_HEIGHT, COLUMN_GAP, ROW_GAP = 170, 44, 90, 36

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #212529; background: #f8f9fa; }
header { background: #212529; color: #fff; padding: 10px 20px; display: flex; gap: 24px;
         align-items: center; }
header a { color: #dee2e6; text-decoration: none; } header a:hover { color: #fff; }
header .brand { font-weight: 700; color: #fff; }
main { padding: 16px 20px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e9ecef; }
th { background: #f1f3f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.error td.errors { color: #e03131; font-weight: 700; }
code, .mono { font-family: ui-monospace, monospace; font-size: 12px; }
form.filters { display: flex; gap: 12px; align-items: end; margin-bottom: 12px; flex-wrap: wrap; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: #495057; }
.summary { margin: 0 0 12px; color: #495057; }
.waterfall { background: #fff; border: 1px solid #dee2e6; }
.span-row { display: grid; grid-template-columns: 36% 1fr 90px; align-items: center; min-height: 26px;
            border-bottom: 1px solid #f1f3f5; cursor: pointer; }
.span-row:hover { background: #f1f3f5; }
.label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding-right: 8px; }
.label .service { font-weight: 600; } .label .kind { color: #868e96; font-size: 11px; }
.track { position: relative; height: 14px; margin: 0 8px; }
.bar { position: absolute; top: 0; height: 14px; min-width: 2px; border-radius: 2px; }
.dur { text-align: right; padding-right: 10px; font-variant-numeric: tabular-nums; }
.status-error { color: #e03131; font-weight: 600; }
.details { padding: 8px 16px 12px 40px; background: #f8f9fa; border-bottom: 1px solid #dee2e6; }
.details[hidden] { display: none; }
.details table { width: auto; } .details td { padding: 2px 10px; }
.ruler { display: grid; grid-template-columns: 36% 1fr 90px; color: #868e96; font-size: 11px;
         border-bottom: 1px solid #dee2e6; padding: 4px 0; }
.ruler .ticks { display: flex; justify-content: space-between; margin: 0 8px; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.empty { color: #868e96; padding: 24px; background: #fff; }
"""

# Clicking a span row opens its details; a link to /trace/ID#span-SPANID opens that span's.
SCRIPT = """
function toggle(row, open) {
  var details = document.getElementById('details-' + row.dataset.spanId);
  if (!details) return;
  details.hidden = open === undefined ? !details.hidden : !open;
  row.setAttribute('aria-expanded', String(!details.hidden));
}
document.querySelectorAll('.span-row').forEach(function (row) {
  row.addEventListener('click', function () { toggle(row); });
});
var linked = location.hash.match(/^#span-([0-9a-f]{16})$/);
if (linked) {
  var row = document.querySelector('.span-row[data-span-id="' + linked[1] + '"]');
  if (row) { toggle(row, true); row.scrollIntoView(); }
}
"""


def layout(title: str, content: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · tracecar</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><header><span class="brand">tracecar</span><a href="/">Traces</a>
<a href="/dependencies">Dependencies</a></header>
<main>{content}</main><script>{SCRIPT}</script></body></html>
"""


def trace_list_page(summaries: Sequence[TraceSummary], services: Sequence[str], chosen: TraceFilter) -> str:
    return layout("Traces", _filter_form(services, chosen) + _trace_table(summaries))


def _filter_form(services: Sequence[str], chosen: TraceFilter) -> str:
    options = ['<option value="">all services</option>'] + [
        f"<option{' selected' if s == chosen.service else ''}>{escape(s)}</option>" for s in services
    ]
    min_ms = f"{chosen.min_duration_ns / 1e6:g}" if chosen.min_duration_ns else ""
    checked = " checked" if chosen.errors_only else ""
    return f"""<form class="filters" method="get" action="/">
<label>Service<select name="service">{"".join(options)}</select></label>
<label>Min duration (ms)<input name="min_ms" type="number" min="0" step="any" value="{min_ms}"></label>
<label><span><input type="checkbox" name="errors" value="1"{checked}> errors only</span></label>
<label>Limit<input name="limit" type="number" min="1" max="1000" value="{chosen.limit}"></label>
<button type="submit">Find traces</button></form>"""


def _trace_table(summaries: Sequence[TraceSummary]) -> str:
    if not summaries:
        return '<p class="empty">No traces match. Send spans over OTLP to this collector.</p>'
    rows = "".join(_summary_row(s) for s in summaries)
    return (
        '<table id="traces"><thead><tr><th>Root</th><th>Trace</th><th>Started</th>'
        '<th class="num">Duration</th><th class="num">Spans</th><th class="num">Errors</th>'
        f"<th>Services</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _summary_row(summary: TraceSummary) -> str:
    started = time.strftime("%H:%M:%S", time.localtime(summary.start_ns / 1e9))
    link = f"/trace/{quote(summary.trace_id)}"
    return (
        f'<tr class="{"error" if summary.error_count else ""}">'
        f'<td><a href="{link}"><b>{escape(summary.root_service)}</b> {escape(summary.root_name)}</a></td>'
        f'<td class="mono"><a href="{link}">{summary.trace_id[:16]}…</a></td><td>{started}</td>'
        f'<td class="num">{format_duration(summary.duration_ns)}</td>'
        f'<td class="num">{summary.span_count}</td><td class="num errors">{summary.error_count or ""}</td>'
        f"<td>{escape(', '.join(summary.services))}</td></tr>"
    )


def service_colours(spans: Sequence[Span]) -> dict[str, str]:
    colours: dict[str, str] = {}
    for span in sorted(spans, key=lambda s: s.start_ns):
        colours.setdefault(span.service, PALETTE[len(colours) % len(PALETTE)])
    return colours


def trace_page(spans: Sequence[Span]) -> str:
    rows = waterfall(spans)
    colours = service_colours(spans)
    total = max(s.end_ns for s in spans) - min(s.start_ns for s in spans)
    errors = sum(s.is_error for s in spans)
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(s)}</span>' for s, c in colours.items())
    ticks = "".join(f"<span>{format_duration(total * q // 4)}</span>" for q in range(5))
    body = "".join(_span_row(row, colours) for row in rows)
    content = f"""<h2>{escape(rows[0].span.service)}: {escape(rows[0].span.name)}</h2>
<p class="summary">trace <code>{escape(spans[0].trace_id)}</code> · {format_duration(total)} ·
{plural(len(spans), "span")} · {plural(len(colours), "service")} ·
<span class="{"status-error" if errors else ""}">{plural(errors, "error")}</span></p>
<p class="legend">{legend}</p>
<div class="waterfall" id="waterfall"><div class="ruler"><span>span</span><div class="ticks">{ticks}</div>
<span></span></div>{body}</div>"""
    return layout(f"Trace {spans[0].trace_id[:16]}", content)


def _span_row(row: Row, colours: dict[str, str]) -> str:
    span = row.span
    colour = ERROR_COLOUR if span.is_error else colours[span.service]
    status = '<span class="status-error">✗ error</span> ' if span.is_error else ""
    orphan = (
        ' <span title="its parent span is not in this trace">⚠ parent missing</span>' if row.orphan else ""
    )
    bar = f"left:{row.offset * 100:.3f}%;width:{row.width * 100:.3f}%;background:{colour}"
    return f"""<div class="span-row" data-span-id="{span.span_id}" data-service="{escape(span.service)}"
 data-status="{span.status_name}" data-depth="{row.depth}" aria-expanded="false">
<div class="label" style="padding-left:{8 + row.depth * 16}px">{status}
<span class="service">{escape(span.service)}</span> {escape(span.name)}
<span class="kind">{span.kind_name.lower()}</span>{orphan}</div>
<div class="track"><div class="bar" style="{bar}"></div></div>
<div class="dur">{format_duration(span.duration_ns)}</div></div>
<div class="details" id="details-{span.span_id}" hidden>{_details(span)}</div>"""


def _details(span: Span) -> str:
    facts: dict[str, Any] = {
        "span id": span.span_id,
        "parent span id": span.parent_span_id or "(root)",
        "kind": span.kind_name,
        "status": span.status_name + (f": {span.status_message}" if span.status_message else ""),
    }
    sections = [("Span", facts), ("Attributes", span.attributes), ("Resource", span.resource)]
    if span.events:
        sections.append(("Events", {e["name"]: e.get("attributes", {}) for e in span.events}))
    return "".join(_table(title, values) for title, values in sections if values)


def _table(title: str, values: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(str(k))}</code></td><td><code>{escape(_text(v))}</code></td></tr>"
        for k, v in sorted(values.items())
    )
    return f"<h4>{title}</h4><table>{rows}</table>"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def not_found_page(trace_id: str) -> str:
    return layout("Not found", f'<p class="empty">No trace <code>{escape(trace_id)}</code> here.</p>')


def dependencies_page(edges: Sequence[Edge]) -> str:
    if not edges:
        return layout("Dependencies", '<p class="empty">No calls between services yet.</p>')
    return layout("Dependencies", "<h2>Service dependencies</h2>" + dependency_svg(edges))


def dependency_svg(edges: Sequence[Edge]) -> str:
    nodes = graph_layout(edges)
    where = {n.name: _node_origin(n.column, n.row) for n in nodes}
    width = max(x for x, _ in where.values()) + NODE_WIDTH + 20
    height = max(y for _, y in where.values()) + NODE_HEIGHT + 20
    lines = [_edge_svg(edge, where) for edge in edges if edge.caller != edge.callee]
    peers = (
        {e.callee for e in edges if e.peer}
        - {e.caller for e in edges}
        - {e.callee for e in edges if not e.peer}
    )
    boxes = [
        f'<g class="node"><rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6" '
        f'fill="#fff" stroke="#495057"{_DASHED if name in peers else ""}/>'
        f'<text x="{x + NODE_WIDTH / 2}" y="{y + 27}" text-anchor="middle">'
        f"{escape(name)}</text></g>"
        for name, (x, y) in where.items()
    ]
    return f"""<svg id="dependencies" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"
 font-size="13"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8"
 markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#495057"/></marker></defs>
{"".join(lines)}{"".join(boxes)}</svg>"""


def _node_origin(column: int, row: int) -> tuple[int, int]:
    return 20 + column * (NODE_WIDTH + COLUMN_GAP), 20 + row * (NODE_HEIGHT + ROW_GAP)


def _edge_svg(edge: Edge, where: dict[str, tuple[int, int]]) -> str:
    (x1, y1), (x2, y2) = where[edge.caller], where[edge.callee]
    start: tuple[float, float] = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT / 2)
    end = (x2, y2 + NODE_HEIGHT / 2)
    if x2 <= x1:  # a call back to an earlier column: leave from the bottom
        start = (x1 + NODE_WIDTH / 2, y1 + NODE_HEIGHT)
    colour = ERROR_COLOUR if edge.errors else "#495057"
    label = plural(edge.calls, "call") + (f", {plural(edge.errors, 'error')}" if edge.errors else "")
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 - 6)
    return (
        f'<g class="edge" data-caller="{escape(edge.caller)}" data-callee="{escape(edge.callee)}">'
        f'<line x1="{start[0]}" y1="{start[1]}" x2="{end[0]}" y2="{end[1]}" stroke="{colour}" '
        f'stroke-width="1.5" marker-end="url(#arrow)"/><text x="{mid[0]}" y="{mid[1]}" '
        f'text-anchor="middle" font-size="11" fill="{colour}">{escape(label)}</text></g>'
    )
