"""Trace and span ids: random, the right size, never zero, distinct per worker process."""

from __future__ import annotations

import os
import re

import pytest

from propagation import ids
from propagation.ids import new_span_id, new_trace_id


def test_sizes_and_alphabet() -> None:
    """#trace-id / #parent-id: 16 and 8 bytes, written as lower-case hex."""
    for _ in range(1000):
        assert re.fullmatch(rb"[0-9a-f]{32}", new_trace_id())
        assert re.fullmatch(rb"[0-9a-f]{16}", new_span_id())


def test_never_zero_and_unique() -> None:
    """#trace-id: all zeros is invalid; ids are random enough never to repeat here."""
    traces = {new_trace_id() for _ in range(50_000)}
    spans = {new_span_id() for _ in range(50_000)}
    assert len(traces) == 50_000
    assert len(spans) == 50_000
    assert b"0" * 32 not in traces
    assert b"0" * 16 not in spans


def test_forked_workers_do_not_share_a_sequence() -> None:
    """--workers forks: each child is reseeded, so two workers never hand out the same ids."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_trace_id())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read, 64)
    os.close(read)
    os.close(write)
    assert child_id != new_trace_id()


def test_small_values_are_zero_padded_and_zero_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter([0, 5, 0, 0xABC])
    monkeypatch.setattr(ids, "_getrandbits", lambda bits: next(drawn))
    assert ids.new_trace_id() == b"0" * 31 + b"5"
    assert ids.new_span_id() == b"0" * 13 + b"abc"
