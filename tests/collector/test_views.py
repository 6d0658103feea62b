"""Waterfall rows, the dependency graph and the text renderings, from spans in, data out."""

from __future__ import annotations

from proxy.collector import html, terminal
from proxy.collector.model import KIND_CLIENT, STATUS_ERROR, Span, TraceFilter, TraceSummary
from proxy.collector.options import parse_duration_s, parse_size
from proxy.collector.views import Edge, dependencies, format_duration, graph_layout, waterfall
from tests.collector.factory import span


def shop() -> list[Span]:
    root = span("frontend", "GET /buy", 0, 100)
    call = span("frontend", "POST", 10, 90, parent=root, kind=KIND_CLIENT)
    server = span("checkout", "Buy", 20, 80, parent=call)
    db = span("checkout", "GET", 30, 40, parent=server, kind=KIND_CLIENT, db_system="redis")
    failing = span("inventory", "GET /stock", 50, 75, parent=server, status=STATUS_ERROR)
    return [failing, db, server, call, root]  # any order


def test_waterfall_is_depth_first_scaled_to_the_trace() -> None:
    rows = waterfall(shop())
    assert [(r.span.name, r.depth) for r in rows] == [
        ("GET /buy", 0), ("POST", 1), ("Buy", 2), ("GET", 3), ("GET /stock", 3),
    ]  # fmt: skip
    assert [(round(r.offset, 2), round(r.width, 2)) for r in rows] == [
        (0.0, 1.0), (0.1, 0.8), (0.2, 0.6), (0.3, 0.1), (0.5, 0.25),
    ]  # fmt: skip
    assert not any(r.orphan for r in rows)


def test_a_span_whose_parent_is_missing_is_an_orphan_root() -> None:
    lost = span("checkout", "Buy", 0, 10)
    orphan = span("inventory", "GET", 2, 4, parent=lost)
    [row] = waterfall([orphan])
    assert row.orphan and row.depth == 0 and row.width == 1.0
    assert waterfall([]) == []


def test_dependencies_from_parents_and_untraced_peers() -> None:
    edges = dependencies(shop())
    assert edges == [
        Edge("checkout", "inventory", 1, 1),
        Edge("checkout", "redis", 1, 0, peer=True),
        Edge("frontend", "checkout", 1, 0),
    ]
    columns = {node.name: node.column for node in graph_layout(edges)}
    assert columns == {"frontend": 0, "checkout": 1, "inventory": 2, "redis": 2}


def test_graph_layout_survives_a_cycle() -> None:
    nodes = graph_layout([Edge("a", "b", 1, 0), Edge("b", "a", 1, 0)])
    assert sorted(node.name for node in nodes) == ["a", "b"]


def test_terminal_waterfall() -> None:
    text = terminal.render_waterfall(shop(), width=100)
    lines = text.splitlines()
    assert "5 spans" in lines[0] and "3 services" in lines[0] and "1 error" in lines[0]
    root, *_, failing = lines[2:]
    assert root.startswith("frontend GET /buy [server]")
    assert "    ↳ inventory GET /stock [server]" in failing and failing.endswith("ERROR")
    bar_of = {line: line[line.index("│") + 1 : line.rindex("│")] for line in lines[2:]}
    assert bar_of[root].strip("█") == ""  # the root spans the whole width
    failing_bar = bar_of[failing]
    assert failing_bar.index("█") == len(failing_bar) // 2  # starts half-way, as the span does
    assert "\x1b[" not in text
    assert "\x1b[31m" in terminal.render_waterfall(shop(), color=True)


def test_terminal_trace_list() -> None:
    summary = TraceSummary("ab" * 16, "frontend", "GET /buy", 0, 12_500_000, 5, 1)
    text = terminal.render_trace_list([summary])
    assert "frontend: GET /buy" in text and "12.50 ms" in text
    assert "no traces" in terminal.render_trace_list([])


def test_html_escapes_and_draws_bars() -> None:
    evil = span("<script>", "x&y", 0, 10)
    page = html.trace_page([evil])
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "x&amp;y" in page
    assert "left:0.000%;width:100.000%" in page
    listing = html.trace_list_page([], ["a<b"], TraceFilter(service="a<b"))
    assert "<option selected>a&lt;b</option>" in listing
    graph = html.dependencies_page(dependencies(shop()))
    assert graph.count('class="edge"') == 3 and "stroke-dasharray" in graph


def test_option_values() -> None:
    assert parse_duration_s("250ms") == 0.25
    assert parse_duration_s("7d") == 7 * 86400
    assert parse_duration_s("100", default_unit="ms") == 0.1
    assert parse_size("1GiB") == 1024**3 and parse_size("500MB") == 500_000_000
    for bad in ("soon", "5 parsecs", ""):
        try:
            parse_duration_s(bad)
        except ValueError as error:
            assert "duration" in str(error)
        else:
            raise AssertionError(bad)
    assert format_duration(1500) == "2 µs" and format_duration(2_500_000_000) == "2.50 s"
