"""File descriptors: as many as the system allows, and a clear error when they run out.

Every proxied connection holds two descriptors (client and upstream), so the usual soft limit of 1024
caps a sidecar near 500 connections. At start the soft limit is raised to the hard one. When they do
run out, the event loop cannot accept: asyncio reports every failed accept (a flood) and uvloop drops
the connection silently (libuv's EMFILE trick). Either way the proxy says so once per interval, with
the numbers, and serves again as soon as descriptors free up.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
from typing import Any

from proxy.throttled_log import ThrottledLog

log = logging.getLogger("tracecar.proxy")
_log_exhausted = ThrottledLog(log, logging.ERROR)

NEARLY_EXHAUSTED = 0.9  # share of the limit in use at which the sweep counts descriptors exactly
_OUT_OF_RESOURCES = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as error:  # e.g. an infinite hard limit the kernel caps lower
            log.warning("could not raise the open-file limit from %d to %s: %s", soft, hard, error)
    return soft


def open_descriptors(limit: int) -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # listing takes a descriptor too: none left is the answer
        return limit


class DescriptorWatch:
    """Checked by the pool's sweep with the number of connections open: cheap until they approach
    the limit, then an exact count and, at the limit, the error line."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def check(self, connections: int) -> None:
        if connections < self.limit * NEARLY_EXHAUSTED / 2:  # two descriptors per proxied connection
            return
        in_use = open_descriptors(self.limit)
        if in_use >= self.limit * NEARLY_EXHAUSTED:
            exhausted(in_use, self.limit)


def is_exhaustion(error: BaseException) -> bool:
    """An error that says this process ran out of descriptors or buffers, not that a peer failed."""
    return isinstance(error, OSError) and error.errno in _OUT_OF_RESOURCES


def report_exhaustion() -> None:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    exhausted(open_descriptors(limit), limit)


def exhausted(in_use: int, limit: int) -> None:
    _log_exhausted(
        "out of file descriptors (%d of %d in use): new connections are dropped until some close; "
        "raise the open-file limit (ulimit -n / the container runtime's nofile)",
        in_use,
        limit,
    )


def throttle_accept_errors(loop: asyncio.AbstractEventLoop, limit: int) -> None:
    """Route asyncio's per-accept "out of system resource" reports to the throttled error line."""
    default = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and is_exhaustion(error):
            exhausted(open_descriptors(limit), limit)
        elif default is not None:
            default(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
