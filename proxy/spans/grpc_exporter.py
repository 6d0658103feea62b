"""OTLP/gRPC export (`TraceService/Export`) over a grpcio channel: plain text for an `http://` endpoint,
TLS for `https://` (and for a bare `host:port` unless insecure).

Its own module so that a proxy exporting over OTLP/HTTP (the default) never loads grpcio.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from proxy.spans.exporters import INITIAL_BACKOFF_S, MAX_BACKOFF_S, USER_AGENT, Retry, _OtlpExporter, _read
from proxy.spans.otlp import Encoder

GRPC_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
# How soon a gRPC channel reconnects to a collector that came back (grpc's own default grows to 120 s).
GRPC_MAX_RECONNECT_BACKOFF_MS = 5000


class OtlpGrpcExporter(_OtlpExporter):
    def __init__(
        self,
        endpoint: str,
        encoder: Encoder,
        *,
        insecure: bool = False,
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
        target, secure = grpc_target(endpoint, insecure)
        options = [
            ("grpc.primary_user_agent", USER_AGENT),
            ("grpc.max_reconnect_backoff_ms", GRPC_MAX_RECONNECT_BACKOFF_MS),
        ]
        gzipped = grpc.Compression.Gzip if compression == "gzip" else None
        if secure:
            credentials = grpc.ssl_channel_credentials(
                _read(certificate), _read(client_key), _read(client_certificate)
            )
            self._channel = grpc.secure_channel(target, credentials, options, gzipped)
        else:
            self._channel = grpc.insecure_channel(target, options, gzipped)
        # Requests go out already encoded: no serializer, bytes in and bytes out.
        self._call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(GRPC_EXPORT_METHOD)
        self._metadata = tuple((name.lower(), value) for name, value in headers)  # gRPC wants lower case

    def _attempt(self, payload: bytes, timeout_s: float) -> bool | Retry:
        try:
            response = self._call(payload, timeout=max(timeout_s, 0.001), metadata=self._metadata)
        except grpc.RpcError as error:
            outcome = _grpc_outcome(error)
            if outcome is False and isinstance(error, grpc.Call):
                self._problem(f"OTLP/gRPC export rejected: {error.code()} {error.details()}")
            return outcome
        return self._accepted(response)

    def _close(self) -> None:
        self._channel.close()


def grpc_target(endpoint: str, insecure: bool) -> tuple[str, bool]:
    """(gRPC target, use TLS) for an OTLP/gRPC endpoint: a URL's scheme decides, else `insecure`."""
    if "://" not in endpoint:
        return endpoint, not insecure
    parts = urllib.parse.urlsplit(endpoint)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", secure


def _grpc_outcome(error: grpc.RpcError) -> bool | Retry:
    if not isinstance(error, grpc.Call):
        return Retry()
    code = error.code()
    delay = _retry_info_delay(error)
    if code in RETRYABLE_GRPC or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None):
        return Retry(delay)
    return False


def _retry_info_delay(error: grpc.Call) -> float | None:
    """The server's google.rpc.RetryInfo delay (OTLP #otlpgrpc-throttling), if it sent one."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            try:
                details = status_pb2.Status.FromString(value).details
            except DecodeError:
                return None
            for detail in details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None
