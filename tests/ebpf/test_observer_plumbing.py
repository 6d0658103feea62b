"""Payload from the kernel reaches the observers registered with `proxy.observers`, in order.

The fallback runs in this test process (bpftrace for real), filtered to one pod's network
namespace, where redis-cli talks to redis-server. The observer here is a real one that records what
it is given; the Redis parser plugs in the same way.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from propagation.sampling import AlwaysOn
from proxy.ebpf.policy import Policy
from proxy.ebpf.runner import EbpfConfig, make_runner
from proxy.interception.rules import InterceptionConfig
from proxy.metrics import Registry
from proxy.spans.record import SpanRecord
from tests.ebpf.recording_observer import RecordingObserver, recording
from tests.netns import Pod, Topology

pytestmark = pytest.mark.netns
SET = b"*3\r\n$3\r\nSET\r\n$5\r\ncolor\r\n$4\r\nblue\r\n"
GET = b"*2\r\n$3\r\nGET\r\n$5\r\ncolor\r\n"
# A Python client on one connection, each reply read whole before the next command.
CLIENT = f"""
import socket
with socket.create_connection(("127.0.0.1", 6379)) as connection:
    connection.sendall({SET!r})
    assert connection.recv(100) == b"+OK\\r\\n"
    connection.sendall({GET!r})
    assert connection.recv(100) == b"$4\\r\\nblue\\r\\n"
"""


async def observe(pod: Pod, spans: list[SpanRecord]) -> tuple[str, list[RecordingObserver]]:
    netns = os.stat(f"/run/netns/{pod.name}").st_ino
    config = EbpfConfig(Policy(InterceptionConfig(), "none", netns), payload_ports=(6379,))
    runner = make_runner(config, spans.append, AlwaysOn(), Registry())
    assert await runner.start()
    follow = asyncio.ensure_future(runner.follow())
    try:
        deadline = time.monotonic() + 60
        while runner.reason != "running":
            assert time.monotonic() < deadline and not follow.done(), f"fallback {runner.reason}"
            await asyncio.sleep(0.1)
        with recording(b"*") as made:
            await asyncio.to_thread(pod.run, sys.executable, "-c", CLIENT)
            while not spans and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        return runner.reason, made
    finally:
        follow.cancel()
        await runner.close()


def test_client_and_server_bytes_reach_the_registered_observer_in_order() -> None:
    spans: list[SpanRecord] = []
    with Topology() as topology:
        pod = topology.pod("redis")
        pod.spawn("redis-server", "--port", "6379", "--save", "")
        deadline = time.monotonic() + 10
        while "PONG" not in pod.run("redis-cli", "-p", "6379", "ping", check=False).stdout:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        reason, made = asyncio.run(observe(pod, spans))
    assert reason == "running"
    [observer] = made  # the client side; the server side of a connection within the pod is not reported
    assert observer.first == SET
    assert observer.seen == [
        ("client", SET),
        ("server", b"+OK\r\n"),
        ("client", GET),
        ("server", b"$4\r\nblue\r\n"),
    ]
    assert observer.stream.direction == "outbound" and observer.stream.server == ("127.0.0.1", 6379)
    assert observer.closed_at > 0
    [span] = spans
    attributes = dict(span.attributes)
    assert attributes["tracecar.tcp.bytes_from_client"] == len(SET + GET)
    assert attributes["tracecar.tcp.bytes_from_server"] == len(b"+OK\r\n$4\r\nblue\r\n")
