"""With `--workers N`, /metrics speaks for every worker, not just the one serving the admin port.

Each other worker serves its registry's text on an abstract unix socket named for the admin port,
the supervisor and its index (abstract: no file to create or clean up, and reachable after the
privilege drop; the network namespace bounds who can connect, as the pod IP bounds /metrics). Two
proxies in one network namespace have different admin ports, even when both supervisors are PID 1
of their containers; a name taken all the same costs that worker's metrics, never the worker. At
each scrape the admin worker reads them all and sums the samples (`proxy.metrics_merge`). A worker
that does not answer in time (one being restarted) is left out of that scrape, and a comment line
says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from proxy.metrics import Registry
from proxy.metrics_merge import merge

log = logging.getLogger("tracecar.metrics")

READ_TIMEOUT_S = 1.0


def socket_name(admin_port: int, index: int, supervisor: int | None = None) -> str:
    """Worker `index`'s socket; `supervisor` defaults to the caller's parent (a worker's view)."""
    return f"\0tracecar-metrics-{admin_port}-{os.getppid() if supervisor is None else supervisor}-{index}"


def peer_names(admin_port: int, workers: int) -> list[str]:
    """The sockets of the other workers, as the admin worker (index 0) sees them."""
    return [socket_name(admin_port, index) for index in range(1, workers)]


async def serve(registry: Registry, admin_port: int, index: int) -> asyncio.AbstractServer | None:
    """Answer every connection with this worker's metrics text, then close it; None (and a log
    line) if the name is taken."""

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(registry.render().encode())
        await writer.drain()
        writer.close()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = socket_name(admin_port, index)
    try:
        listener.bind(name)  # by hand: uvloop refuses abstract names as a path
        listener.listen(16)
    except OSError as error:
        listener.close()
        log.warning("worker %d serves no metrics: %r: %s", index, name[1:], error)
        return None
    return await asyncio.start_unix_server(answer, sock=listener)


async def gathered(registry: Registry, peers: list[str]) -> str:
    """This worker's metrics summed with every peer's that answers within READ_TIMEOUT_S."""
    texts = await asyncio.gather(*(_read(name) for name in peers))
    merged = merge([registry.render(), *(text for text in texts if text is not None)])
    missing = [index for index, text in enumerate(texts, start=1) if text is None]
    if missing:
        merged += f"# workers not included in this scrape: {', '.join(map(str, missing))}\n"
    return merged


async def _read(name: str) -> str | None:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.setblocking(False)
    if client.connect_ex(name) != 0:  # not listening (yet, or any more): a worker restarting
        client.close()
        return None
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            reader, writer = await asyncio.open_unix_connection(sock=client)
            return (await reader.read()).decode()
    except (OSError, TimeoutError, UnicodeDecodeError) as error:
        log.warning("worker metrics from %r: %s", name[1:], error)
        return None
    finally:
        if writer is not None:  # the transport owns the socket now
            writer.close()
        else:
            client.close()
