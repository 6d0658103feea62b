"""The admin listener (port 15000): health, readiness, Prometheus metrics, and drain/quit for loopback.

    state = AdminState(on_drain=proxy.drain, on_exit=stop.set)
    admin = AdminServer(state, metrics.registry)
    await admin.start()          # in the proxy's running loop; raises OSError if the port is taken
    state.ready = True           # once the data path's listeners are up
    ...
    await admin.stop()

/healthz, /ready and /metrics answer anyone (kubelet and Prometheus come from outside the pod);
/drain and /quitquitquit answer only loopback clients, because they stop the pod's traffic.

A few lines of asyncio over the proxy's own strict HTTP/1 head parser rather than aiohttp: loading
aiohttp would add about 13 MB to every proxy process, a third of its memory budget, for five
endpoints. One request per connection (`connection: close`), which is all probes and scrapers need.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from proxy.http1.errors import HttpError
from proxy.http1.head import head_end, parse_request
from proxy.metrics import CONTENT_TYPE, Registry
from proxy.tasks import spawn
from proxy.worker_metrics import gathered

log = logging.getLogger("tracecar.admin")

DEFAULT_PORT = 15000
DEFAULT_HOSTS = ("0.0.0.0", "::")  # IPv6 only where the host has it
SHUTDOWN_TIMEOUT_S = 2.0  # stop(): how long a handler in flight (a scrape) may still take
MAX_REMEMBERED_REFUSALS = 1024  # peers whose refused attempts were already logged at warning level
MAX_REQUEST_HEAD_BYTES = 8 * 1024  # the admin API's requests are a line and a few headers
REQUEST_TIMEOUT_S = 10.0  # a client that has not sent its request by then is dropped
TEXT = "text/plain; charset=utf-8"
ROUTES = {"/healthz": "GET", "/ready": "GET", "/metrics": "GET", "/drain": "POST", "/quitquitquit": "POST"}


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


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = TEXT


def text(status: int, message: str) -> Reply:
    return Reply(status, message.encode())


class Refusals:
    """Each peer's first refused attempt is a warning, later ones debug lines: a remote client
    retrying cannot flood the log."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def note(self, method: str, path: str, host: str) -> None:
        if host in self.seen:
            log.debug("refused %s %s from %s (not loopback)", method, path, host)
            return
        if len(self.seen) >= MAX_REMEMBERED_REFUSALS:
            self.seen.clear()
        self.seen.add(host)
        log.warning(
            "refused %s %s from %s (only loopback clients may drain or stop the proxy)", method, path, host
        )


class AdminApi:
    """The endpoints, apart from the sockets: (method, path, client address) in, a `Reply` out."""

    def __init__(self, state: AdminState, registry: Registry, peers: list[str] | None = None) -> None:
        self.state = state
        self.registry = registry
        self.peers = peers or []  # the other workers' metrics sockets (proxy.worker_metrics)
        self.refusals = Refusals()

    async def answer(self, method: str, path: str, host: str) -> Reply:
        allowed = ROUTES.get(path)
        if allowed is None:
            return text(404, "not found\n")
        if method != allowed:
            return text(405, f"{path} takes {allowed}\n")
        if allowed == "POST" and not is_loopback(host):
            self.refusals.note(method, path, host)
            return text(403, f"{path} is only served to loopback clients (127.0.0.1, ::1)\n")
        try:
            return await self._endpoint(path)
        except Exception:
            log.exception("admin %s %s failed", method, path)
            return text(500, "internal error; see the proxy's log\n")

    async def _endpoint(self, path: str) -> Reply:
        state = self.state
        if path == "/healthz":
            return text(200, "ok\n")
        if path == "/ready":
            if state.serving:
                return text(200, "ready\n")
            return text(503, "draining\n" if state.draining else "not ready\n")
        if path == "/metrics":
            rendered = await gathered(self.registry, self.peers) if self.peers else self.registry.render()
            return Reply(200, rendered.encode(), CONTENT_TYPE)
        if path == "/drain":
            already = state.draining
            state.start_drain()
            return text(202, "already draining\n" if already else "draining\n")
        return await self._quitquitquit()

    async def _quitquitquit(self) -> Reply:
        """Answers once the drain is over, so a preStop hook that calls it waits for the drain.
        The exit itself is asked for after the answer is written (see `AdminServer._serve`)."""
        await asyncio.shield(self.state.start_drain())
        if self.state.drain_error is not None:
            return text(500, "draining failed; exiting\n")
        return text(200, "drained; exiting\n")


