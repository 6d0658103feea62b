"""A profile's samples put in parts a reader can weigh, and each failed speed goal taken apart."""

from __future__ import annotations

import pytest

from loadtests import cost_split
from loadtests.cost_split import part_of, per_request, split
from loadtests.gaps import section
from loadtests.goals import CPU, LATENCY, THROUGHPUT, Verdict
from loadtests.measurement import Measurement
from loadtests.native_profile import fold
from loadtests.profiles import Profile
from tests.compare.test_native_profile import SAMPLES


@pytest.mark.parametrize(
    ("stack", "part"),
    [
        ("forwarder.Upstream.send;syscall write;softirq;(kernel tcp_v4_rcv)", cost_split.KERNEL_SEND),
        ("forwarder.Upstream.data_received;syscall read;(kernel tcp_recvmsg)", cost_split.KERNEL_RECEIVE),
        ("syscall epoll_pwait;scheduler;(kernel finish_task_switch.isra.0)", cost_split.KERNEL_WAIT),
        ("(kernel asm_exc_page_fault)", cost_split.KERNEL_OTHER),
        ("syscall getsockopt;(kernel _copy_to_user)", cost_split.KERNEL_OTHER),
        ("forwarder.Downstream._finish_exchange;worker.finished_exchange_recorder_obj.__call__;"
         "otlp.Encoder.span;(CPython runtime)", cost_split.SPANS),
        ("forwarder.Downstream._start_request;propagators.Propagators.hop;ids.new_span_id;(CPython runtime)",
         cost_split.CONTEXT),
        ("forwarder.Downstream._start_request;head.parse_request;head._fields;(CPython runtime)",
         cost_split.REQUEST_HEAD),
        ("forwarder.Upstream._advance;head.parse_response;(libc memmove)", cost_split.RESPONSE_HEAD),
        ("forwarder.Downstream.write;(uvloop)", cost_split.EVENT_LOOP),
        ("(uvloop)", cost_split.EVENT_LOOP),
        ("forwarder.Downstream._advance;pool.Pool.acquire;(CPython runtime)", cost_split.DATA_PATH),
        ("(CPython runtime)", cost_split.INTERPRETED),
        ("(nginx)", cost_split.OTHER_USER),
        ("(libc malloc)", cost_split.OTHER_USER),
    ],
)  # fmt: skip
def test_each_sample_has_one_part_the_kernel_first(stack: str, part: str) -> None:
    assert part_of(stack.split(";")) == part


def test_shares_of_all_samples_and_microseconds_per_request() -> None:
    collapsed = (
        "syscall write;(kernel x) 30\nhead.parse_request;(CPython runtime) 10\n(uvloop) 10\nbad line\n"
    )
    shares = split(collapsed)
    assert shares == [
        (cost_split.KERNEL_SEND, 0.6),
        (cost_split.REQUEST_HEAD, 0.2),
        (cost_split.EVENT_LOOP, 0.2),
    ]
    parts = per_request(shares, 50.0)
    assert parts == {cost_split.KERNEL_SEND: 30.0, cost_split.REQUEST_HEAD: 10.0, cost_split.EVENT_LOOP: 10.0}
    assert cost_split.kernel_us(parts) == 30.0
    assert split("") == []


def test_real_samples_split_into_the_send_and_the_data_path() -> None:
    parts = dict(split(fold(SAMPLES.read_text())))
    assert sum(parts.values()) == pytest.approx(1.0)
    assert cost_split.KERNEL_SEND in parts and cost_split.SPANS in parts


def _row(config: str, scenario: str, rate: float, cpu_s: float | None, p50: float) -> Measurement:
    return Measurement(
        config, scenario, requests=int(rate * 10), seconds=10.0, rate=rate, proxy_cpu_s=cpu_s,
        latency_ms={"p50": p50, "p99": p50 * 2},
    )  # fmt: skip


def _rows() -> list[Measurement]:
    return [
        _row("direct", "rate-1000", 1000, None, 0.2),
        _row("tracecar-1", "rate-1000", 1000, 1.0, 0.5),  # 100 us per request
        _row("nginx", "rate-1000", 1000, 0.4, 0.3),  # 40 us
        _row("tracecar-1", "h1-1k", 16_000, 9.6, 2.0),  # 60 us per request, 0.96 CPUs
        _row("nginx", "h1-1k", 60_000, 8.4, 0.5),  # 14 us
    ]


def _profile(config: str, scenario: str, shares: list[tuple[str, float]]) -> Profile:
    return Profile("perf", f"Native profile: `{scenario}`", None, 100, [], config, scenario, shares)


OURS = [(cost_split.KERNEL_SEND, 0.3), (cost_split.SPANS, 0.2), (cost_split.DATA_PATH, 0.5)]
PEER = [(cost_split.KERNEL_SEND, 0.5), (cost_split.OTHER_USER, 0.5)]
PROFILES = [
    _profile("tracecar-1", "rate-1000", OURS),
    _profile("nginx", "rate-1000", PEER),
    _profile("tracecar-1", "h1-1k", OURS),
]


def test_a_failed_cpu_goal_is_taken_apart_against_the_peer() -> None:
    text = "\n".join(section(_rows(), [Verdict(CPU, "60 us", "100 us/request", False)], PROFILES))
    assert text.startswith("## What stands in the way")
    assert f"### {CPU}: 100 us/request" in text
    assert f"| {cost_split.DATA_PATH} | 50.0 | 0.0 |" in text
    assert f"| {cost_split.KERNEL_SEND} | 30.0 | 20.0 |" in text
    assert "| kernel, all parts | 30.0 | 20.0 |" in text
    assert "| user space, all parts | 70.0 | 20.0 |" in text
    assert "| measured CPU per request | 100.0 | 40.0 |" in text
    # 60 - 30 us of kernel leaves 30 us for tracecar's own 70
    assert "fall from 70.0 to 30.0 us per request: 43% of today's" in text


def test_a_failed_throughput_goal_says_the_budget_one_cpu_allows() -> None:
    text = "\n".join(section(_rows(), [Verdict(THROUGHPUT, "50 %", "27 %", False)], PROFILES))
    assert "at 16,000 req/s it kept 0.96 CPUs busy (60 us per request)" in text
    assert "50 % of nginx is 30,000 req/s, which one CPU serves at 33 us per request or less" in text
    assert "| nginx us/request |" in text and "| kernel, all parts | 18.0 |  |" in text  # no nginx profile


def test_a_failed_latency_goal_weighs_the_on_path_work() -> None:
    text = "\n".join(section(_rows(), [Verdict(LATENCY, "0.2 ms", "+0.3 ms", False)], PROFILES))
    assert "tracecar adds +0.30 ms at p50; nginx, behind the same redirection" in text
    assert "adds +0.10 ms" in text
    # user space 70 us, of which span recording 20 us runs after the response
    assert (
        "tracecar spends 50 us of user-space CPU per request at this rate (span recording, 20 us more" in text
    )
    assert "shorter by about 100 us (between 0 and 200 us, hey's resolution allowing)" in text


def test_nothing_to_explain_without_a_failed_speed_goal_and_a_missing_profile_is_said() -> None:
    passed = [Verdict(CPU, "60 us", "50 us", True), Verdict("gRPC unary", "50 %", "40 %", False)]
    assert section(_rows(), passed, PROFILES) == []
    text = "\n".join(section(_rows(), [Verdict(CPU, "60 us", "100 us", False)], []))
    assert "No native profile of tracecar-1 under `rate-1000` in this run" in text
