"""The admin listener (port 15000): health, readiness, Prometheus metrics, and drain/quit for loopback.

    state = AdminState(on_drain=proxy.drain, on_exit=stop.set)
    admin = AdminServer(state, metrics.registry)
    await admin.start()          # in the proxy's running loop; raises OSError if the port is taken
    state.ready = True           # once the data path's listeners are up
    ...
    await admin.stop()

/healthz, /ready and /metrics answer anyone (kubelet and Prometheus come from outside the pod);
/drain and /quitquitquit answer only loopback clients, because they stop the pod's traffic.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.metrics import CONTENT_TYPE, Registry
from proxy.tasks import spawn
from proxy.web_errors import errors_as_500

log = logging.getLogger("tracecar.admin")

DEFAULT_PORT = 15000
DEFAULT_HOSTS = ("0.0.0.0", "::")  # IPv6 only where the host has it
SHUTDOWN_TIMEOUT_S = 2.0  # stop(): how long a handler in flight (a scrape) may still take
MAX_REMEMBERED_REFUSALS = 1024  # peers whose refused attempts were already logged at warning level


async def _nothing() -> None:
    return None


class AdminState:
    """What the admin listener and the data path share.

    The data path sets `ready` once its listeners are up, and provides `on_drain` (a coroutine
    function: stop accepting, let requests in flight finish within the grace period, flush spans) and
    `on_exit` (make the process leave its main coroutine with status 0, e.g. `stop_event.set`; it must
    not exit synchronously). `quit()` is also what a SIGTERM handler calls.
    """

    def __init__(
        self,
        on_drain: Callable[[], Awaitable[None]] = _nothing,
        on_exit: Callable[[], None] = lambda: None,
    ) -> None:
        self.on_drain = on_drain
        self.on_exit = on_exit
        self.ready = False
        self.drain_error: BaseException | None = None
        self._drain: asyncio.Task[None] | None = None
        self._exit_requested = False

    @property
    def draining(self) -> bool:
        return self._drain is not None

    @property
    def serving(self) -> bool:
        """What /ready reports: ready, and not draining."""
        return self.ready and self._drain is None

    def start_drain(self) -> asyncio.Task[None]:
        """Start draining once; later calls return the same task. /ready says 503 from now on."""
        if self._drain is None:
            log.info("draining")
            self._drain = spawn(self._run_drain(), name="drain")
        return self._drain

    async def _run_drain(self) -> None:
        try:
            await self.on_drain()
        except Exception as error:  # the process still exits: the operator asked it to
            log.exception("draining failed")
            self.drain_error = error
        else:
            log.info("drained")

    def quit(self) -> asyncio.Task[None]:
        """Drain (unless already started), then call `on_exit` once, when the drain has finished."""
        drain = self.start_drain()
        if not self._exit_requested:
            self._exit_requested = True
            if drain.done():
                self._exit()
            else:
                drain.add_done_callback(lambda _: self._exit())
        return drain

    def _exit(self) -> None:
        log.info("exiting")
        try:
            self.on_exit()
        except Exception:
            log.exception("exit hook failed")


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1, and IPv4-mapped 127.x (::ffff:127.0.0.1, as a dual-stack socket sees it)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


STATE = web.AppKey("state", AdminState)
REGISTRY = web.AppKey("registry", Registry)
REFUSED = web.AppKey("refused", set[str])


def make_app(state: AdminState, registry: Registry) -> web.Application:
    app = web.Application(middlewares=[errors_as_500(log, "admin ", "the proxy's log")])
    app[STATE] = state
    app[REGISTRY] = registry
    app[REFUSED] = set()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/ready", _ready)
    app.router.add_get("/metrics", _metrics)
    app.router.add_post("/drain", _drain)
    app.router.add_post("/quitquitquit", _quitquitquit)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _ready(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.serving:
        return web.Response(text="ready\n")
    return web.Response(status=503, text="draining\n" if state.draining else "not ready\n")


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[REGISTRY].render().encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _drain(request: web.Request) -> web.Response:
    refused = _refuse_remote(request)
    if refused is not None:
        return refused
    state = request.app[STATE]
    already = state.draining
    state.start_drain()
    return web.Response(status=202, text="already draining\n" if already else "draining\n")


async def _quitquitquit(request: web.Request) -> web.StreamResponse:
    """Answers once the drain is over, so a preStop hook that calls it waits for the drain."""
    refused = _refuse_remote(request)
    if refused is not None:
        return refused
    state = request.app[STATE]
    try:
        await asyncio.shield(state.start_drain())
        failed = state.drain_error is not None
        response = web.Response(
            status=500 if failed else 200,
            text="draining failed; exiting\n" if failed else "drained; exiting\n",
        )
        await response.prepare(request)
        await response.write_eof()
        return response
    finally:  # after the answer went out; also if this handler was cancelled while waiting
        state.quit()


def _refuse_remote(request: web.Request) -> web.Response | None:
    """None for a loopback client; otherwise the 403 to send. Each peer's first refusal is a
    warning, later ones are debug lines, so a remote client retrying cannot flood the log."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    host = peer[0] if peer else None
    if is_loopback(host):
        return None
    refused = request.app[REFUSED]
    if host in refused:
        log.debug("refused %s %s from %s (not loopback)", request.method, request.path, host)
    else:
        if len(refused) >= MAX_REMEMBERED_REFUSALS:
            refused.clear()
        refused.add(str(host))
        log.warning(
            "refused %s %s from %s (only loopback clients may drain or stop the proxy)",
            request.method,
            request.path,
            host,
        )
    return web.Response(
        status=403, text=f"{request.path} is only served to loopback clients (127.0.0.1, ::1)\n"
    )


class AdminServer:
    """The admin application served in the running event loop, on every given host at one port.

    With the default hosts, IPv6 is optional (a host without it serves IPv4 only); hosts given
    explicitly must all bind. Port 0 picks a free port, the same for every host; see `port`.
    """

    def __init__(
        self,
        state: AdminState,
        registry: Registry,
        hosts: tuple[str, ...] | None = None,
        port: int = DEFAULT_PORT,
    ) -> None:
        self.state = state
        self.hosts = hosts if hosts is not None else DEFAULT_HOSTS
        self._optional_ipv6 = hosts is None
        self.port = port
        # Access logging off: a scrape every few seconds is not news.
        self._runner = web.AppRunner(
            make_app(state, registry), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        self.addresses: list[tuple[str, int]] = []

    async def start(self) -> None:
        await self._runner.setup()
        try:
            for host in self.hosts:
                await self._bind(host)
        except BaseException:
            await self._runner.cleanup()
            raise
        log.info("admin listening on %s", ", ".join(f"{host} port {port}" for host, port in self.addresses))

    async def _bind(self, host: str) -> None:
        site = web.TCPSite(self._runner, host, self.port)
        try:
            await site.start()
        except OSError as error:
            if not (self._optional_ipv6 and ":" in host):
                raise
            log.info("admin: no IPv6 listener on [%s]:%d: %s", host, self.port, error.strerror or error)
            return
        self.addresses = [(address[0], address[1]) for address in self._runner.addresses]
        self.port = self.addresses[-1][1]  # port 0: the next hosts bind the port the first one got

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> AdminServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
