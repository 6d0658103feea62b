"""Starting the shop in its namespaces (Redis, then the sidecars, then the applications), driving
traffic at it, and stopping it so that every sidecar drains and flushes its spans."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

import aiohttp

from proxy.demo.processes import DemoError, Processes
from proxy.demo.resp import Redis
from proxy.demo.services import (
    ADMIN_PORT,
    APP_PORTS,
    REDIS_PORT,
    app_command,
    redis_command,
    sidecar_env,
    sidecar_options,
)
from proxy.demo.topology import Plan
from proxy.demo.traffic import STOCK, Progress, Tally
from proxy.demo.traffic import drive as drive_mix

APPS = ("frontend", "checkout", "inventory")
START_TIMEOUT_S = 30.0


async def start(network: Plan, workdir: Path, processes: Processes, otlp_endpoint: str) -> None:
    redis = network.node("redis")
    processes.start("redis", redis.namespace, redis_command(str(redis.address)))
    await _until("redis", processes, lambda: _seed(str(redis.address)))
    for service in APPS:
        node = network.node(service)
        command = [sys.executable, "-m", "proxy.cli", "sidecar", *sidecar_options(service)]
        processes.start(f"{service}-sidecar", node.namespace, command, sidecar_env(service, otlp_endpoint))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        for service in APPS:
            url = f"http://{network.node(service).address}:{ADMIN_PORT}/ready"
            await _until(f"{service}-sidecar", processes, functools.partial(_ready, session, url))
    for service in APPS:
        ready = workdir / f"{service}.ready"
        processes.start(service, network.node(service).namespace, app_command(service, ready))
    for service in APPS:
        ready = workdir / f"{service}.ready"
        await _until(service, processes, functools.partial(_exists, ready))


async def _until(name: str, processes: Processes, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` (an async callable returning bool) until true; the process dying or the start-up
    timeout is a DemoError with the end of its log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        processes.check_running(name)
        if await check():
            return
        if time.monotonic() > deadline:
            raise DemoError(f"{name} did not start within {START_TIMEOUT_S:.0f} s:\n{processes.tail(name)}")
        await asyncio.sleep(0.05)


async def _seed(address: str) -> bool:
    def seed() -> bool:
        try:
            with Redis(address, REDIS_PORT, timeout=1.0) as redis:
                for item, count in STOCK.items():
                    redis.command("SET", f"stock:{item}", count)
        except OSError:
            return False
        return True

    return await asyncio.to_thread(seed)


async def _ready(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as answer:
            return answer.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False


async def _exists(path: Path) -> bool:
    return path.exists()


async def drive(network: Plan, duration: float, out: TextIO) -> Tally:
    url = f"http://{network.node('frontend').address}:{APP_PORTS['frontend']}"
    print(f"\nsending orders to {url} for {duration:g} s", file=out, flush=True)
    progress = Progress(out, duration)
    tally = await drive_mix(url, duration, progress.update)
    progress.update(tally, final=True)
    return tally


async def stop(processes: Processes) -> None:
    """The sidecars first (SIGTERM: drain, flush spans, remove their rules), then the rest."""
    await processes.terminate([f"{service}-sidecar" for service in APPS])
