"""Log lines a client can trigger at will, at most once per interval, with a count of the rest.

A peer that opens thousands of bad connections must not be able to fill the disk or drown the
lines that matter.
"""

from __future__ import annotations

import logging
import time

DEFAULT_INTERVAL_S = 10.0


class ThrottledLog:
    def __init__(self, logger: logging.Logger, level: int, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.logger = logger
        self.level = level
        self.interval_s = interval_s
        self.next_at = 0.0
        self.suppressed = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self.next_at:
            self.suppressed += 1
            return
        if self.suppressed:
            message += f" ({self.suppressed} more like it in the last {self.interval_s:g} s)"
            self.suppressed = 0
        self.next_at = now + self.interval_s
        self.logger.log(self.level, message, *args)