def serialize(reply: Reply) -> bytes:
    head = (
        f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\n"
        f"content-type: {reply.content_type}\r\ncontent-length: {len(reply.body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + reply.body


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """(method, path) of the request on `reader`; HttpError or EOF-related errors when there is none."""
    buffer = bytearray()
    while (end := head_end(buffer, 0, 0, MAX_REQUEST_HEAD_BYTES)) < 0:
        data = await reader.read(4096)
        if not data:
            raise ConnectionResetError("closed before a whole request head")
        buffer += data
    request = parse_request(bytes(buffer[:end]))
    path = request.target.split(b"?", 1)[0].decode("latin-1")
    return request.method.decode("latin-1"), path


class AdminServer:
    """The admin API served in the running event loop, on every given host at one port.

    With the default hosts, IPv6 is optional (a host without it serves IPv4 only); hosts given
    explicitly must all bind. Port 0 picks a free port, the same for every host; see `port`.
    """

    def __init__(
        self,
        state: AdminState,
        registry: Registry,
        hosts: tuple[str, ...] | None = None,
        port: int = DEFAULT_PORT,
        peers: list[str] | None = None,
    ) -> None:
        self.state = state
        self.api = AdminApi(state, registry, peers)
        self.hosts = hosts if hosts is not None else DEFAULT_HOSTS
        self._optional_ipv6 = hosts is None
        self.port = port
        self.addresses: list[tuple[str, int]] = []
        self._servers: list[asyncio.Server] = []
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on the hosts, or on `sock`, a socket already bound."""
        try:
            if sock is not None:
                await self._listen(sock=sock)
            else:
                for host in self.hosts:
                    await self._bind(host)
        except BaseException:
            await self.stop()
            raise
        log.info("admin listening on %s", ", ".join(f"{host} port {port}" for host, port in self.addresses))

    async def _bind(self, host: str) -> None:
        try:
            await self._listen(host=host, port=self.port)
        except OSError as error:
            if not (self._optional_ipv6 and ":" in host):
                raise
            log.info("admin: no IPv6 listener on [%s]:%d: %s", host, self.port, error.strerror or error)

    async def _listen(
        self, host: str | None = None, port: int | None = None, sock: socket.socket | None = None
    ) -> None:
        server = await asyncio.start_server(self._connected, host, port, sock=sock, reuse_address=True)
        self._servers.append(server)
        for listening in server.sockets:
            address = listening.getsockname()
            self.addresses.append((address[0], address[1]))
        self.port = self.addresses[-1][1]  # port 0: the next hosts bind the port the first one got

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = spawn(self._serve(reader, writer), name="admin request")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else ""
        quit_after = False
        try:
            try:
                method, path = await asyncio.wait_for(read_request(reader), REQUEST_TIMEOUT_S)
            except HttpError as error:
                reply = text(error.status, f"{error.reason}\n")
            else:
                reply = await self.api.answer(method, path, host)
                quit_after = path == "/quitquitquit" and reply.status in (200, 500)
            writer.write(serialize(reply))
            await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass  # the client went away or never asked: nothing to answer
        finally:
            writer.close()
            if quit_after:
                self.state.quit()

    async def stop(self) -> None:
        """Stop listening; requests in flight (a scrape) get `SHUTDOWN_TIMEOUT_S` to finish."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=SHUTDOWN_TIMEOUT_S)
            for task in pending:
                task.cancel()
        for server in servers:
            await server.wait_closed()

    async def __aenter__(self) -> AdminServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
