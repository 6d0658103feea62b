"""SpanRecords to OTLP: an `ExportTraceServiceRequest` (opentelemetry/proto/collector/trace/v1).

Two builders with one output:
- `proxy.spans.otlp_messages.build_request` makes the message with the opentelemetry-proto classes.
  It is the readable statement of the mapping, and what tests compare against; the proxy never
  loads those classes (3.5 MB).
- `Encoder` writes the same message's protobuf wire bytes directly, compiled with mypyc. It is what
  the exporters send. `Encoder.span` encodes one span on the data path, as the span is recorded (see
  `proxy.spans.pipeline` for why there), and `Encoder.request` joins a batch of them. For an HTTP
  span with 12 attributes on this 2-core machine (`python -m loadtests.span_export_bench`): about
  2 us, against 30 us for building the upb messages and 45 us for the SDK's own encoder (which also
  needs SDK spans, 16 us each to make). Most attribute pairs repeat from span to span (method, host,
  status code), so their encoded form is cached, within a bound.

Mapping: hex ids become raw bytes (16 and 8), `trace_state` the W3C header text, `flags` OTLP's
`Span.flags` as recorded, kind and status their enum numbers; a status is written only when it is not
UNSET or has a message. All spans of a batch share one resource and one instrumentation scope.
A record that cannot be encoded (an id of the wrong length or not hex, an integer outside int64) raises
ValueError naming the field.
"""

from __future__ import annotations

import binascii
import struct
from binascii import unhexlify
from collections.abc import Sequence
from typing import cast

from proxy.spans.record import STATUS_UNSET, Attribute, AttributeValue, SpanRecord

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ATTRIBUTE_CACHE_SIZE = 256  # encoded text or int values kept per attribute key (and keys kept)

# Wire tags, (field number << 3) | wire type; 2 = length-delimited, 0 = varint, 1 = 64-bit, 5 = 32-bit.
_TRACE_ID = b"\x0a\x10"  # Span.trace_id = 1, always 16 bytes
_SPAN_ID = b"\x12\x08"  # Span.span_id = 2, always 8 bytes
_TRACE_STATE = b"\x1a"  # Span.trace_state = 3
_PARENT_SPAN_ID = b"\x22\x08"  # Span.parent_span_id = 4
_NAME = b"\x2a"  # Span.name = 5
_KIND = b"\x30"  # Span.kind = 6
_ATTRIBUTE = b"\x4a"  # Span.attributes = 9
_STATUS = b"\x7a"  # Span.status = 15
_FLAGS = b"\x85\x01"  # Span.flags = 16, fixed32
_STATUS_MESSAGE = b"\x12"  # Status.message = 2
_STATUS_CODE = b"\x18"  # Status.code = 3
_TIMES = struct.Struct("<BQBQ")  # Span.start_time_unix_nano = 7 and end_time_unix_nano = 8, fixed64
_START_TAG, _END_TAG = 0x39, 0x41
_FIXED32 = struct.Struct("<I").pack
_DOUBLE = struct.Struct("<d").pack


