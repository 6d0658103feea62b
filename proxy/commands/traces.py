"""`tracecar traces`: list recent traces, or print one as a waterfall, from the collector's database or
from a running collector's web address."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxy.collector.model import Span, TraceFilter, TraceSummary

HELP = "list recent traces from the embedded collector, or show one trace as a waterfall"
_DESCRIPTION = """\
Without a trace id: the latest traces (root service and operation, duration, span count, errors),
newest first, optionally filtered. With a trace id (or a unique prefix of one): that trace as a
waterfall, indented by parent, bars scaled to time, with each span's service and status. Reads the
collector's SQLite file (--db), or asks a running collector (--url, its web address)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from proxy.collector.options import DB_VARIABLE, default_db  # noqa: PLC0415 - keep --help fast

    parser = sub.add_parser("traces", help=HELP, description=_DESCRIPTION)
    add = parser.add_argument
    add("trace_id", nargs="?", help="show this trace (a unique prefix is enough)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--db", default=default_db(), help=f"SQLite file (default ${DB_VARIABLE}, else %(default)s)"
    )
    source.add_argument("--url", help="a running collector's web address, e.g. http://localhost:16686")
    add("--service", help="only traces this service takes part in")
    add("--min-duration", metavar="DURATION", help="only traces at least this long (e.g. 100ms, 1.5s)")
    add("--errors", action="store_true", help="only traces with an error span")
    add("--limit", type=int, default=20, help="how many traces to list (default %(default)s)")
    add("--json", action="store_true", help="print JSON instead of text")
    add("--width", type=int, help="output width (default: the terminal's)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from proxy.collector.model import TraceFilter  # noqa: PLC0415
    from proxy.collector.options import parse_duration_s  # noqa: PLC0415

    try:
        min_s = parse_duration_s(args.min_duration, default_unit="ms") if args.min_duration else 0.0
        if not 1 <= args.limit <= 1000:
            raise ValueError("--limit must be within 1..1000")
        chosen = TraceFilter(args.service, int(min_s * 1e9), args.errors, args.limit)
        source = _UrlSource(args.url) if args.url else _DbSource(args.db)
        if args.trace_id:
            return _show_trace(source, args.trace_id, args)
        return _list(source, chosen, args)
    except (ValueError, OSError) as error:
        print(f"tracecar traces: {error}", file=sys.stderr)
        return 1
    except sqlite3.Error as error:
        print(f"tracecar traces: {args.db}: not a tracecar trace database ({error})", file=sys.stderr)
        return 1


def _list(source: _DbSource | _UrlSource, chosen: TraceFilter, args: argparse.Namespace) -> int:
    from proxy.collector.terminal import render_trace_list  # noqa: PLC0415
    from proxy.collector.web import summary_json  # noqa: PLC0415

    summaries = source.traces(chosen)
    if args.json:
        print(json.dumps([summary_json(s) for s in summaries], indent=2))
    else:
        print(render_trace_list(summaries, color=_colour()))
    return 0


def _show_trace(source: _DbSource | _UrlSource, trace_id: str, args: argparse.Namespace) -> int:
    from proxy.collector.terminal import render_waterfall  # noqa: PLC0415
    from proxy.collector.web import span_json  # noqa: PLC0415

    spans = source.trace(trace_id)
    if not spans:
        print(f"tracecar traces: no trace {trace_id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([span_json(s) for s in spans], indent=2))
    else:
        width = args.width or shutil.get_terminal_size((120, 24)).columns
        print(render_waterfall(spans, width=width, color=_colour()))
    return 0


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


class _DbSource:
    def __init__(self, path: str) -> None:
        from proxy.collector.store import Store  # noqa: PLC0415

        try:
            self.store = Store(path, readonly=True)
        except FileNotFoundError:
            raise OSError(
                f"no trace database at {path} (is `tracecar collector` running? --db, --url)"
            ) from None

    def traces(self, chosen: TraceFilter) -> list[TraceSummary]:
        from proxy.collector.web import list_traces  # noqa: PLC0415

        return list_traces(self.store, chosen)

    def trace(self, trace_id: str) -> list[Span]:
        return self.store.trace(trace_id)


class _UrlSource:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise OSError(
                f"{self.url}{path}: HTTP {error.code}: {error.read().decode(errors='replace')}"
            ) from None
        except urllib.error.URLError as error:
            raise OSError(f"cannot reach the collector at {self.url}: {error.reason}") from None

    def traces(self, chosen: TraceFilter) -> list[TraceSummary]:
        from proxy.collector.web import summary_from_json  # noqa: PLC0415

        query: dict[str, Any] = {"limit": chosen.limit, "min_ms": chosen.min_duration_ns / 1e6}
        if chosen.service:
            query["service"] = chosen.service
        if chosen.errors_only:
            query["errors"] = 1
        return [summary_from_json(item) for item in self._get("/api/traces?" + urllib.parse.urlencode(query))]

    def trace(self, trace_id: str) -> list[Span]:
        from proxy.collector.web import span_from_json  # noqa: PLC0415

        return [span_from_json(item) for item in self._get("/api/traces/" + urllib.parse.quote(trace_id))]
