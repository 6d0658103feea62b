"""The collector's web page in headless Chromium (Debian's chromium package): the waterfall's bars are
where the spans' times say, in their services' colours; the trace list and the dependency graph
render; the page's script opens a span's details."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from proxy.collector.html import ERROR_COLOUR, PALETTE
from tests.collector import png
from tests.collector.running import RunningCollector

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
WIDTH, HEIGHT = 1200, 700


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def export_shop_trace(endpoint: str) -> tuple[str, str]:
    """frontend 0-100 ms -> checkout 50-100 ms -> inventory 60-80 ms (fails). (trace id, checkout span id)"""
    providers = {
        name: TracerProvider(resource=Resource.create({"service.name": name}))
        for name in ("frontend", "checkout", "inventory")
    }
    for provider in providers.values():
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    tracer = {name: provider.get_tracer("test") for name, provider in providers.items()}
    root = tracer["frontend"].start_span("GET /buy", kind=SpanKind.SERVER, start_time=T0)
    checkout = tracer["checkout"].start_span(
        "Buy", set_span_in_context(root), kind=SpanKind.SERVER, start_time=T0 + 50 * MS,
        attributes={"order.id": "A-1029"},
    )  # fmt: skip
    stock = tracer["inventory"].start_span(
        "GET /stock", set_span_in_context(checkout), kind=SpanKind.SERVER, start_time=T0 + 60 * MS
    )
    stock.set_status(Status(StatusCode.ERROR, "out of stock"))
    stock.end(end_time=T0 + 80 * MS)
    checkout.end(end_time=T0 + 100 * MS)
    root.end(end_time=T0 + 100 * MS)
    for provider in providers.values():
        provider.shutdown()
    return format(root.get_span_context().trace_id, "032x"), format(
        checkout.get_span_context().span_id, "016x"
    )


def chromium(tmp_path: Path, url: str, *mode: str) -> subprocess.CompletedProcess[bytes]:
    binary = shutil.which("chromium")
    assert binary, "chromium is installed by .ci/setup --test"
    argv = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WIDTH},{HEIGHT}",
        "--force-device-scale-factor=1", *mode, url,
    ]  # fmt: skip
    return subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCollector, str, str, Path]]:
    tmp_path = tmp_path_factory.mktemp("web")
    with RunningCollector(tmp_path / "traces.db") as collector:
        trace_id, checkout = export_shop_trace(collector.http_endpoint)
        collector.wait_for_spans(3)
        yield collector, trace_id, checkout, tmp_path


def bar_extent(rows: list[list[png.Pixel]], colour: str) -> tuple[int, int, int]:
    """(first x, last x, y) of the longest horizontal run of exactly this colour: a bar, not text."""
    wanted = rgb(colour)
    best = (0, 0, 0)  # length, first x, y
    for y, row in enumerate(rows):
        run = 0
        for x, pixel in enumerate(row):
            run = run + 1 if pixel == wanted else 0
            if run > best[0]:
                best = (run, x - run + 1, y)
    length, first, y = best
    assert length > 10, f"no bar of {colour} on the page"
    return first, first + length - 1, y


def test_waterfall_screenshot_has_bars_where_the_times_say(
    page: tuple[RunningCollector, str, str, Path],
) -> None:
    collector, trace_id, _, tmp_path = page
    chromium(tmp_path, f"{collector.web_url}/trace/{trace_id}", "--screenshot=waterfall.png")
    rows = png.decode((tmp_path / "waterfall.png").read_bytes())
    assert (len(rows), len(rows[0])) == (HEIGHT, WIDTH)
    root_first, root_last, root_y = bar_extent(rows, PALETTE[0])  # frontend: the first service
    child_first, child_last, child_y = bar_extent(rows, PALETTE[1])  # checkout
    error_first, error_last, error_y = bar_extent(rows, ERROR_COLOUR)  # inventory failed: red
    span = root_last - root_first
    assert span > WIDTH // 3  # the root's bar fills the track
    assert root_y < child_y < error_y  # one row per span, parents above children
    assert abs(child_first - (root_first + span * 0.5)) <= 3 and abs(child_last - root_last) <= 3
    assert abs(error_first - (root_first + span * 0.6)) <= 3
    assert abs(error_last - (root_first + span * 0.8)) <= 3


def test_dom_has_one_row_per_span_and_the_script_opens_a_linked_span(
    page: tuple[RunningCollector, str, str, Path],
) -> None:
    collector, trace_id, checkout, tmp_path = page
    dom = chromium(
        tmp_path, f"{collector.web_url}/trace/{trace_id}#span-{checkout}", "--dump-dom"
    ).stdout.decode()
    assert dom.count('class="span-row"') == 3
    assert 'data-status="ERROR"' in dom and "out of stock" in dom
    opened = dom.split(f'id="details-{checkout}"')[1].split(">")[0]
    assert "hidden" not in opened  # the script ran and opened the linked span's details
    assert "A-1029" in dom
    assert len(re.findall(r'id="details-[0-9a-f]{16}" hidden', dom)) == 2  # the others stay closed


def test_trace_list_and_dependency_graph_render(page: tuple[RunningCollector, str, str, Path]) -> None:
    collector, trace_id, _, tmp_path = page
    listing = chromium(tmp_path, f"{collector.web_url}/?errors=1", "--dump-dom").stdout.decode()
    assert f'href="/trace/{trace_id}"' in listing and "GET /buy" in listing
    # Rendered on the server: the other pages need no browser to be read.
    assert "No traces match" in fetch(f"{collector.web_url}/?service=nobody")
    assert "No trace <code>ffff</code>" in fetch(f"{collector.web_url}/trace/ffff", 404)
    assert "min_ms" in fetch(f"{collector.web_url}/?min_ms=soon", 400)
    graph = chromium(tmp_path, f"{collector.web_url}/dependencies", "--dump-dom").stdout.decode()
    assert 'data-caller="frontend" data-callee="checkout"' in graph
    assert 'data-caller="checkout" data-callee="inventory"' in graph


def fetch(url: str, status: int = 200) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            got, body = answer.status, bytes(answer.read())
    except urllib.error.HTTPError as error:
        got, body = error.code, bytes(error.read())
    assert got == status, body
    return body.decode()
