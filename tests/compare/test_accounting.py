"""/proc parsing for proxy CPU and memory, the py-spy hot-function table, and the gRPC client's summary."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from loadtests.measurement import Measurement
from loadtests.proc_accounting import (
    cpu_ticks,
    process_cpu_s,
    real_uid,
    run_ns,
    status_field_kib,
)
from loadtests.profiles import top_functions
from loadtests.scenarios import BY_NAME, parse_grpc_load
from loadtests.tool_output import ToolOutputError

STAT = "4242 (tracecar (w) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 1500 250 0 0 20 0 3 0 100 0 0"
STATUS = "Name:\tpython3\nUid:\t1337\t1337\t1337\t1337\nVmHWM:\t   40960 kB\nVmRSS:\t   30000 kB\n"


def test_cpu_ticks_survive_a_command_name_with_spaces_and_parentheses() -> None:
    assert cpu_ticks(STAT) == 1500 + 250


def test_cpu_ticks_of_this_process() -> None:
    assert cpu_ticks(Path(f"/proc/{os.getpid()}/stat").read_text()) >= 0


def test_run_time_is_the_first_schedstat_field_in_nanoseconds() -> None:
    assert run_ns("183462913 10804631 778\n") == 183_462_913


def test_cpu_seconds_of_this_process_count_every_live_thread() -> None:
    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    spun, release = threading.Event(), threading.Event()

    def busy_then_idle() -> None:
        spin(0.05)
        spun.set()
        release.wait(10)  # alive while measured: an ended thread's time leaves /proc with it

    before = process_cpu_s(os.getpid()) or 0.0
    worker = threading.Thread(target=busy_then_idle)
    worker.start()
    spin(0.05)
    assert spun.wait(10)
    used = (process_cpu_s(os.getpid()) or 0.0) - before
    release.set()
    worker.join(10)
    assert 0.1 <= used < 1.0  # both threads' 50 ms


def test_status_fields() -> None:
    assert status_field_kib(STATUS, "VmHWM") == 40960
    assert status_field_kib(STATUS, "VmSwap") is None
    assert real_uid(STATUS) == 1337


def test_cpu_per_request_and_per_thousand_requests_per_second() -> None:
    row = Measurement("tracecar-1", "rate-1000", requests=10_000, seconds=10.0, rate=1000.0, proxy_cpu_s=0.6)
    assert row.cpu_us_per_request == pytest.approx(60.0)
    assert row.vcpu_per_1k_rps == pytest.approx(0.06)
    assert Measurement("direct", "rate-1000").cpu_us_per_request is None
    assert row.to_json()["vcpu_per_1k_rps"] == pytest.approx(0.06)
    assert Measurement.from_json(row.to_json()) == row


def test_top_functions_from_collapsed_stacks() -> None:
    collapsed = (
        'process 7:"python -m proxy.cli";run (asyncio/runners.py);_run_once (asyncio/base_events.py);'
        "send (proxy/forwarder.py) 30\n"
        'process 7:"python -m proxy.cli";run (asyncio/runners.py);_run_once (asyncio/base_events.py) 50\n'
        "run (asyncio/runners.py);record (proxy/spans/pipeline.py) 20\n"
        "garbage line\n"
    )
    samples, top = top_functions(collapsed, limit=2)
    assert samples == 100
    assert [(h.function, h.self_share, h.total_share) for h in top] == [
        ("_run_once (asyncio/base_events.py)", 0.5, 0.8),
        ("send (proxy/forwarder.py)", 0.3, 0.3),
    ]
    assert top_functions("") == (0, [])


def test_grpc_client_summary() -> None:
    line = {
        "calls": 300,
        "seconds": 3.0,
        "bytes": 3000,
        "errors": 1,
        "first_error": "x",
        "latency_ms": {"p50": 1.5},
    }
    result = parse_grpc_load("grpc noise\n" + json.dumps(line) + "\n")
    assert (result.rate, result.errors, result.bytes_per_s) == (100.0, 1, 1000.0)
    line.update(calls=0, first_error="StatusCode.UNAVAILABLE")
    with pytest.raises(ToolOutputError, match="UNAVAILABLE"):
        parse_grpc_load(json.dumps(line))


def test_scenario_commands() -> None:
    assert BY_NAME["h1-1k"].command("10.0.0.2", 10) == [
        "wrk", "-t1", "-c32", "-d10s", "--latency", "http://10.0.0.2:8080/1k",
    ]  # fmt: skip
    hey = BY_NAME["rate-1000"].command("fd00::2", 5)
    workers, per_worker = int(hey[hey.index("-c") + 1]), int(hey[hey.index("-q") + 1])
    assert workers * per_worker == 1000 and hey[-1] == "http://[fd00::2]:8080/1k"
    spans = BY_NAME["spans-5000"].command("10.0.0.2", 60)
    assert int(spans[spans.index("-c") + 1]) * int(spans[spans.index("-q") + 1]) == 5000
