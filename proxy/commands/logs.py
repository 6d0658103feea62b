"""The log format of the long-running commands (`proxy`, `ebpf`): one line per record on stderr."""

from __future__ import annotations

import logging
import sys


def setup(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
