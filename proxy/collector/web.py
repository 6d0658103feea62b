"""The collector's web routes: the HTML page and the JSON API `tracecar traces --url` reads.

    GET /                        trace list (?service=&min_ms=&errors=1&limit=)
    GET /trace/{id}              one trace's waterfall
    GET /dependencies            the service dependency graph
    GET /api/traces              the trace list as JSON (same filters)
    GET /api/traces/{id}         one trace's spans as JSON
    GET /api/services            service names
    GET /api/dependencies        the graph's edges as JSON

Queries run on a worker thread with a connection of their own (SQLite WAL: readers never wait for
the writer), so the event loop serving OTLP never waits on the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from proxy.collector import html
from proxy.collector.model import Span, TraceFilter, TraceSummary
from proxy.collector.store import Store
from proxy.collector.views import dependencies

Query = Callable[[Callable[[Store], Any]], Awaitable[Any]]
GRAPH_SPANS = 20_000  # the latest spans the dependency graph is built from
MAX_LIMIT = 1000


def parse_filter(query: Any) -> TraceFilter:
    """Filters from a query string; a bad value is a 400 naming it."""
    try:
        min_ms = float(query.get("min_ms") or 0)
        limit = int(query.get("limit") or 50)
    except ValueError:
        raise web.HTTPBadRequest(text="min_ms must be a number of milliseconds, limit an integer") from None
    if min_ms < 0 or not 1 <= limit <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"min_ms must be >= 0 and limit within 1..{MAX_LIMIT}")
    return TraceFilter(
        service=query.get("service") or None,
        min_duration_ns=int(min_ms * 1e6),
        errors_only=query.get("errors") in ("1", "true", "on", "yes"),
        limit=limit,
    )


def list_traces(store: Store, chosen: TraceFilter) -> list[TraceSummary]:
    return store.recent_traces(chosen.limit, chosen.service, chosen.min_duration_ns, chosen.errors_only)


def web_routes(db_path: str) -> list[web.RouteDef]:
    async def query(run: Callable[[Store], Any]) -> Any:
        def in_thread() -> Any:
            store = Store(db_path, readonly=True)
            try:
                return run(store)
            finally:
                store.close()

        return await asyncio.to_thread(in_thread)

    async def api_traces(request: web.Request) -> web.Response:
        chosen = parse_filter(request.query)
        traces = await query(lambda store: list_traces(store, chosen))
        return web.json_response([summary_json(t) for t in traces])

    async def api_trace(request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"]
        spans = await query(lambda store: store.trace(trace_id))
        if not spans:
            raise web.HTTPNotFound(text=f"no trace {trace_id}")
        return web.json_response([span_json(span) for span in spans])

    async def api_services(request: web.Request) -> web.Response:
        return web.json_response(await query(lambda store: store.services()))

    routes = [
        web.get("/api/traces", api_traces),
        web.get("/api/traces/{trace_id}", api_trace),
        web.get("/api/services", api_services),
    ]
    return routes + page_routes(query)


def page_routes(query: Query) -> list[web.RouteDef]:
    async def index(request: web.Request) -> web.Response:
        chosen = parse_filter(request.query)
        traces, services = await query(lambda store: (list_traces(store, chosen), store.services()))
        return _html(html.trace_list_page(traces, services, chosen))

    async def trace(request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"]
        spans = await query(lambda store: store.trace(trace_id))
        if not spans:
            return _html(html.not_found_page(trace_id), status=404)
        return _html(html.trace_page(spans))

    async def graph(request: web.Request) -> web.Response:
        spans = await query(lambda store: store.recent_spans(GRAPH_SPANS))
        return _html(html.dependencies_page(dependencies(spans)))

    async def api_dependencies(request: web.Request) -> web.Response:
        spans = await query(lambda store: store.recent_spans(GRAPH_SPANS))
        return web.json_response([dataclasses.asdict(edge) for edge in dependencies(spans)])

    return [
        web.get("/", index),
        web.get("/trace/{trace_id}", trace),
        web.get("/dependencies", graph),
        web.get("/api/dependencies", api_dependencies),
    ]


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    return {**dataclasses.asdict(summary), "duration_ns": summary.duration_ns}


def span_json(span: Span) -> dict[str, Any]:
    fields = dataclasses.asdict(span)
    del fields["otlp"]  # the stored form; its content is in the other fields
    return fields


def span_from_json(data: dict[str, Any]) -> Span:
    return Span(**data)


def summary_from_json(data: dict[str, Any]) -> TraceSummary:
    fields = {f.name for f in dataclasses.fields(TraceSummary)}
    values = {k: v for k, v in data.items() if k in fields}
    values["services"] = tuple(values.get("services", ()))
    return TraceSummary(**values)
