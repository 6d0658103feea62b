"""Random trace and span ids, never all zero (Trace Context #trace-id, #parent-id).

Ids are carried as lower-case hex bytes (32 and 16 characters), the form they have on the wire:
the hot path copies them from one header into the next without converting; only the span
exporter, off the hot path, turns them into the raw bytes OTLP wants.
"""

from __future__ import annotations

import os
import random
from binascii import b2a_hex

ZERO_TRACE_ID = b"0" * 32
ZERO_SPAN_ID = b"0" * 16

# One private generator seeded from the OS: far cheaper than os.urandom per id, and ids need to be
# unique, not secret. Reseeded after fork so --workers processes never share a stream.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)
_getrandbits = _rng.getrandbits


# b2a_hex of the value's bytes: half the time of b"%032x" % value, and zero-padded by the length.


def new_trace_id() -> bytes:
    while True:
        value = _getrandbits(128)
        if value:
            return b2a_hex(value.to_bytes(16, "big"))


def new_span_id() -> bytes:
    while True:
        value = _getrandbits(64)
        if value:
            return b2a_hex(value.to_bytes(8, "big"))
