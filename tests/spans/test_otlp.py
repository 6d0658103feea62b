"""SpanRecords in, OTLP out: the message mapping, and the fast encoder writing exactly that message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from proxy.spans.otlp import Encoder
from proxy.spans.otlp_messages import build_request
from proxy.spans.record import (
    FLAGS_PARENT_LOCAL,
    KIND_CLIENT,
    KIND_SERVER,
    STATUS_ERROR,
    STATUS_OK,
    Attribute,
    SpanRecord,
)
from tests.spans.factory import END_NS, PARENT_ID, SPAN_ID, START_NS, TRACE_ID, server_span

RESOURCE: list[Attribute] = [("service.name", "checkout"), ("k8s.pod.name", "checkout-7d9f")]


def encoded(batch: list[SpanRecord], resource: list[Attribute] = RESOURCE) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(Encoder(resource, "tracecar", "1.2.3").encode(batch))


def only_span(request: ExportTraceServiceRequest) -> Span:
    [resource_spans] = request.resource_spans
    [scope_spans] = resource_spans.scope_spans
    [span] = scope_spans.spans
    return span


def test_server_span_fields() -> None:
    span = only_span(build_request([server_span()], RESOURCE, "tracecar", "1.2.3"))
    assert span.trace_id == bytes.fromhex(TRACE_ID.decode())
    assert span.span_id == bytes.fromhex(SPAN_ID.decode())
    assert span.parent_span_id == bytes.fromhex(PARENT_ID.decode())
    assert span.trace_state == "congo=t61rcWkgMzE"
    assert span.flags == 0x301
    assert span.kind == Span.SPAN_KIND_SERVER
    assert span.name == "GET /api/v1/orders/{id}"
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (START_NS, END_NS)
    assert not span.HasField("status")  # UNSET and no message: left out
    attributes = {kv.key: kv.value for kv in span.attributes}
    assert attributes["http.request.method"] == AnyValue(string_value="GET")
    assert attributes["server.port"] == AnyValue(int_value=8080)
    assert [kv.key for kv in span.attributes][:3] == ["http.request.method", "url.path", "url.scheme"]


def test_resource_and_scope() -> None:
    request = build_request([server_span()], RESOURCE, "tracecar", "1.2.3")
    [resource_spans] = request.resource_spans
    resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    assert resource == {"service.name": "checkout", "k8s.pod.name": "checkout-7d9f"}
    [scope_spans] = resource_spans.scope_spans
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("tracecar", "1.2.3")


def test_root_client_span_with_error_status() -> None:
    record = server_span(
        parent_span_id=None,
        trace_state=b"",
        flags=FLAGS_PARENT_LOCAL,
        kind=KIND_CLIENT,
        status=STATUS_ERROR,
        status_message="upstream reset",
    )
    span = only_span(build_request([record], RESOURCE, "tracecar", "1"))
    assert span.parent_span_id == b""
    assert span.trace_state == ""
    assert span.flags == 0x100  # not sampled, parent known to be local (there is none)
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert span.status == Status(code=Status.STATUS_CODE_ERROR, message="upstream reset")


def test_every_attribute_type() -> None:
    record = server_span(
        attributes=[("s", "é"), ("t", True), ("f", False), ("i", -5), ("d", 0.25), ("one", 1)]
    )
    values = {kv.key: kv.value for kv in only_span(encoded([record])).attributes}
    assert values == {
        "s": AnyValue(string_value="é"),
        "t": AnyValue(bool_value=True),
        "f": AnyValue(bool_value=False),
        "i": AnyValue(int_value=-5),
        "d": AnyValue(double_value=0.25),
        "one": AnyValue(int_value=1),
    }


def test_true_and_one_stay_distinct_across_spans() -> None:
    # True == 1 and 1 == 1.0 in Python: the encoder's cache must not hand one out for the other.
    batch = [server_span(attributes=[("x", value)]) for value in (True, 1, 1.0, "1")]
    kinds = [only_value.WhichOneof("value") for only_value in _values(encoded(batch), "x")]
    assert kinds == ["bool_value", "int_value", "double_value", "string_value"]


def _values(request: ExportTraceServiceRequest, key: str) -> list[AnyValue]:
    spans = request.resource_spans[0].scope_spans[0].spans
    return [kv.value for span in spans for kv in span.attributes if kv.key == key]


def test_encoder_writes_the_same_message_as_build_request() -> None:
    batch = [
        server_span(),
        server_span(span_id=b"00000000000000ff", kind=KIND_CLIENT, status=STATUS_OK),
        server_span(parent_span_id=None, trace_state=b"", status=STATUS_ERROR, status_message="boom"),
        server_span(name="", attributes=[]),
    ]
    assert encoded(batch) == build_request(batch, RESOURCE, "tracecar", "1.2.3")


def test_encoder_output_is_stable_across_batches() -> None:
    encoder = Encoder(RESOURCE, "tracecar", "1")
    batch = [server_span(), server_span(kind=KIND_SERVER, status=STATUS_OK)]
    assert encoder.encode(batch) == encoder.encode(batch)  # the second time from the cache


def test_attribute_cache_is_bounded_and_stays_correct() -> None:
    encoder = Encoder(RESOURCE, "tracecar", "1", cache_size=8)
    batch = [server_span(attributes=[("url.path", f"/item/{i}"), ("m", "GET")]) for i in range(100)]
    request = ExportTraceServiceRequest.FromString(encoder.encode(batch))
    assert request == build_request(batch, RESOURCE, "tracecar", "1")
    assert len(encoder._values) <= 8
    assert all(len(values) <= 8 for values in encoder._values.values())


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (server_span(trace_id=b"4bf92f35"), "trace_id"),
        (server_span(span_id=b"00f067aa0ba902bz"), "span_id"),
        (server_span(span_id=b"00f067aa0ba902b"), "span_id"),
        (server_span(parent_span_id=b"00f067aa0ba902b700"), "parent_span_id"),
        (server_span(attributes=[("big", 2**63)]), "big"),
        (server_span(attributes=[("bytes", b"x")]), "bytes"),  # type: ignore[list-item]
        (server_span(kind=-1), "negative"),
    ],
)
def test_malformed_record_raises_value_error(record: SpanRecord, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Encoder(RESOURCE, "tracecar", "1").encode([record])


def test_largest_and_smallest_int64_attributes() -> None:
    record = server_span(attributes=[("max", 2**63 - 1), ("min", -(2**63))])
    assert [v.int_value for v in (kv.value for kv in only_span(encoded([record])).attributes)] == [
        2**63 - 1,
        -(2**63),
    ]


hex_ids = st.binary(min_size=8, max_size=8).map(lambda raw: raw.hex().encode())
attribute_values = st.one_of(
    st.text(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
records = st.builds(
    SpanRecord,
    trace_id=st.binary(min_size=16, max_size=16).map(lambda raw: raw.hex().encode()),
    span_id=hex_ids,
    parent_span_id=st.none() | hex_ids,
    trace_state=st.text(alphabet="abcdefghij=,-*/0123456789", max_size=40).map(str.encode),
    flags=st.integers(min_value=0, max_value=0x3FF),
    kind=st.integers(min_value=0, max_value=5),
    name=st.text(max_size=300),
    start_ns=st.integers(min_value=0, max_value=2**64 - 1),
    end_ns=st.integers(min_value=0, max_value=2**64 - 1),
    attributes=st.lists(st.tuples(st.text(max_size=20), attribute_values), max_size=8),
    status=st.integers(min_value=0, max_value=2),
    status_message=st.text(max_size=20),
)


@given(st.lists(records, min_size=1, max_size=5), st.lists(st.tuples(st.text(), st.text()), max_size=4))
def test_encoder_matches_build_request_on_any_records(
    batch: list[SpanRecord], resource: list[Attribute]
) -> None:
    assert encoded(batch, resource) == build_request(batch, resource, "tracecar", "1.2.3")
