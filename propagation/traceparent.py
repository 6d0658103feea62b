"""W3C `traceparent` (Trace Context Level 2 #traceparent-header)."""

from __future__ import annotations

from collections.abc import Sequence

from propagation.context import KNOWN_FLAGS, SpanContext
from propagation.headers import OWS
from propagation.ids import ZERO_SPAN_ID, ZERO_TRACE_ID

SIZE = 55  # "00-" + 32 + "-" + 16 + "-" + 2
_LOWER_HEX_AND_DASH = b"0123456789abcdef-"
_DASH = 0x2D
_FLAGS = {b"%02x" % flags: flags for flags in range(256)}


def parse(values: Sequence[bytes]) -> SpanContext | None:
    """The remote parent, or None for "restart the trace" (#processing-model).

    `values` are all `traceparent` headers of the request: more than one is invalid. Version 00 must
    be exactly 55 characters; a higher version may carry more fields after a dash
    (#versioning-of-traceparent). Only lower-case hex is valid (HEXDIGLC); version ff and all-zero
    ids are invalid (#traceparent-header-field-values).
    """
    if len(values) != 1:
        return None
    value = values[0]
    if len(value) != SIZE:
        value = value.strip(OWS)
    head = value if len(value) == SIZE else value[:SIZE]
    # deleting the allowed bytes leaves nothing, and exactly the three separators are dashes
    if len(head) != SIZE or head.translate(None, _LOWER_HEX_AND_DASH) or head.count(b"-") != 3:
        return None
    if head[2] != _DASH or head[35] != _DASH or head[52] != _DASH:
        return None
    version = head[:2]
    if version == b"ff" or (len(value) > SIZE and (version == b"00" or value[SIZE] != _DASH)):
        return None
    trace_id = head[3:35]
    span_id = head[36:52]
    if trace_id == ZERO_TRACE_ID or span_id == ZERO_SPAN_ID:
        return None
    return SpanContext(trace_id, span_id, _FLAGS[head[53:]])


def render(context: SpanContext) -> bytes:
    """Version 00, the one we speak (#versioning-of-traceparent); unknown flag bits are sent as zero."""
    return b"00-%s-%s-%02x" % (context.trace_id, context.span_id, context.flags & KNOWN_FLAGS)