class Encoder:
    """Writes `ExportTraceServiceRequest` wire bytes for batches sharing one resource and scope.

    `span` is called by one thread at a time (the event loop's): its attribute cache is not locked.
    `request` keeps no state and may run on any thread.
    """

    def __init__(
        self,
        resource: Sequence[Attribute],
        scope_name: str,
        scope_version: str,
        cache_size: int = ATTRIBUTE_CACHE_SIZE,
    ) -> None:
        resource_body = b"".join(_field(b"\x0a", _key_value(k, v)) for k, v in resource)
        scope_body = _string_field(b"\x0a", scope_name) + _string_field(b"\x12", scope_version)
        self._resource_field = _field(b"\x0a", resource_body)  # ResourceSpans.resource = 1
        self._scope_field = _field(b"\x0a", scope_body)  # ScopeSpans.scope = 1
        self._values: dict[str, dict[object, bytes]] = {}  # key -> value -> encoded field
        self._keys: dict[str, bytes] = {}  # attribute key -> its encoded `KeyValue.key` field
        self._cache_size = cache_size

    def encode(self, batch: Sequence[SpanRecord]) -> bytes:
        """The request for a batch of records (tests and tools; the exporters use `request`)."""
        return self.request([self.span(record) for record in batch])

    def span(self, record: SpanRecord) -> bytes:
        """One span as its `ScopeSpans.spans` field: what `request` takes."""
        body = self._span(record)
        return b"\x12" + _varint(len(body)) + body  # ScopeSpans.spans = 2

    def request(self, spans: Sequence[bytes]) -> bytes:
        """The `ExportTraceServiceRequest` holding these `span` outputs, in order.

        Lengths first, then one join: a batch is a few hundred KB, and each intermediate copy
        would be a fresh allocation the kernel has to fault in."""
        scope_spans = len(self._scope_field) + sum([len(span) for span in spans])
        scope_spans_tag = b"\x12" + _varint(scope_spans)  # ResourceSpans.scope_spans = 2
        resource_spans = len(self._resource_field) + len(scope_spans_tag) + scope_spans
        parts = [b"\x0a", _varint(resource_spans), self._resource_field, scope_spans_tag, self._scope_field]
        parts += spans  # ExportTraceServiceRequest.resource_spans = 1, holding all of the above
        return b"".join(parts)

    def _span(self, record: SpanRecord) -> bytes:
        """One `Span` message body, fields in number order (16, flags, last)."""
        parts = [
            _TRACE_ID,
            _raw_id(record.trace_id, TRACE_ID_BYTES, "trace_id"),
            _SPAN_ID,
            _raw_id(record.span_id, SPAN_ID_BYTES, "span_id"),
        ]
        if record.trace_state:
            parts += (_TRACE_STATE, _varint(len(record.trace_state)), record.trace_state)
        if record.parent_span_id is not None:
            parts += (_PARENT_SPAN_ID, _raw_id(record.parent_span_id, SPAN_ID_BYTES, "parent_span_id"))
        name = record.name.encode()
        parts += (_NAME, _varint(len(name)), name, _KIND, _varint(record.kind))
        parts.append(_TIMES.pack(_START_TAG, record.start_ns, _END_TAG, record.end_ns))
        # Values typed loosely: compiled, a wrong type would raise TypeError here, not ValueError below.
        for key, value in cast(list[tuple[str, object]], record.attributes):
            parts.append(self._cached_attribute(key, value))
        if record.status != STATUS_UNSET or record.status_message:
            parts.append(_field(_STATUS, _status(record.status, record.status_message)))
        parts += (_FLAGS, _FIXED32(record.flags))
        return b"".join(parts)

    def _cached_attribute(self, key: str, value: object) -> bytes:
        """Text and plain int values only, each under its key: True == 1 and 1 == 1.0 in Python, and
        their encodings differ. A key's cache is cleared whole when full, so the keys with a value
        per request (a path, a port) churn in their own caches and the others stay."""
        if type(value) is not str and type(value) is not int:
            return self._attribute(key, value)
        values = self._values.get(key)
        if values is None:
            if len(self._values) >= self._cache_size:
                self._values.clear()
            values = self._values[key] = {}
        encoded = values.get(value)
        if encoded is None:
            encoded = self._attribute(key, value)
            if len(values) >= self._cache_size:
                values.clear()
            values[value] = encoded
        return encoded

    def _attribute(self, key: str, value: object) -> bytes:
        """One `Span.attributes` field; the common value types written inline (a cache miss is
        the usual case for per-request values such as a path or a port)."""
        key_field = self._keys.get(key)
        if key_field is None:
            key_field = _string_field(b"\x0a", key)
            if len(self._keys) >= self._cache_size:
                self._keys.clear()
            self._keys[key] = key_field
        if type(value) is str:
            text = value.encode()
            any_value = b"\x0a" + _varint(len(text)) + text
        elif type(value) is int and 0 <= value <= INT64_MAX:
            any_value = b"\x18" + _varint(value)
        else:
            any_value = _any_value(key, value)
        key_value = key_field + b"\x12" + _varint(len(any_value)) + any_value
        return _ATTRIBUTE + _varint(len(key_value)) + key_value


def _status(code: int, message: str) -> bytes:
    body = _string_field(_STATUS_MESSAGE, message) if message else b""
    return body + _STATUS_CODE + _varint(code) if code != STATUS_UNSET else body


def _key_value(key: str, value: AttributeValue) -> bytes:
    """A `KeyValue` message body: key = 1, value = 2 (an `AnyValue`)."""
    return _string_field(b"\x0a", key) + _field(b"\x12", _any_value(key, value))


def _any_value(key: str, value: object) -> bytes:
    # AnyValue oneof: string_value = 1, bool_value = 2, int_value = 3 (int64), double_value = 4.
    if isinstance(value, str):
        return _string_field(b"\x0a", value)
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(_int64(key, value) & 0xFFFF_FFFF_FFFF_FFFF)  # two's complement
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    raise ValueError(f"attribute {key!r}: unsupported value type {type(value).__name__}")


def _int64(key: str, value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"attribute {key!r}: {value} does not fit OTLP's int64")
    return value


def _raw_id(hex_id: bytes, size: int, field: str) -> bytes:
    try:
        raw = unhexlify(hex_id)
    except binascii.Error:  # odd length or a non-hex digit
        raise ValueError(f"{field} {hex_id!r}: not hex") from None
    if len(raw) != size:
        raise ValueError(f"{field} {hex_id!r}: not {size * 2} hex digits")
    return raw


def _string_field(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode())


def _field(tag: bytes, body: bytes | bytearray) -> bytes:
    return tag + _varint(len(body)) + body


_ONE_BYTE = tuple(bytes((n,)) for n in range(128))


def _varint(value: int) -> bytes:
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    if value < 0:
        raise ValueError(f"{value} is negative: OTLP enums and lengths are not")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
