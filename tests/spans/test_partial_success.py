"""The pure reader of OTLP partial-success answers agrees with the protobuf message classes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from proxy.spans.partial_success import rejected


def answer(count: int, message: str) -> bytes:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = count
    response.partial_success.error_message = message
    return response.SerializeToString()


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1), st.text(max_size=300))
def test_reads_what_protobuf_writes(count: int, message: str) -> None:
    assert rejected(answer(count, message)) == (count, message)


def test_empty_unknown_fields_and_garbage() -> None:
    assert rejected(b"") == (0, "")
    unknown = b"\x10\x05" + b"\x19" + bytes(8) + b"\x25" + bytes(4)  # varint, fixed64 and fixed32 fields
    assert rejected(unknown + answer(3, "too old")) == (3, "too old")
    assert rejected(b"\x0a\x05\x08") == (0, "")  # a length past the end
    assert rejected(b"\xff" * 12) == (0, "")  # a varint that never ends
    assert rejected(b"\x0f") == (0, "")  # wire type 7 does not exist


@given(st.binary(max_size=64))
def test_any_bytes_give_an_answer(data: bytes) -> None:
    count, message = rejected(data)
    assert isinstance(count, int) and isinstance(message, str)
