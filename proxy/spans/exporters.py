"""Exporters: a batch of SpanRecords to a backend, on the export thread. `export(batch) -> bool`.

- `OtlpGrpcExporter` (in `proxy.spans.grpc_exporter`, loaded only when configured): OTLP/gRPC.
- `OtlpHttpExporter`: OTLP/HTTP, binary protobuf POSTed on one kept-alive connection
  (`proxy.spans.http_client`), optionally gzipped.
- `ConsoleExporter`: one JSON object per span and line, for `OTEL_TRACES_EXPORTER=console`.
- `NoneExporter`: accepts and discards.

Both OTLP exporters send bytes written by `proxy.spans.otlp.Encoder` (about 2 us a span, on the data
path as the span is recorded, where the SDK's encoder takes 45; sending adds under 1 us a span) and
retry what the OTLP specification calls
transient (gRPC CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS, and
RESOURCE_EXHAUSTED when the server sends RetryInfo; HTTP 429, 502, 503, 504; a connection that fails
or drops) with exponential backoff and jitter, honouring the server's RetryInfo or Retry-After, all
within one timeout per batch.
The retries hold the export thread, never the data path, and the pipeline's bounded queue drops
(and counts) what arrives meanwhile, so a dead collector costs bounded memory.

The exporters' own traffic is never traced: they run in the proxy's process, whose uid
`tracecar init --proxy-uid` exempts from redirection, and nothing here records spans.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from proxy.http1.errors import HttpError
from proxy.spans import partial_success, record
from proxy.spans.config import GRPC, TRACECAR_VERSION, ExportConfig
from proxy.spans.http_client import HttpClient, request_head
from proxy.spans.otlp import Encoder
from proxy.spans.pipeline import Exporter
from proxy.spans.record import Attribute, SpanRecord

logger = logging.getLogger("tracecar.spans")

SCOPE_NAME = "tracecar"
USER_AGENT = f"tracecar/{TRACECAR_VERSION}"
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 32.0


class Retry:
    """An attempt's transient failure; `after_s` is the wait the server asked for, if any."""

    __slots__ = ("after_s",)

    def __init__(self, after_s: float | None = None) -> None:
        self.after_s = after_s


