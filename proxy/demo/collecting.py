"""The demo's embedded collector: OTLP/HTTP on the root namespace's demo address (where the sidecars
send), the web page there and on 127.0.0.1 (where the user's browser looks)."""

from __future__ import annotations

import asyncio
import signal
from typing import TextIO

from aiohttp import web

from proxy.collector.server import Collector, CollectorConfig
from proxy.collector.store import Store
from proxy.collector.web import web_routes
from proxy.demo.summary import Findings, findings
from proxy.demo.topology import HOST_ADDRESS

ALL_SPANS = 1_000_000


class DemoCollector:
    def __init__(self, db_path: str, web_port: int) -> None:
        self.db_path = db_path
        self.web_port = web_port
        self.collector: Collector | None = None
        self.loopback: web.AppRunner | None = None
        self.web_url = ""

    @property
    def otlp_endpoint(self) -> str:
        assert self.collector is not None
        return f"http://{HOST_ADDRESS}:{self.collector.http_port}"

    async def start(self) -> None:
        try:
            self.collector = await self._start(self.web_port)
        except OSError:  # the usual port is taken (a collector of your own?): any free one will do
            self.collector = await self._start(0)
        port = self.collector.web_port
        assert port is not None
        self.web_url = f"http://{HOST_ADDRESS}:{port}/"
        runner = web.AppRunner(_app(self.db_path), access_log=None, handle_signals=False)
        await runner.setup()
        self.loopback = runner
        # The same port as on the demo address if it is free on loopback too, else any.
        for loopback_port in (port, 0):
            site = web.TCPSite(runner, "127.0.0.1", loopback_port, reuse_address=True)
            try:
                await site.start()
            except OSError:
                continue
            server = site._server
            assert isinstance(server, asyncio.base_events.Server)
            self.web_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            return

    async def _start(self, web_port: int) -> Collector:
        config = CollectorConfig(
            self.db_path, str(HOST_ADDRESS), grpc_port=None, http_port=0, web_port=web_port
        )
        collector = Collector(config)
        await collector.start()
        return collector

    def findings(self) -> Findings:
        store = Store(self.db_path, readonly=True)
        try:
            return findings(store.recent_spans(ALL_SPANS))
        finally:
            store.close()

    async def serve_until_interrupted(self, out: TextIO) -> None:
        print(f"\nserving the traces at {self.web_url} until Ctrl-C", file=out, flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()

    async def stop(self) -> None:
        if self.loopback is not None:
            await self.loopback.cleanup()
        if self.collector is not None:
            await self.collector.stop()


def _app(db_path: str) -> web.Application:
    app = web.Application()
    app.add_routes(web_routes(db_path))
    return app
