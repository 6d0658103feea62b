"""The admin listener alone, as the proxy runs it: for tests that need it in another process or pod.

    python tests/admin/serve.py [--host H ...] [--port P] [--drain-seconds S]

Prints `listening PORT` once bound, then one line per hook the admin listener calls (`drain
started`, `drain finished`, `exit`); SIGTERM quits the same way /quitquitquit does. Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import uvloop

from proxy.admin import DEFAULT_PORT, AdminServer, AdminState
from proxy.metrics import ProxyMetrics


def say(line: str) -> None:
    print(line, flush=True)


async def serve(hosts: tuple[str, ...] | None, port: int, drain_seconds: float) -> None:
    stop = asyncio.Event()

    async def drain() -> None:
        say("drain started")
        await asyncio.sleep(drain_seconds)  # requests in flight finishing
        say("drain finished")

    def exit_() -> None:
        say("exit")
        stop.set()

    metrics = ProxyMetrics()
    metrics.inbound.request_finished(200, 0.003)
    metrics.outbound.request_finished(503, 0.2, "upstream_refused")
    metrics.watch_spans(exported=lambda: 2, dropped=lambda: 0, failed=lambda: 0)
    state = AdminState(on_drain=drain, on_exit=exit_)
    async with AdminServer(state, metrics.registry, hosts, port) as admin:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, state.quit)
        state.ready = True
        say(f"listening {admin.port}")
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", action="append", help="bind address (default: 0.0.0.0 and ::)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--drain-seconds", type=float, default=0.2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    hosts = tuple(args.host) if args.host else None
    uvloop.run(serve(hosts, args.port, args.drain_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
