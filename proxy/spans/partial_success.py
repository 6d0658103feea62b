"""OTLP #partial-success, read straight off the wire: `ExportTraceServiceResponse.partial_success`.

The exporters load no protobuf message classes (they cost 3.5 MB of every proxy), and a lazy import
after the proxy drops its privileges can fail when the installation is not readable by its uid. The
answer holds two fields worth reading, so this reads them with the protobuf wire format alone:

    ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
    ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
"""

from __future__ import annotations

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class _Malformed(ValueError):
    pass


def rejected(response: bytes) -> tuple[int, str]:
    """(rejected_spans, error_message) of an answer; (0, "") when it is empty or not that message."""
    try:
        partial = b""
        for number, value in _fields(response):
            if number == 1 and isinstance(value, bytes):
                partial = value  # the last occurrence wins, as protobuf merges it
        count, message = 0, ""
        for number, value in _fields(partial):
            if number == 1 and isinstance(value, int):
                count = value - (1 << 64) if value >= 1 << 63 else value  # int64 is two's complement
            elif number == 2 and isinstance(value, bytes):
                message = value.decode("utf-8", "replace")
    except _Malformed:
        return 0, ""
    return count, message


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message: varints as ints, length-delimited as bytes."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == _LENGTH:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _Malformed("length past the end")
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
        else:
            raise _Malformed(f"wire type {wire}")
    if pos > len(data):
        raise _Malformed("fixed field past the end")
    return fields


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise _Malformed("truncated or overlong varint")
