"""The admin listener over real HTTP on loopback: endpoints, the drain/quit hooks, binding, errors.

A remote (non-loopback) client needs a second network namespace: see test_admin_netns.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from proxy.admin import AdminServer, AdminState, is_loopback
from proxy.metrics import ProxyMetrics, Registry


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """In the loop the proxy uses, with a deadline so a hang fails instead of stalling the suite."""

    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout=10)

    uvloop.run(bounded())


class Hooks:
    """The data path's side of AdminState, recording what the admin listener asked of it."""

    def __init__(self, drain_seconds: float = 0.0, fail: bool = False) -> None:
        self.drain_seconds = drain_seconds
        self.fail = fail
        self.events: list[str] = []

    async def drain(self) -> None:
        self.events.append("drain started")
        await asyncio.sleep(self.drain_seconds)
        if self.fail:
            raise RuntimeError("listener close failed")
        self.events.append("drain finished")

    def exit(self) -> None:
        self.events.append("exit")

    def state(self) -> AdminState:
        return AdminState(on_drain=self.drain, on_exit=self.exit)


@asynccontextmanager
async def serving(
    state: AdminState, registry: Registry | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """The admin server on `host` at a free port; yields its base URL."""
    async with AdminServer(state, registry or Registry(), hosts=(host,), port=0) as admin:
        yield f"http://{host}:{admin.port}" if ":" not in host else f"http://[{host}]:{admin.port}"


async def request(method: str, url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.request(method, url) as response:
        return response.status, await response.text(), response.headers.get("Content-Type", "")


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_healthz_and_ready_follow_the_data_path() -> None:
    hooks = Hooks()
    state = hooks.state()

    async def scenario() -> None:
        async with serving(state) as url:
            assert (await request("GET", f"{url}/healthz"))[:2] == (200, "ok\n")
            assert (await request("GET", f"{url}/ready"))[:2] == (503, "not ready\n")
            state.ready = True
            assert (await request("GET", f"{url}/ready"))[:2] == (200, "ready\n")
            assert (await request("POST", f"{url}/drain"))[:2] == (202, "draining\n")
            assert (await request("GET", f"{url}/ready"))[:2] == (503, "draining\n")
            assert (await request("GET", f"{url}/healthz"))[:2] == (200, "ok\n")
            await state.start_drain()
            assert hooks.events == ["drain started", "drain finished"]

    run(scenario)


def test_drain_starts_once_and_does_not_exit() -> None:
    hooks = Hooks(drain_seconds=0.1)
    state = hooks.state()

    async def scenario() -> None:
        async with serving(state, host="::1") as url:
            assert (await request("POST", f"{url}/drain"))[:2] == (202, "draining\n")
            assert (await request("POST", f"{url}/drain"))[:2] == (202, "already draining\n")
            await state.start_drain()
            await asyncio.sleep(0.05)
            assert hooks.events == ["drain started", "drain finished"]

    run(scenario)


def test_metrics_are_served_in_the_text_format_and_change_between_scrapes() -> None:
    metrics = ProxyMetrics()

    def inbound_2xx(text: str) -> float:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "tracecar_requests_total" and sample.labels == {
                    "direction": "inbound",
                    "status_class": "2xx",
                }:
                    return sample.value
        raise AssertionError("no inbound 2xx series")

    async def scenario() -> None:
        async with serving(AdminState(), metrics.registry) as url:
            status, first, content_type = await request("GET", f"{url}/metrics")
            assert status == 200
            assert content_type == "text/plain; version=0.0.4; charset=utf-8"
            for _ in range(3):
                metrics.inbound.request_finished(200, 0.002)
            second = (await request("GET", f"{url}/metrics"))[1]
            assert (inbound_2xx(first), inbound_2xx(second)) == (0, 3)

    run(scenario)


def test_quitquitquit_answers_once_drained_then_exits_once() -> None:
    hooks = Hooks(drain_seconds=0.2)
    state = hooks.state()

    async def scenario() -> None:
        async with serving(state) as url:
            status, body, _ = await request("POST", f"{url}/quitquitquit")
            assert (status, body) == (200, "drained; exiting\n")
            assert hooks.events[:2] == ["drain started", "drain finished"]
            await until(lambda: "exit" in hooks.events)
            assert (await request("POST", f"{url}/quitquitquit"))[:2] == (200, "drained; exiting\n")
            await asyncio.sleep(0.05)
            assert hooks.events == ["drain started", "drain finished", "exit"]

    run(scenario)


def test_sigterm_path_quit_drains_then_exits_once() -> None:
    hooks = Hooks(drain_seconds=0.05)
    state = hooks.state()

    async def scenario() -> None:
        first = state.quit()  # what loop.add_signal_handler(SIGTERM, state.quit) runs
        second = state.quit()
        assert first is second
        assert state.draining
        await first
        await asyncio.sleep(0)
        assert hooks.events == ["drain started", "drain finished", "exit"]

    run(scenario)


def test_a_failing_drain_still_exits_answers_500_and_the_listener_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks = Hooks(fail=True)
    state = hooks.state()

    async def scenario() -> None:
        async with serving(state) as url:
            assert (await request("POST", f"{url}/quitquitquit"))[:2] == (500, "draining failed; exiting\n")
            await until(lambda: "exit" in hooks.events)
            assert (await request("GET", f"{url}/healthz"))[0] == 200

    with caplog.at_level(logging.ERROR, logger="tracecar.admin"):
        run(scenario)
    assert hooks.events == ["drain started", "exit"]
    assert [record.getMessage() for record in caplog.records] == ["draining failed"]


class BrokenRegistry(Registry):
    """A registry with a bug: rendering raises."""

    def render(self) -> str:
        raise ZeroDivisionError("bug")


def test_an_exception_in_a_handler_answers_500_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with serving(AdminState(), BrokenRegistry()) as url:
            status, body, _ = await request("GET", f"{url}/metrics")
            assert (status, body) == (500, "internal error; see the proxy's log\n")
            assert (await request("GET", f"{url}/healthz"))[0] == 200

    with caplog.at_level(logging.ERROR, logger="tracecar.admin"):
        run(scenario)
    assert [record.getMessage() for record in caplog.records] == ["admin GET /metrics failed"]
    assert caplog.records[0].exc_info is not None


def test_methods_and_paths_outside_the_api() -> None:
    hooks = Hooks()

    async def scenario() -> None:
        async with serving(hooks.state()) as url:
            assert (await request("GET", f"{url}/drain"))[0] == 405
            assert (await request("GET", f"{url}/quitquitquit"))[0] == 405
            assert (await request("POST", f"{url}/metrics"))[0] == 405
            assert (await request("GET", f"{url}/nothing"))[0] == 404
        assert hooks.events == []

    run(scenario)


def test_default_hosts_serve_ipv4_and_ipv6_on_one_port() -> None:
    hooks = Hooks()

    async def scenario() -> None:
        async with AdminServer(hooks.state(), Registry(), port=0) as admin:
            assert sorted(admin.addresses) == [("0.0.0.0", admin.port), ("::", admin.port)]
            assert (await request("GET", f"http://127.0.0.1:{admin.port}/healthz"))[0] == 200
            assert (await request("GET", f"http://[::1]:{admin.port}/healthz"))[0] == 200
            assert (await request("POST", f"http://[::1]:{admin.port}/drain"))[0] == 202

    run(scenario)


def test_an_ipv4_mapped_loopback_client_may_drain() -> None:
    """On a dual-stack socket, 127.0.0.1 arrives as ::ffff:127.0.0.1: it is still loopback."""
    hooks = Hooks()

    async def scenario() -> None:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
        port = sock.getsockname()[1]
        admin = AdminServer(hooks.state(), Registry())
        await admin.start(sock)
        try:
            assert (await request("POST", f"http://127.0.0.1:{port}/drain"))[:2] == (202, "draining\n")
        finally:
            await admin.stop()
        assert hooks.events[0] == "drain started"

    run(scenario)


def test_a_port_in_use_fails_start_and_leaves_nothing_bound() -> None:
    async def scenario() -> None:
        async with serving(AdminState()) as url:
            port = int(url.rsplit(":", 1)[1])
            second = AdminServer(AdminState(), Registry(), hosts=("127.0.0.1",), port=port)
            with pytest.raises(OSError):
                await second.start()
        again = AdminServer(AdminState(), Registry(), hosts=("127.0.0.1",), port=port)
        async with again:
            assert (await request("GET", f"http://127.0.0.1:{port}/healthz"))[0] == 200

    run(scenario)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.3.4", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:127.9.9.9", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("128.0.0.1", False),
        ("localhost", False),  # peers are addresses; a name is never trusted
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
