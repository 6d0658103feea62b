"""Everything the span pipeline takes from the environment, read once at start-up.

The standard OpenTelemetry variables (SDK environment-variable and OTLP exporter specifications), with
tracecar's choices where the specifications leave one:

- `OTEL_TRACES_EXPORTER`: `otlp` (default), `console`, `none`, or a comma-separated list of the first
  two. `OTEL_SDK_DISABLED=true` means `none`.
- `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` by default, as the exporter specification recommends
  (`grpc` is also supported; `http/json` is not and is refused).
- Endpoints: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as-is (an empty path becomes `/`);
  `OTEL_EXPORTER_OTLP_ENDPOINT` is a base to which HTTP appends `v1/traces`. Defaults:
  `http://localhost:4318/v1/traces` (HTTP) and `http://localhost:4317` (gRPC). A gRPC endpoint without
  a scheme (`host:port`) uses TLS unless `OTEL_EXPORTER_OTLP_INSECURE=true`.
- Timeouts are integers of milliseconds as the specification says (default 10000), covering every retry
  of one batch; `OTEL_BSP_EXPORT_TIMEOUT`, when lower, caps it.
- Batching: `OTEL_BSP_MAX_QUEUE_SIZE` (2048), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512) and
  `OTEL_BSP_SCHEDULE_DELAY`, whose default here is 1000 ms rather than the specification's 5000: a
  sidecar's spans should show up while someone is looking at the request.
- Every signal-specific variable (`OTEL_EXPORTER_OTLP_TRACES_*`) overrides its generic one whole.

The resource describes the application the sidecar serves, not the sidecar: `OTEL_SERVICE_NAME` names
the application (the injector sets it from the workload), then `service.name` in
`OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service:tracecar`, which tells whoever sees it that the
sidecar was never told. Kubernetes attributes come from downward-API variables, in two conventions:
`POD_NAME`, `POD_NAMESPACE`, `NODE_NAME`, `POD_UID` (what sidecar injectors commonly set) and
`K8S_POD_NAME`, `K8S_NAMESPACE_NAME`, `K8S_NODE_NAME`, `K8S_POD_UID` (the OpenTelemetry proposal for
Kubernetes resource detection), the latter winning. Precedence, lowest first: `telemetry.sdk.*`,
downward API, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`.

A value tracecar cannot honour raises `ConfigError` naming the variable; nothing falls back silently.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from propagation import ConfigError, Propagators, Sampler, sampling
from proxy.spans.record import Attribute, AttributeValue

try:
    TRACECAR_VERSION = importlib.metadata.version("tracecar")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
    TRACECAR_VERSION = "0.0.0"

DEFAULT_SERVICE_NAME = "unknown_service:tracecar"
SUPPORTED_EXPORTERS = ("otlp", "console")
GRPC, HTTP_PROTOBUF = "grpc", "http/protobuf"
DEFAULT_PROTOCOL = HTTP_PROTOBUF
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_HTTP_BASE = "http://localhost:4318/"
HTTP_TRACES_PATH = "v1/traces"
DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_SCHEDULE_DELAY_MS = 1_000
DEFAULT_MAX_QUEUE = 2048
DEFAULT_MAX_BATCH = 512
DEFAULT_BSP_EXPORT_TIMEOUT_MS = 30_000

# resource attribute -> downward-API variables, the first one set wins
K8S_VARIABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("k8s.pod.name", ("K8S_POD_NAME", "POD_NAME")),
    ("k8s.namespace.name", ("K8S_NAMESPACE_NAME", "POD_NAMESPACE")),
    ("k8s.node.name", ("K8S_NODE_NAME", "NODE_NAME")),
    ("k8s.pod.uid", ("K8S_POD_UID", "POD_UID")),
)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 #tokens: a header name
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """Where and how spans go, and what resource they carry.

    `exporters` is empty for `none`. `endpoint` is the URL posted to for HTTP, and the URL or
    `host:port` target for gRPC. `resource` has `service.name` first. `sampler` and `propagators` are
    the `propagation` package's, read here too so that one call validates every variable at start-up.
    """

    exporters: tuple[str, ...]
    protocol: str
    endpoint: str
    insecure: bool
    headers: tuple[tuple[str, str], ...]
    timeout_s: float
    compression: str
    certificate: str | None
    client_key: str | None
    client_certificate: str | None
    service_name: str
    resource: tuple[Attribute, ...]
    max_queue: int
    max_batch: int
    interval_s: float
    sampler: Sampler
    propagators: Propagators


def from_env(environ: Mapping[str, str]) -> ExportConfig:
    protocol = _protocol(environ)
    resource = resource_from_env(environ)
    max_queue = _positive_int(environ, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE)
    max_batch = _positive_int(environ, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_BATCH)
    if max_batch > max_queue:
        raise ConfigError(
            f"OTEL_BSP_MAX_EXPORT_BATCH_SIZE={max_batch} exceeds OTEL_BSP_MAX_QUEUE_SIZE={max_queue}"
        )
    timeout_ms = min(
        _milliseconds(environ, _signal(environ, "TIMEOUT"), DEFAULT_TIMEOUT_MS),
        _milliseconds(environ, "OTEL_BSP_EXPORT_TIMEOUT", DEFAULT_BSP_EXPORT_TIMEOUT_MS),
    )
    return ExportConfig(
        exporters=_exporters(environ),
        protocol=protocol,
        endpoint=_endpoint(environ, protocol),
        insecure=_boolean(environ, _signal(environ, "INSECURE")),
        headers=_headers(environ),
        timeout_s=timeout_ms / 1000,
        compression=_compression(environ),
        certificate=_file(environ, _signal(environ, "CERTIFICATE")),
        client_key=_file(environ, _signal(environ, "CLIENT_KEY")),
        client_certificate=_file(environ, _signal(environ, "CLIENT_CERTIFICATE")),
        service_name=str(resource[0][1]),
        resource=resource,
        max_queue=max_queue,
        max_batch=max_batch,
        interval_s=_milliseconds(environ, "OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS) / 1000,
        sampler=sampling.from_env(environ),
        propagators=Propagators.from_env(environ),
    )


def resource_from_env(environ: Mapping[str, str]) -> tuple[Attribute, ...]:
    """The resource attributes, `service.name` first."""
    attributes: dict[str, AttributeValue] = {
        "telemetry.sdk.name": "tracecar",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": TRACECAR_VERSION,
    }
    for key, names in K8S_VARIABLES:
        value = next((v for v in (environ.get(n, "").strip() for n in names) if v), "")
        if value:
            attributes[key] = value
    attributes.update(parse_resource_attributes(environ.get("OTEL_RESOURCE_ATTRIBUTES", "")))
    service = environ.get("OTEL_SERVICE_NAME", "").strip() or attributes.pop("service.name", "")
    attributes.pop("service.name", None)
    return (("service.name", service or DEFAULT_SERVICE_NAME), *attributes.items())


def parse_resource_attributes(raw: str) -> dict[str, str]:
    """`OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values percent-encoded."""
    return dict(_pairs("OTEL_RESOURCE_ATTRIBUTES", raw))


def _pairs(variable: str, raw: str) -> list[tuple[str, str]]:
    """W3C Baggage-like `key=value,key=value` without properties (the form both header and resource
    variables use); values are percent-decoded."""
    pairs = []
    for member in raw.split(","):
        if not member.strip():
            continue
        key, equals, value = member.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise ConfigError(f"{variable}: {member.strip()!r} is not key=value")
        if _BAD_PERCENT.search(value):
            raise ConfigError(f"{variable}: {member.strip()!r} has a '%' that is not a %XX escape")
        try:
            decoded = urllib.parse.unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise ConfigError(f"{variable}: {member.strip()!r} does not decode as UTF-8") from None
        pairs.append((key, decoded))
    return pairs


def _headers(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    variable = _signal(environ, "HEADERS")
    headers = []
    for key, value in _pairs(variable, environ.get(variable, "")):
        if not _TOKEN.fullmatch(key):
            raise ConfigError(f"{variable}: {key!r} is not a valid header name")
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{variable}: the value of {key!r} has a line break or NUL")
        headers.append((key.lower(), value))  # gRPC metadata keys must be lower-case; HTTP ignores case
    return tuple(headers)


def _exporters(environ: Mapping[str, str]) -> tuple[str, ...]:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    names = list(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip())) or ["otlp"]
    if "none" in names:
        if len(names) > 1:
            raise ConfigError(f"OTEL_TRACES_EXPORTER={raw!r}: 'none' cannot be combined")
        return ()
    unknown = [n for n in names if n not in SUPPORTED_EXPORTERS]
    if unknown:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={raw!r}: {', '.join(unknown)} not supported; use otlp, console or none"
        )
    return tuple(names)


def _protocol(environ: Mapping[str, str]) -> str:
    variable = _signal(environ, "PROTOCOL")
    value = environ.get(variable, "").strip().lower() or DEFAULT_PROTOCOL
    if value not in (GRPC, HTTP_PROTOBUF):
        raise ConfigError(f"{variable}={value!r} is not supported; use grpc or http/protobuf")
    return value


def _endpoint(environ: Mapping[str, str], protocol: str) -> str:
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    generic = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    variable = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" if traces else "OTEL_EXPORTER_OTLP_ENDPOINT"
    value = traces or generic
    if protocol == GRPC:
        if not value:
            return DEFAULT_GRPC_ENDPOINT
        if "://" not in value:  # a gRPC target such as host:port; TLS per OTEL_EXPORTER_OTLP_INSECURE
            return value
        _check_url(variable, value)
        return value
    if not value:
        return DEFAULT_HTTP_BASE + HTTP_TRACES_PATH
    parts = _check_url(variable, value)
    if traces:  # #endpoint-urls-for-otlphttp: the per-signal URL as-is, an empty path being "/"
        return value if parts.path else urllib.parse.urlunsplit(parts._replace(path="/"))
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + HTTP_TRACES_PATH))


def _check_url(variable: str, value: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        raise ConfigError(f"{variable}={value!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable}={value!r} is not an http:// or https:// URL with a host")
    return parts


def _compression(environ: Mapping[str, str]) -> str:
    variable = _signal(environ, "COMPRESSION")
    value = environ.get(variable, "").strip().lower() or "none"
    if value not in ("none", "gzip"):
        raise ConfigError(f"{variable}={value!r} is not supported; use gzip or none")
    return value


def _signal(environ: Mapping[str, str], option: str) -> str:
    """The name of the variable in force for one OTLP option: the traces one when set."""
    specific = f"OTEL_EXPORTER_OTLP_TRACES_{option}"
    return specific if environ.get(specific, "").strip() else f"OTEL_EXPORTER_OTLP_{option}"


def _boolean(environ: Mapping[str, str], variable: str) -> bool:
    value = environ.get(variable, "").strip().lower()
    if value not in ("", "true", "false"):
        raise ConfigError(f"{variable}={value!r} is not true or false")
    return value == "true"


def _positive_int(environ: Mapping[str, str], variable: str, default: int, unit: str = "") -> int:
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    if not _DIGITS.fullmatch(raw) or int(raw) == 0:
        raise ConfigError(f"{variable}={raw!r} is not a positive integer{unit}")
    return int(raw)


def _milliseconds(environ: Mapping[str, str], variable: str, default: int) -> int:
    return _positive_int(environ, variable, default, " number of milliseconds")


def _file(environ: Mapping[str, str], variable: str) -> str | None:
    path = environ.get(variable, "").strip()
    if not path:
        return None
    if not os.path.isfile(path):
        raise ConfigError(f"{variable}={path!r} is not a readable file")
    return path
