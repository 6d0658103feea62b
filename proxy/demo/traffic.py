"""The shop's customers: a fixed mix of orders sent to the frontend for a few seconds, with progress.

Most orders succeed; `poster` is always out of stock (a 503 after an error deep in the chain) and
`unicorn` is not sold at all (404). The mix is a fixed cycle, so every run has all three kinds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

import aiohttp

STOCK = {"book": 1_000_000, "mug": 1_000_000, "tshirt": 1_000_000, "poster": 0}
UNKNOWN_ITEM = "unicorn"
MIX = ("book", "mug", "tshirt", "book", "poster", "mug", "book", UNKNOWN_ITEM, "tshirt", "mug")
# One customer at a time: inventory then serves one request at a time, the case in which its sidecar
# can tell which request a Redis command belongs to. About a hundred orders a second is plenty.
CONCURRENCY = 1
REQUEST_TIMEOUT_S = 10.0
BAR_WIDTH = 30


@dataclass
class Tally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  # 0: no answer (connection error, timeout)

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    @property
    def failed(self) -> int:
        """Answered with an error, or not at all (requests still in flight are neither)."""
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)


def orders() -> Iterator[str]:
    """Request paths, endlessly, in the mix's order."""
    for item in itertools.cycle(MIX):
        yield f"/buy/{item}?qty=1"


def progress_line(elapsed: float, duration: float, tally: Tally) -> str:
    done = min(1.0, elapsed / duration) if duration > 0 else 1.0
    filled = round(done * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"[{bar}] {elapsed:4.1f}/{duration:.0f} s  {tally.sent} requests, {tally.failed} failed"


class Progress:
    """A redrawn bar on a terminal; a line a second otherwise (logs, CI)."""

    def __init__(self, out: TextIO, duration: float) -> None:
        self.out, self.duration = out, duration
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.last_second = -1
        self.last_line = ""

    def update(self, tally: Tally, final: bool = False) -> None:
        elapsed = time.monotonic() - self.started
        line = progress_line(min(elapsed, self.duration), self.duration, tally)
        if self.tty:
            self.out.write("\r" + line + ("\n" if final else ""))
        elif (final and line != self.last_line) or int(elapsed) > self.last_second:
            self.last_second, self.last_line = int(elapsed), line
            self.out.write(line + "\n")
        self.out.flush()


async def drive(base_url: str, duration: float, on_progress: Callable[[Tally], None]) -> Tally:
    """Send the mix to `base_url` from CONCURRENCY clients for `duration` seconds."""
    tally = Tally()
    paths = orders()
    deadline = time.monotonic() + duration
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def customer() -> None:
            while time.monotonic() < deadline:
                tally.sent += 1
                tally.statuses[await _order(session, base_url + next(paths))] += 1

        async def report() -> None:
            while True:
                on_progress(tally)
                await asyncio.sleep(0.1)

        reporter = asyncio.create_task(report())
        try:
            await asyncio.gather(*(customer() for _ in range(CONCURRENCY)))
        finally:
            reporter.cancel()
    return tally


async def _order(session: aiohttp.ClientSession, url: str) -> int:
    try:
        async with session.get(url) as answer:
            await answer.read()
            return answer.status
    except (TimeoutError, aiohttp.ClientError):
        return 0