class _OtlpExporter:
    """Encoding, the retry loop and shutdown; subclasses make one attempt over their transport."""

    def __init__(
        self, encoder: Encoder, timeout_s: float, initial_backoff_s: float, max_backoff_s: float
    ) -> None:
        self._encoder = encoder
        # The compiled encoder's own method: called for every span on the data path, so no
        # interpreted frame in between.
        self.prepare: Callable[[SpanRecord], bytes] = encoder.span
        self._timeout_s = timeout_s
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._closed = threading.Event()
        self._last_problem = ""

    def export(self, batch: Sequence[bytes]) -> bool:
        if self._closed.is_set():
            return False
        return self._send(self._compress(self._encoder.request(batch)))

    def shutdown(self) -> None:
        self._closed.set()
        self._close()

    def _send(self, payload: bytes) -> bool:
        deadline = time.monotonic() + self._timeout_s
        backoff = self._initial_backoff_s
        while not self._closed.is_set():
            outcome = self._attempt(payload, deadline - time.monotonic())
            if not isinstance(outcome, Retry):
                return outcome
            # The OTLP exporter specification #retry: exponential back-off with jitter.
            wait = outcome.after_s if outcome.after_s is not None else backoff * random.uniform(0.5, 1.0)
            backoff = min(backoff * 2, self._max_backoff_s)
            if time.monotonic() + wait >= deadline or self._closed.wait(wait):
                return False
        return False

    def _problem(self, message: str) -> None:
        """Log a rejection once, not once per batch: a collector refusing everything would flood."""
        if message != self._last_problem:
            self._last_problem = message
            logger.warning("%s", message)

    def _accepted(self, response: bytes) -> bool:
        """OTLP #partial-success: the backend kept some spans; never retried, worth a log line."""
        if not response:  # the usual answer: everything accepted
            self._last_problem = ""
            return True
        count, message = partial_success.rejected(response)
        if count or message:
            self._problem(f"OTLP backend rejected {count} spans: {message}")
        else:
            self._last_problem = ""
        return True

    def _compress(self, payload: bytes) -> bytes:
        return payload

    def _attempt(self, payload: bytes, timeout_s: float) -> bool | Retry:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class OtlpHttpExporter(_OtlpExporter):
    def __init__(
        self,
        endpoint: str,
        encoder: Encoder,
        *,
        headers: Sequence[tuple[str, str]] = (),
        timeout_s: float = 10.0,
        compression: str = "none",
        certificate: str | None = None,
        client_key: str | None = None,
        client_certificate: str | None = None,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        super().__init__(encoder, timeout_s, initial_backoff_s, max_backoff_s)
        parts = urllib.parse.urlsplit(endpoint)
        tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            tls = ssl.create_default_context(cafile=certificate)
            if client_certificate:
                tls.load_cert_chain(client_certificate, client_key)
        host = parts.hostname or "localhost"
        port = parts.port or (443 if tls is not None else 80)
        self._client = HttpClient(host, port, tls)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._authority = parts.netloc.rpartition("@")[2] or host
        self._gzip = compression == "gzip"
        # Names in lower case, so that a configured header replaces ours rather than doubling it.
        fields = {"user-agent": USER_AGENT, **{name.lower(): value for name, value in headers}}
        fields["content-type"] = "application/x-protobuf"
        fields.pop("host", None)
        fields.pop("content-length", None)
        if self._gzip:
            fields["content-encoding"] = "gzip"
        self._fields = list(fields.items())

    def _compress(self, payload: bytes) -> bytes:
        return gzip.compress(payload, compresslevel=6) if self._gzip else payload

    def _attempt(self, payload: bytes, timeout_s: float) -> bool | Retry:
        head = request_head(self._target, self._authority, self._fields, len(payload))
        try:
            response = self._client.post(head, payload, max(timeout_s, 0.001))
        except (OSError, HttpError) as error:
            # OTLP #otlphttp-connection and #all-other-responses: retry a connection that failed.
            logger.debug("OTLP/HTTP export: %s", error)
            return Retry()
        if 200 <= response.status < 300:
            return self._accepted(response.body)
        if response.status in RETRYABLE_HTTP:
            return Retry(_retry_after(response.header(b"retry-after")))
        self._problem(f"OTLP/HTTP export rejected: HTTP {response.status} {response.reason}")
        return False

    def _close(self) -> None:
        self._client.close()


def _retry_after(value: bytes | None) -> float | None:
    """Retry-After in delay-seconds (RFC 9110 #field.retry-after); an HTTP-date falls back to backoff."""
    if value is not None and value.strip().isdigit():
        return float(value.strip())
    return None


class ConsoleExporter:
    """One JSON object per span and line, written to `stream` (stdout by default)."""

    def __init__(self, resource: Sequence[Attribute], stream: TextIO | None = None) -> None:
        self._resource = dict(resource)
        self._stream = stream

    def prepare(self, span: SpanRecord) -> SpanRecord:
        return span

    def export(self, batch: Sequence[SpanRecord]) -> bool:
        stream = self._stream or sys.stdout
        stream.write("".join(json.dumps(span_json(r, self._resource)) + "\n" for r in batch))
        stream.flush()
        return True

    def shutdown(self) -> None:
        pass


class NoneExporter:
    def prepare(self, span: SpanRecord) -> None:
        return None

    def export(self, batch: Sequence[None]) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class FanOutExporter:
    """Several exporters (`OTEL_TRACES_EXPORTER=otlp,console`): accepted when all accepted."""

    def __init__(self, exporters: Sequence[Exporter[Any]]) -> None:
        self._exporters = tuple(exporters)

    def prepare(self, span: SpanRecord) -> tuple[object, ...]:
        return tuple(exporter.prepare(span) for exporter in self._exporters)

    def export(self, batch: Sequence[tuple[object, ...]]) -> bool:
        accepted = [  # every one, always
            exporter.export([prepared[index] for prepared in batch])
            for index, exporter in enumerate(self._exporters)
        ]
        return all(accepted)

    def shutdown(self) -> None:
        for exporter in self._exporters:
            exporter.shutdown()


_KIND_NAMES = {
    record.KIND_INTERNAL: "INTERNAL",
    record.KIND_SERVER: "SERVER",
    record.KIND_CLIENT: "CLIENT",
    record.KIND_PRODUCER: "PRODUCER",
    record.KIND_CONSUMER: "CONSUMER",
}
_STATUS_NAMES = {record.STATUS_UNSET: "UNSET", record.STATUS_OK: "OK", record.STATUS_ERROR: "ERROR"}


def span_json(span: SpanRecord, resource: dict[str, record.AttributeValue]) -> dict[str, object]:
    """What the console exporter prints for one span."""
    return {
        "name": span.name,
        "trace_id": span.trace_id.decode("ascii", "replace"),
        "span_id": span.span_id.decode("ascii", "replace"),
        "parent_span_id": None
        if span.parent_span_id is None
        else span.parent_span_id.decode("ascii", "replace"),
        "trace_state": span.trace_state.decode("ascii", "replace"),
        "flags": span.flags,
        "kind": _KIND_NAMES.get(span.kind, str(span.kind)),
        "start_time_unix_nano": span.start_ns,
        "end_time_unix_nano": span.end_ns,
        "attributes": dict(span.attributes),
        "status": {"code": _STATUS_NAMES.get(span.status, str(span.status)), "message": span.status_message},
        "resource": resource,
    }


def make_exporter(config: ExportConfig) -> Exporter[Any]:
    """The exporter `OTEL_TRACES_EXPORTER` asks for; `NoneExporter` for `none`."""
    exporters = [_one(name, config) for name in config.exporters]
    if not exporters:
        return NoneExporter()
    return exporters[0] if len(exporters) == 1 else FanOutExporter(exporters)


def _one(name: str, config: ExportConfig) -> Exporter[Any]:
    if name == "console":
        return ConsoleExporter(config.resource)
    encoder = Encoder(config.resource, SCOPE_NAME, TRACECAR_VERSION)
    if config.protocol == GRPC:
        # Imported only when asked for: grpcio adds about 15 MB to every proxy process.
        from proxy.spans.grpc_exporter import OtlpGrpcExporter  # noqa: PLC0415

        return OtlpGrpcExporter(
            config.endpoint,
            encoder,
            insecure=config.insecure,
            headers=config.headers,
            timeout_s=config.timeout_s,
            compression=config.compression,
            certificate=config.certificate,
            client_key=config.client_key,
            client_certificate=config.client_certificate,
        )
    return OtlpHttpExporter(
        config.endpoint,
        encoder,
        headers=config.headers,
        timeout_s=config.timeout_s,
        compression=config.compression,
        certificate=config.certificate,
        client_key=config.client_key,
        client_certificate=config.client_certificate,
    )


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as file:
        return file.read()
