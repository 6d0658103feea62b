"""`--workers N`: N forked worker processes sharing the listening ports through SO_REUSEPORT.

The parent only supervises: it restarts a worker that dies unexpectedly (slowing down if one keeps
dying) and passes SIGTERM/SIGINT on, then waits for every worker to drain. DRAIN_SIGNAL (the admin
worker's /drain) it passes on too, without stopping. A worker whose supervisor dies gets SIGTERM from
the kernel, and drains.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

from proxy.parent_death import die_with_parent

log = logging.getLogger("tracecar.supervisor")

RESTART_BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 5.0)
DRAIN_SIGNAL = signal.SIGUSR2  # "drain, but do not exit": the admin worker's /drain, passed on
STABLE_AFTER_S = 30.0  # a worker that lived this long resets the backoff


def supervise(workers: int, work: Callable[[int], int]) -> int:
    """Run `work(index)` in `workers` processes; a restarted worker keeps its index."""
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, start time)
    stopping: list[int] = []  # the signal received, once one is
    failures = 0

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum != DRAIN_SIGNAL:
            stopping.append(signum)
        signal_all(list(children), signum)

    for signum in (signal.SIGTERM, signal.SIGINT, DRAIN_SIGNAL):
        signal.signal(signum, forward)
    for index in range(workers):
        children[_start(work, index)] = (index, time.monotonic())
    while children:
        pid, status = os.wait()
        child = children.pop(pid, None)
        if child is None or stopping:
            continue
        index, started = child
        failures = 0 if time.monotonic() - started > STABLE_AFTER_S else failures + 1
        log.error("worker %d (pid %d) exited (%s); restarting", index, pid, _describe(status))
        time.sleep(RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)])
        children[_start(work, index)] = (index, time.monotonic())
    return 0


def signal_all(pids: list[int], signum: int) -> None:
    """Signal each process still there. A worker reaped by `os.wait` is still in `children` until the
    loop pops it; a signal landing in between (SIGTERM from a worker's own exit, during a stop) once
    raised ProcessLookupError out of the handler and ended the supervisor with a traceback."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _start(work: Callable[[int], int], index: int) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(DRAIN_SIGNAL, signal.SIG_IGN)  # until the worker's loop handles it: never fatal
        code = 1
        try:
            die_with_parent(parent)  # after the handlers: the supervisor's would signal the siblings
            code = work(index)
        finally:
            os._exit(code)
    return pid


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
