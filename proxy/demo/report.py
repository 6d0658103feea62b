"""The demo's closing report: requests, traces, spans per service, errors, two waterfalls, the broken
hop and what database-command linking recovered, and where the web page is. As text or as JSON."""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from typing import Any

from proxy.collector.terminal import render_waterfall
from proxy.collector.views import plural
from proxy.demo.summary import Findings
from proxy.demo.traffic import Tally


@dataclass(frozen=True)
class Result:
    tally: Tally
    found: Findings
    web_url: str
    db_path: str  # empty unless the database is kept

    def as_json(self) -> dict[str, Any]:
        tally = self.tally
        statuses = {str(status): count for status, count in sorted(tally.statuses.items())}
        return {
            "requests": {"sent": tally.sent, "ok": tally.ok, "failed": tally.failed, "by_status": statuses},
            **self.found.as_json(),
            "web_url": self.web_url,
            "db": self.db_path,
        }


def render(result: Result, color: bool = False, width: int | None = None) -> str:
    width = width or min(140, shutil.get_terminal_size((120, 24)).columns)
    found, tally = result.found, result.tally
    if not found.traces:
        return "\nNo traces arrived at the collector: the sidecars' logs are kept (see above)."
    services = ", ".join(f"{service} {count}" for service, count in found.per_service.items())
    lines = [
        "",
        f"requests  {tally.sent} sent, {tally.ok} ok, {tally.failed} failed ({_statuses(tally)})",
        f"traces    {found.traces}, with {found.spans} spans: {services}",
        f"errors    {found.error_spans} spans with an error status",
    ]
    for title, trace in (
        ("A complete trace: frontend -> checkout over gRPC", found.complete),
        ("A failed order", found.failed),
    ):
        if trace:
            lines += ["", title, "", render_waterfall(trace, width=width, color=color)]
    lines += [
        "",
        *_broken_hop(result, width, color),
        "",
        f"Traces in your browser: {result.web_url}",
        f"The service graph: {result.web_url}dependencies",
    ]
    if result.db_path:
        lines.append(f"The spans are kept in {result.db_path}: tracecar traces --db {result.db_path}")
    return "\n".join(lines)


def _statuses(tally: Tally) -> str:
    names = {0: "no answer"}
    return ", ".join(f"{names.get(s, s)}: {n}" for s, n in sorted(tally.statuses.items()))


def _broken_hop(result: Result, width: int, color: bool) -> list[str]:
    found = result.found
    calls = plural(found.broken_traces, "call")
    lines = [
        textwrap.fill(
            "The broken hop: checkout does not pass the trace context on to inventory, so each of its "
            f"{calls} there started a trace of its own (the frontend's traces stop at checkout). "
            "Passing the context on mends it; so, for a service that serves one call at a time, does "
            "`--infer-context` on its sidecar (annotation tracecar.io/infer-context).",
            width,
        )
    ]
    if found.broken:
        lines += ["One of them:", "", render_waterfall(found.broken, width=width, color=color), ""]
    if found.db_spans:
        note = (
            f"Redis commands: {plural(found.db_spans, 'span')}, {found.db_linked} of them linked to the "
            "inventory request they served although RESP carries no trace context: the sidecar parents a "
            "command to the one request its application is serving at that moment."
        )
    else:
        note = "Redis commands: no spans arrived for them."
    return [*lines, textwrap.fill(note, width)]
