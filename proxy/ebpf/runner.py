"""Run bpftrace and feed its events to the tracker: the only I/O of the eBPF fallback.

bpftrace runs under a small root shell in a private mount namespace (`unshare -m`), which mounts
tracefs there if the host has not, checks the tracepoints exist, and restarts bpftrace with backoff
when it exits. The shell is started before the proxy drops its privileges and dies with it
(parent-death signal), so an unprivileged proxy still has a privileged fallback.

When the fallback cannot run (no root, no bpftrace, no tracepoints) the proxy carries on: the
reason is logged once and shown on /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from propagation import Sampler
from proxy.ebpf import metrics as states
from proxy.ebpf.events import EventError, Exited, Ready, parse
from proxy.ebpf.metrics import EbpfMetrics
from proxy.ebpf.policy import Policy
from proxy.ebpf.program import ENVIRONMENT, Filter, script
from proxy.ebpf.tracker import Tracker
from proxy.metrics import Registry
from proxy.spans.record import SpanRecord
from proxy.throttled_log import ThrottledLog

log = logging.getLogger("tracecar.ebpf")

TRACEPOINTS = (
    "sock/inet_sock_set_state",
    "sock/sock_send_length",
    "sock/sock_recv_length",
    "tcp/tcp_receive_reset",
    "tcp/tcp_send_reset",
    "syscalls/sys_enter_read",
)
NO_TRACEPOINTS_EXIT = 3
MAX_BACKOFF_S = 30
STDERR_LINES = 20  # the end of bpftrace's complaints, for the reason it stopped
LINE_LIMIT = 1 << 20
DEFAULT_PAYLOAD_PORTS = (6379, 5432)  # Redis, PostgreSQL: the protocols proxy.observers parses

# $1: the bpftrace program. Runs as root in its own mount namespace.
WRAPPER = f"""
tracing=/sys/kernel/tracing
if [ ! -d $tracing/events ]; then
  mount -t tracefs nodev $tracing 2>/dev/null || {{
    echo "tracefs is not mounted at $tracing and cannot be mounted" >&2; exit {NO_TRACEPOINTS_EXIT}; }}
fi
for point in {" ".join(TRACEPOINTS)}; do
  [ -d $tracing/events/$point ] || {{
    echo "the kernel has no tracepoint $point" >&2; exit {NO_TRACEPOINTS_EXIT}; }}
done
delay=1
while :; do
  setpriv --pdeathsig TERM bpftrace -f json -e "$1"
  echo "{{\\"type\\":\\"exited\\",\\"data\\":{{\\"code\\":$?}}}}"
  sleep $delay
  [ $delay -lt {MAX_BACKOFF_S} ] && delay=$((delay * 2))
