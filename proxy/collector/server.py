"""The whole collector: writer, OTLP/gRPC and OTLP/HTTP receivers, and the web page, started together.

collector = Collector(CollectorConfig(db_path="traces.db"))
await collector.start()      # binds; a port of 0 becomes an ephemeral one (see .grpc_port etc.)
await collector.serve()      # until SIGINT or SIGTERM, then stops
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field

import grpc
from aiohttp import web

from proxy.collector.receivers import MAX_REQUEST_BYTES, grpc_handlers, http_routes
from proxy.collector.store import Retention
from proxy.collector.web import web_routes
from proxy.collector.writer import MAX_PENDING_SPANS, RETENTION_INTERVAL_S, Writer

log = logging.getLogger(__name__)

DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DEFAULT_WEB_PORT = 4317, 4318, 16686
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class CollectorConfig:
    db_path: str = "tracecar-traces.db"
    host: str = "0.0.0.0"
    grpc_port: int | None = DEFAULT_GRPC_PORT  # None: no gRPC receiver
    http_port: int | None = DEFAULT_HTTP_PORT  # None: no HTTP receiver
    web_port: int | None = DEFAULT_WEB_PORT  # None, or the HTTP port: the page shares the HTTP port
    retention: Retention = field(default_factory=Retention)
    max_pending_spans: int = MAX_PENDING_SPANS
    retention_interval_s: float = RETENTION_INTERVAL_S


class Collector:
    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.writer = Writer(
            config.db_path,
            config.retention,
            max_pending=config.max_pending_spans,
            retention_interval_s=config.retention_interval_s,
        )
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.web_port: int | None = None
        self._grpc: grpc.aio.Server | None = None
        self._runners: list[web.AppRunner] = []

    @property
    def web_url(self) -> str | None:
        return None if self.web_port is None else f"http://{_display_host(self.config.host)}:{self.web_port}/"

    async def start(self) -> None:
        """Open the database and listen; on a failure (a port taken), undo what was started."""
        self.writer.start()
        try:
            await self._start_grpc()
            await self._start_http()
        except BaseException:
            await self.stop()
            raise

    async def _start_grpc(self) -> None:
        if self.config.grpc_port is None:
            return
        # No SO_REUSEPORT (grpc's default): a port another collector holds must be an error, not a
        # silent share of its traffic.
        options = [("grpc.max_receive_message_length", MAX_REQUEST_BYTES), ("grpc.so_reuseport", 0)]
        self._grpc = grpc.aio.server(options=options)
        self._grpc.add_generic_rpc_handlers([grpc_handlers(self.writer)])
        address = _netloc(self.config.host, self.config.grpc_port)
        try:
            self.grpc_port = self._grpc.add_insecure_port(address)
        except RuntimeError:  # grpc's "Failed to bind"
            self.grpc_port = 0
        if not self.grpc_port:
            raise OSError(f"cannot listen for OTLP/gRPC on {address} (address in use?)")
        await self._grpc.start()

    async def _start_http(self) -> None:
        config = self.config
        shared = config.web_port is None or config.web_port == config.http_port != 0
        if config.http_port is not None:
            app = _app(http_routes(self.writer) + (web_routes(config.db_path) if shared else []))
            self.http_port = await self._serve(app, config.http_port)
            self.web_port = self.http_port if shared else None
        if config.web_port is not None and not shared:
            self.web_port = await self._serve(_app(web_routes(config.db_path)), config.web_port)

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.config.host, port, reuse_address=True)
        await site.start()
        bound: int = runner.addresses[0][1]
        return bound

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish, write what is queued, close the database."""
        if self._grpc is not None:
            await self._grpc.stop(STOP_GRACE_S)
            self._grpc = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        await self.writer.stop()

    async def serve(self) -> None:
        """Run until SIGINT or SIGTERM, then stop."""
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        try:
            await stopped.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signum)
            await self.stop()


def _app(routes: list[web.RouteDef]) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.add_routes(routes)
    return app


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "localhost"
    return f"[{host}]" if ":" in host else host
