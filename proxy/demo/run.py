"""One demo run: network, collector, Redis, sidecars, applications, traffic, summary, clean-up.

Everything started is stopped and every namespace removed on every way out (normal end, Ctrl-C,
SIGTERM, a failure), and a run killed with SIGKILL is cleaned up by the next one, which starts by
removing whatever carries the demo's names. A lock file keeps two runs from fighting over them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.demo import topology
from proxy.demo.processes import DemoError, Processes
from proxy.demo.services import SERVICES
from proxy.demo.topology import Plan, TopologyError

if TYPE_CHECKING:
    from proxy.demo.collecting import DemoCollector

LOCK_FILE = Path("/run/tracecar-demo.lock")
REQUIRED_TOOLS = ("ip", "iptables", "redis-server")


@dataclass(frozen=True)
class Options:
    duration: float = 5.0
    serve: bool = False
    web_port: int = 16686
    db: str | None = None
    keep_db: bool = False
    json: bool = False


def run(options: Options) -> int:
    if os.geteuid() != 0:
        print(
            "tracecar demo: needs root: it creates network namespaces and iptables rules, as the sidecar "
            "does (run it with sudo)",
            file=sys.stderr,
        )
        return 2
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        print(
            f"tracecar demo: {', '.join(missing)} not found (bash .ci/setup installs them)", file=sys.stderr
        )
        return 2
    if options.db and Path(options.db).exists():
        print(f"tracecar demo: {options.db} exists; the demo starts a fresh database", file=sys.stderr)
        return 2
    with _lock():
        return _run_locked(options)


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    with LOCK_FILE.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("tracecar demo: another tracecar demo is running on this machine") from None
        yield


def _run_locked(options: Options) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tracecar-demo-"))
    db = options.db or str(workdir / "traces.db")
    processes = Processes(workdir)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    failed = True
    try:
        stale = topology.remove()
        if stale:
            print(f"tracecar demo: removed leftovers of an earlier run: {', '.join(stale)}", file=sys.stderr)
        code = asyncio.run(_demo(options, db, workdir, processes))
        failed = code != 0
        return code
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ntracecar demo: interrupted; cleaning up", file=sys.stderr)
        failed = False
        return 130
    except (DemoError, TopologyError, OSError) as error:
        print(f"tracecar demo: {error}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # clean-up must finish
        processes.kill()
        topology.remove()
        _tidy(workdir, db, options, failed)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _tidy(workdir: Path, db: str, options: Options, failed: bool) -> None:
    if failed:
        print(f"tracecar demo: logs of the run are in {workdir}", file=sys.stderr)
        return
    keep = {Path(db)} if options.keep_db and not options.db else set()
    for path in workdir.iterdir():
        if path not in keep and not (keep and path.name.startswith("traces.db")):
            path.unlink()
    if not keep:
        workdir.rmdir()


async def _demo(options: Options, db: str, workdir: Path, processes: Processes) -> int:
    from proxy.demo.collecting import DemoCollector  # noqa: PLC0415 - grpc and aiohttp load here

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, task.cancel)
    network = topology.plan(SERVICES)
    taken = topology.subnet_taken()
    if taken:
        raise DemoError(f"{topology.SUBNET} is already used by {taken}; the demo needs it")
    topology.build(network)
    collector = DemoCollector(db, options.web_port)
    await collector.start()
    try:
        return await _shop(options, network, workdir, processes, collector)
    finally:
        await collector.stop()


async def _shop(
    options: Options, network: Plan, workdir: Path, processes: Processes, collector: DemoCollector
) -> int:
    from proxy.demo import report, shop  # noqa: PLC0415

    out = sys.stderr if options.json else sys.stdout
    print(_intro(collector.web_url), file=out, flush=True)
    await shop.start(network, workdir, processes, collector.otlp_endpoint)
    tally = await shop.drive(network, options.duration, out)
    await shop.stop(processes)
    found = collector.findings()
    kept = collector.db_path if options.db or options.keep_db else ""
    result = report.Result(tally, found, collector.web_url, kept)
    if options.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(report.render(result, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    if options.serve and found.traces:
        await collector.serve_until_interrupted(out)
    return 0 if found.traces else 1


def _intro(web_url: str) -> str:
    return "\n".join(
        [
            "tracecar demo: a shop in network namespaces, each service with its own tracecar sidecar:",
            "  you -> frontend (HTTP) -> checkout (gRPC) -> inventory (HTTP) -> redis",
            f"  spans go to the embedded collector; traces at {web_url}",
        ]
    )
