"""The gRPC matrix through two sidecars behind real iptables: real grpcio, sync and grpc.aio.

    [mxa: this module's client | tracecar] --> [mxb: Echo gRPC :9090 | tracecar]
                     \\________ spans (OTLP gRPC / HTTP) ________/--> [mxcol]

The client runs once in pod A (`python -m` this module, see `run_client`), so each call leaves A by
A's sidecar and reaches B's application through B's sidecar. It covers unary, server, client and
bidirectional streaming (and a grpc.aio ping-pong), every status code with its details, a deadline,
a cancelled server stream, 16 MiB messages both ways, 1,000 concurrent RPCs on one grpc.aio channel,
and metadata and trailers (with non-UTF-8 `-bin` values) byte for byte. It prints one JSON object;
the tests assert on its parts, then on the spans both sidecars exported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest

from tests.e2e.test_two_pods import KIND_CLIENT, KIND_SERVER, ROOT, python, start_receiver, start_sidecars
from tests.h2.grpc_app import OPTIONS, Methods, methods
from tests.netns import Topology

pytestmark = pytest.mark.netns
Results = dict[str, Any]
Metadata = list[tuple[str, str | bytes]]

CODES = list(grpc.StatusCode)
CONCURRENT = 1000
LARGE = 16 << 20
SENT_METADATA: Metadata = [
    ("x-plain", "Value with  spaces, and ; odd = chars"),
    ("x-binary-bin", bytes(range(256))),  # 0x80..0xff: not UTF-8; base64 with padding
    ("x-short-bin", b"\xff\xfe\x00"),  # base64 without padding
    ("x-repeated", "one"),
    ("x-repeated", "two"),
]


# The client side: runs in pod A.


def attempt(check: Callable[..., Any], *args: Any) -> Any:
    """`check(*args)`, or what it raised: one failing check must not hide the others."""
    try:
        return check(*args)
    except Exception as error:  # reported to the test, which shows it
        return {"error": repr(error)}


def encode(pairs: Any) -> list[list[str]]:
    """The `x-` pairs of gRPC metadata as JSON: binary values as hex, so every byte compares."""
    return [[k, v if isinstance(v, str) else "hex:" + v.hex()] for k, v in pairs if k.startswith("x-")]


def check_calls(echo: Methods) -> Results:
    return {
        "unary": echo.unary(b"hello", timeout=10).decode(),
        "server_stream": [r.decode() for r in echo.server_stream(b"50", timeout=10)],
        "client_stream": echo.client_stream(iter([b"a", b"b", b"c"]), timeout=10).decode(),
        "bidi": [r.decode() for r in echo.bidi(iter([b"x%d" % i for i in range(20)]), timeout=10)],
    }


def check_statuses(echo: Methods) -> dict[str, list[str]]:
    """Status code name -> [the code the client got, the details or the reply]."""
    outcome = {}
    for code in CODES:
        try:
            got = ["OK", echo.status(b"%d" % code.value[0], timeout=10).decode()]
        except grpc.RpcError as error:
            got = [error.code().name, error.details() or ""]
        outcome[code.name] = got
    return outcome


def check_deadline(echo: Methods) -> Results:
    try:
        code = "OK: " + echo.sleep(b"1", timeout=0.3).decode()
    except grpc.RpcError as error:
        code = error.code().name
    return {"code": code, "after": echo.unary(b"after", timeout=10).decode()}


def check_cancel(channel: grpc.Channel, echo: Methods) -> Results:
    """64 messages of 1 MiB asked for: flow control holds the server back while the client cancels."""
    download: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream("/demo.Echo/Download")
    call = download(b"64", timeout=30)
    first = next(call)
    call.cancel()
    return {
        "first": len(first),
        "code": call.code().name,
        "after": [r.decode() for r in echo.server_stream(b"5", timeout=10)],
    }


def check_large(echo: Methods) -> Results:
    message = os.urandom(LARGE)
    reply = echo.unary(message, timeout=30)
    sha = hashlib.sha256
    return {"sent": sha(message).hexdigest(), "received": sha(reply).hexdigest(), "length": len(reply)}


def check_metadata(echo: Methods) -> Results:
    reply, call = echo.metadata.with_call(b"m", metadata=tuple(SENT_METADATA), timeout=10)
    return {
        "reply": reply.decode(),
        "initial": encode(call.initial_metadata()),
        "trailing": encode(call.trailing_metadata()),
    }


async def check_aio(target: str) -> Results:
    async with grpc.aio.insecure_channel(target, options=OPTIONS) as channel:
        unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/demo.Echo/Unary")
        # The burst keeps A's sidecar busy, so its preface may reach B's sidecar more than the
        # server-first wait after connecting; the gRPC server's SETTINGS, already there, must not
        # make that connection opaque (test_b_sidecar_recorded_server_spans... counts the spans).
        sent = [b"c%d" % i for i in range(CONCURRENT)]
        got = await asyncio.gather(*(unary(m, timeout=30) for m in sent), return_exceptions=True)
        return {
            "matching": sum(reply == m for reply, m in zip(got, sent, strict=True)),
            "failures": sorted({repr(r)[:300] for r in got if isinstance(r, BaseException)})[:3],
            "pingpong": await ping_pong(channel),
        }


async def ping_pong(channel: grpc.aio.Channel) -> Results:
    """Each reply read before the next request is written: no hop may hold a message back."""
    bidi: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream("/demo.Echo/Bidi")
    call = bidi(timeout=10)
    replies = []
    for i in range(5):
        await call.write(b"p%d" % i)
        replies.append(await call.read())
    await call.done_writing()
    return {
        "replies": [r.decode() if isinstance(r, bytes) else repr(r) for r in replies],
        "end_of_stream": await call.read() is grpc.aio.EOF,
        "code": (await call.code()).name,
    }


def run_client(target: str) -> Results:
    with grpc.insecure_channel(target, options=OPTIONS) as channel:
        echo = methods(channel)
        results = {
            "calls": attempt(check_calls, echo),
            "statuses": attempt(check_statuses, echo),
            "deadline": attempt(check_deadline, echo),
            "cancel": attempt(check_cancel, channel, echo),
            "large": attempt(check_large, echo),
            "metadata": attempt(check_metadata, echo),
            "aio": attempt(lambda: asyncio.run(check_aio(target))),
        }
        results["final"] = attempt(lambda: echo.unary(b"final", timeout=10).decode())
    return results


# The test side.


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with Topology() as topology:
        a, b, collector = (topology.pod(role) for role in ("mxa", "mxb", "mxcol"))
        a_to_b, a_col, b_col = (topology.link(*ends) for ends in ((a, b), (a, collector), (b, collector)))
        spans_file = tmp_path_factory.mktemp("otlp") / "spans.json"
        ports = start_receiver(collector, spans_file)
        app = b.spawn(*python("-m", "tests.h2.grpc_app", "9090"))
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        sidecars = start_sidecars((a, a_col), (b, b_col), ports)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        client = a.run(*python("-m", __name__, f"{a_to_b.b.address(4)}:9090"), env=env, timeout=60)
        yield {"results": json.loads(client.stdout), "spans": spans_file, "sidecars": sidecars}


def test_unary_and_streaming_in_every_direction(matrix: dict[str, Any]) -> None:
    assert matrix["results"]["calls"] == {
        "unary": "hello",
        "server_stream": [str(i) for i in range(50)],
        "client_stream": "a|b|c",
        "bidi": [f"x{i}" for i in range(20)],
    }
    assert matrix["results"]["aio"]["pingpong"] == {
        "replies": [f"p{i}" for i in range(5)],
        "end_of_stream": True,
        "code": "OK",
    }


@pytest.mark.parametrize("code", CODES, ids=lambda code: code.name)
def test_every_status_code_and_its_details_reach_the_client(
    matrix: dict[str, Any], code: grpc.StatusCode
) -> None:
    expected = ["OK", "ok"] if code == grpc.StatusCode.OK else [code.name, f"asked for {code.name}"]
    assert matrix["results"]["statuses"][code.name] == expected


def test_deadline_exceeded_then_the_sidecars_keep_serving(matrix: dict[str, Any]) -> None:
    assert matrix["results"]["deadline"] == {"code": "DEADLINE_EXCEEDED", "after": "after"}


def test_a_cancelled_server_stream_then_a_normal_call(matrix: dict[str, Any]) -> None:
    assert matrix["results"]["cancel"] == {
        "first": 1 << 20,
        "code": "CANCELLED",
        "after": [str(i) for i in range(5)],
    }


def test_16_mib_messages_both_ways_arrive_intact(matrix: dict[str, Any]) -> None:
    large = matrix["results"]["large"]
    assert large["length"] == LARGE, large
    assert large["received"] == large["sent"]


def test_a_thousand_concurrent_rpcs_on_one_aio_channel(matrix: dict[str, Any]) -> None:
    aio = matrix["results"]["aio"]
    assert (aio["matching"], aio["failures"]) == (CONCURRENT, [])


def test_metadata_and_trailers_byte_for_byte(matrix: dict[str, Any]) -> None:
    assert matrix["results"]["metadata"] == {
        "reply": "m",
        "initial": encode(SENT_METADATA),
        "trailing": encode(SENT_METADATA),
    }


def recorded(matrix: dict[str, Any], service: str, kind: int) -> Counter[tuple[str, int]]:
    """(rpc.method, rpc.grpc.status_code) -> how many spans `service` exported of `kind`."""
    spans = json.loads(matrix["spans"].read_text()) if matrix["spans"].exists() else []
    return Counter(
        (s["attributes"].get("rpc.method"), s["attributes"].get("rpc.grpc.status_code"))
        for s in spans
        if s["service"] == service and s["kind"] == kind
    )


def wait_for_spans(
    matrix: dict[str, Any], service: str, kind: int, ready: Callable[[Counter[tuple[str, int]]], bool]
) -> Counter[tuple[str, int]]:
    """What `service` recorded, once `ready` says it is all there, or at 15 s."""
    deadline = time.monotonic() + 15
    while True:
        seen = recorded(matrix, service, kind)
        if ready(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def completed_calls() -> Counter[tuple[str, int]]:
    """(rpc.method, rpc.grpc.status_code) of the calls that ran to their end, and how many."""
    calls = Counter({("Status", code.value[0]): 1 for code in CODES})
    calls.update({("ServerStream", 0): 2, ("ClientStream", 0): 1, ("Bidi", 0): 2, ("Metadata", 0): 1})
    calls[("Unary", 0)] = CONCURRENT + 4  # and hello, after, 16 MiB, final
    return calls


def test_b_sidecar_recorded_server_spans_with_methods_and_statuses(matrix: dict[str, Any]) -> None:
    expected = completed_calls()
    expected[("Download", 1)] = 1  # cancelled by the client, passed on by A's sidecar as a reset
    seen = wait_for_spans(matrix, "back", KIND_SERVER, lambda seen: not expected - seen)
    assert not expected - seen, f"missing {expected - seen}; seen {seen.most_common(40)}"


def test_a_sidecar_recorded_client_spans_and_the_cancellations(matrix: dict[str, Any]) -> None:
    expected = completed_calls()
    expected[("Download", 1)] = 1  # this client cancelled it: CANCELLED

    def deadline_ended(seen: Counter[tuple[str, int]]) -> bool:
        # By the client's cancel (CANCELLED), or by the server's own status if that wins the race.
        return seen[("Sleep", 1)] + seen[("Sleep", 4)] == 1

    seen = wait_for_spans(
        matrix, "front", KIND_CLIENT, lambda seen: not expected - seen and deadline_ended(seen)
    )
    assert not expected - seen, f"missing {expected - seen}; seen {seen.most_common(40)}"
    assert deadline_ended(seen), seen


def test_both_sidecars_still_run(matrix: dict[str, Any]) -> None:
    assert matrix["results"]["final"] == "final"
    assert [sidecar.poll() for sidecar in matrix["sidecars"]] == [None, None]


if __name__ == "__main__":
    print(json.dumps(run_client(sys.argv[1])))