done
"""


def unavailable(euid: int, status: str, bpftrace: str | None) -> tuple[str, str] | None:
    """(reason, message) when the fallback cannot run here; `status` is /proc/self/status."""
    if bpftrace is None:
        return states.NO_BPFTRACE, "bpftrace is not installed (Debian package bpftrace)"
    capabilities = _effective_capabilities(status)
    if euid != 0 or not capabilities >> CAP_SYS_ADMIN & 1:
        return states.NOT_PRIVILEGED, "it needs root with CAP_SYS_ADMIN to load eBPF programs"
    return None


CAP_SYS_ADMIN = 21


def _effective_capabilities(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


class Runner:
    def __init__(self, program: str, tracker: Tracker, metrics: EbpfMetrics | None = None) -> None:
        self.program = program
        self.tracker = tracker
        self.metrics = metrics
        self.reason = states.STARTING
        self.process: asyncio.subprocess.Process | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._invalid = ThrottledLog(log, logging.ERROR)
        if metrics is not None:
            metrics.watch(tracker.counts)

    async def start(self) -> bool:
        """Start bpftrace (call it while still privileged); False when the fallback cannot run."""
        with open("/proc/self/status") as file:
            status = file.read()
        bpftrace = shutil.which("bpftrace")
        problem = unavailable(os.geteuid(), status, bpftrace)
        if problem is not None:
            self._set(*problem)
            return False
        self.process = await asyncio.create_subprocess_exec(
            # The parent-death signal ends the wrapper when this process exits, whatever uid it
            # runs as by then.
            "setpriv", "--pdeathsig", "KILL", "unshare", "-m", "sh", "-c", WRAPPER, "tracecar-ebpf",
            self.program,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**_environment(os.environ), **ENVIRONMENT},
            limit=LINE_LIMIT,
        )  # fmt: skip
        return True

    async def follow(self) -> None:
        """Read events until bpftrace's wrapper exits (or the task is cancelled)."""
        process = self.process
        if process is None or process.stdout is None or process.stderr is None:
            return
        stderr = asyncio.ensure_future(self._read_stderr(process.stderr))
        try:
            async for line in process.stdout:
                self._line(line.decode(errors="replace"))
            code = await process.wait()
            await stderr
            reason = states.NO_TRACEPOINTS if code == NO_TRACEPOINTS_EXIT else states.FAILED
            self._set(reason, self._last_words() or f"its wrapper exited with status {code}")
        finally:
            stderr.cancel()
            self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            # After the proxy dropped its privileges it may not signal root: the parent-death
            # signal ends the wrapper when this process exits.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.process.terminate()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop bpftrace and wait for it (where this process may still signal it)."""
        self.stop()
        if self.process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), timeout_s)

    def _line(self, line: str) -> None:
        try:
            event = parse(line)
        except EventError as error:
            if self.metrics is not None:
                self.metrics.invalid.inc()
            self._invalid("ebpf: %s", error)
            return
        if isinstance(event, Ready):
            self._stderr.clear()
            self._set(states.ON, "")
        elif isinstance(event, Exited):
            if self.metrics is not None:
                self.metrics.restarts.inc()
            self._set(states.FAILED, self._last_words() or f"bpftrace exited with status {event.code}")
        elif event is not None:
            self.tracker.handle(event)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            text = line.decode(errors="replace").strip()
            # bpftrace 0.17 warns about RLIMIT_MEMLOCK even where the kernel does not need it.
            if text and "RLIMIT_MEMLOCK" not in text and "WARNING" not in text:
                self._stderr.append(text)

    def _last_words(self) -> str:
        errors = [line for line in self._stderr if "ERROR" in line or "error" in line]
        return (errors or list(self._stderr) or [""])[-1]

    def _set(self, reason: str, message: str) -> None:
        """Log each change of state once: the operator reads why, not a line per retry."""
        if reason == self.reason:
            return
        self.reason = reason
        if self.metrics is not None:
            self.metrics.set_state(reason)
        if reason == states.ON:
            log.info("ebpf fallback on: reporting connections the proxy does not see")
        elif reason != states.STARTING:
            log.warning("ebpf fallback off (%s): %s", reason, message)


def _environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in ("PATH", "LANG") if name in environ}


@dataclass(frozen=True)
class EbpfConfig:
    """What `tracecar proxy --ebpf` and `tracecar ebpf` ask of the fallback."""

    policy: Policy
    payload_ports: tuple[int, ...] = DEFAULT_PAYLOAD_PORTS


def make_runner(
    config: EbpfConfig, record: Callable[[SpanRecord], None], sampler: Sampler, registry: Registry
) -> Runner:
    policy = config.policy
    program = script(
        Filter(policy.netns, (policy.interception.proxy_uid,), policy.proxy_ports, config.payload_ports)
    )
    tracker = Tracker(policy, record, sampler, time.time_ns() - time.monotonic_ns())
    return Runner(program, tracker, EbpfMetrics(registry))


def current_netns() -> int:
    """This process's network namespace inode: the pod's, for a sidecar."""
    return os.stat("/proc/self/ns/net").st_ino
