"""OTLP decoding: any bytes or JSON in, a request or a DecodeError out; what is stored reads back."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from proxy.collector.decode import DecodeError, parse_request, span_from_otlp, spans_of, to_otlp
from proxy.collector.otlp_json import parse_json_request
from tests.collector.factory import span

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALARS = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | st.text(max_size=20)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_say_why(body: bytes) -> None:
    try:
        request = parse_request(body)
    except DecodeError:
        return
    spans_of(request)  # whatever parsed, converting it does not raise


@given(JSON)
def test_any_json_decodes_or_says_why(document: Any) -> None:
    try:
        request = parse_json_request(json.dumps(document).encode())
    except DecodeError:
        return
    spans_of(request)


@given(st.dictionaries(st.text(max_size=12), VALUES, max_size=6))
def test_stored_span_reads_back(attributes: dict[str, Any]) -> None:
    original = span("svc", "op", 1, 2)
    original.attributes.update(attributes)
    assert span_from_otlp(to_otlp(original), "svc", original.resource) == original


def test_json_and_protobuf_requests_agree() -> None:
    document = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7", "name": "GET",
            "kind": 2, "startTimeUnixNano": "1", "endTimeUnixNano": "3", "status": {"code": 2},
            "attributes": [{"key": "n", "value": {"intValue": "7"}},
                           {"key": "tags", "value": {"arrayValue": {"values": [{"boolValue": True}]}}}],
        }]}],
    }]}  # fmt: skip
    request = parse_json_request(json.dumps(document).encode())
    [from_json], rejected = spans_of(request)
    [from_protobuf], _ = spans_of(parse_request(request.SerializeToString()))
    assert rejected == 0 and from_json == from_protobuf
    assert from_json.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and from_json.service == "shop"
    assert from_json.attributes == {"n": 7, "tags": [True]} and from_json.is_error


def test_bad_json_says_what_is_wrong() -> None:
    bad_id = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}'
    deep = b"[" * 100_000 + b"]" * 100_000
    for body, message in ((b"{", "not JSON"), (b"[]", "an object"), (bad_id, "not hex"), (deep, "not JSON")):
        try:
            parse_json_request(body)
        except DecodeError as error:
            assert message in str(error)
        else:
            raise AssertionError(body)
