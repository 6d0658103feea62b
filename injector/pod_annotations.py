"""The per-pod `tracecar.io/*` annotations, parsed and validated into one typed config.

Every error names the annotation and the problem, because the webhook returns it verbatim to whoever
ran `kubectl apply`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from urllib.parse import urlsplit

from proxy.interception.rules import parse_cidrs, parse_include_cidrs, parse_ports
from proxy.limits import MAX_HEAD_BYTES_ALLOWED

PREFIX = "tracecar.io/"
INJECT = PREFIX + "inject"
INJECTED = PREFIX + "injected"
EXCLUDE_INBOUND_PORTS = PREFIX + "exclude-inbound-ports"
EXCLUDE_OUTBOUND_PORTS = PREFIX + "exclude-outbound-ports"
EXCLUDE_OUTBOUND_CIDRS = PREFIX + "exclude-outbound-cidrs"
INCLUDE_OUTBOUND_CIDRS = PREFIX + "include-outbound-cidrs"
OPAQUE_PORTS = PREFIX + "opaque-ports"
SERVICE_NAME = PREFIX + "service-name"
SAMPLER_RATIO = PREFIX + "sampler-ratio"
OTLP_ENDPOINT = PREFIX + "otlp-endpoint"
PROXY_CPU = PREFIX + "proxy-cpu"
PROXY_MEMORY = PREFIX + "proxy-memory"
PROXY_WORKERS = PREFIX + "proxy-workers"
NATIVE_SIDECAR = PREFIX + "native-sidecar"
INFER_CONTEXT = PREFIX + "infer-context"  # "true": `tracecar proxy --infer-context`
# The proxy's timeouts and limits: each goes to `tracecar proxy` as the option of the same name
# (`tracecar.io/response-timeout: "2m"` -> `--response-timeout 120`), so a pod whose requests run
# long, or whose clients send large heads, is served without a cluster-wide change.
TIMEOUT_ANNOTATIONS = tuple(
    PREFIX + name
    for name in (
        "connect-timeout",
        "response-timeout",
        "request-header-timeout",
        "idle-timeout",
        "tcp-idle-timeout",
        "upstream-idle-timeout",
    )
)
MAX_HEADER_BYTES = PREFIX + "max-header-bytes"

CONFIG_ANNOTATIONS = (
    EXCLUDE_INBOUND_PORTS,
    EXCLUDE_OUTBOUND_PORTS,
    EXCLUDE_OUTBOUND_CIDRS,
    INCLUDE_OUTBOUND_CIDRS,
    OPAQUE_PORTS,
    SERVICE_NAME,
    SAMPLER_RATIO,
    OTLP_ENDPOINT,
    PROXY_CPU,
    PROXY_MEMORY,
    PROXY_WORKERS,
    NATIVE_SIDECAR,
    INFER_CONTEXT,
    *TIMEOUT_ANNOTATIONS,
    MAX_HEADER_BYTES,
)

# resource.Quantity's serialised form: a decimal number and an optional SI, binary or exponent suffix.
_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
)
_SUFFIX_VALUE: dict[str | None, Decimal] = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate("kMGTPE")},
    **{s + "i": Decimal(1024) ** (i + 1) for i, s in enumerate("KMGTPE")},
}
_MAX_SERVICE_NAME = 255
# A timeout: seconds, or a number with a unit as Kubernetes and Linkerd write durations.
_DURATION = re.compile(r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<unit>ms|s|m|h)?$")
_UNIT_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_TIMEOUT_S = 7 * 24 * 3600.0  # a week: beyond it a typo is likelier than a wish
MAX_WORKERS = 16  # proxy processes per pod: beyond this a pod wants more replicas, not a bigger sidecar
_T = TypeVar("_T")


class AnnotationError(ValueError):
    """A `tracecar.io/*` annotation with a value tracecar cannot honour."""

    def __init__(self, annotation: str, problem: str) -> None:
        super().__init__(f"annotation {annotation}: {problem}")
        self.annotation = annotation
        self.problem = problem


@dataclass(frozen=True)
class PodConfig:
    """What the annotations ask for; None means "not set, use the default"."""

    exclude_inbound_ports: tuple[int, ...] = ()
    exclude_outbound_ports: tuple[int, ...] = ()
    exclude_outbound_cidrs: tuple[str, ...] = ()
    include_outbound_cidrs: tuple[str, ...] | None = None
    opaque_ports: tuple[int, ...] = ()
    service_name: str | None = None
    sampler_ratio: float | None = None
    otlp_endpoint: str | None = None
    proxy_cpu: str | None = None
    proxy_memory: str | None = None
    proxy_workers: int | None = None
    native_sidecar: bool | None = None
    infer_context: bool = False
    # (`tracecar proxy` option, value) for each timeout or limit annotation given, in the order above
    proxy_options: tuple[tuple[str, str], ...] = ()


def parse(annotations: Mapping[str, str]) -> PodConfig:
    """Read the `tracecar.io/*` configuration annotations; raise AnnotationError on the first bad one."""
    get = annotations.get
    include = _checked(INCLUDE_OUTBOUND_CIDRS, get(INCLUDE_OUTBOUND_CIDRS), parse_include_cidrs)
    return PodConfig(
        exclude_inbound_ports=_checked(EXCLUDE_INBOUND_PORTS, get(EXCLUDE_INBOUND_PORTS), parse_ports) or (),
        exclude_outbound_ports=_checked(EXCLUDE_OUTBOUND_PORTS, get(EXCLUDE_OUTBOUND_PORTS), parse_ports)
        or (),
        exclude_outbound_cidrs=tuple(
            str(net)
            for net in _checked(EXCLUDE_OUTBOUND_CIDRS, get(EXCLUDE_OUTBOUND_CIDRS), parse_cidrs) or ()
        ),
        include_outbound_cidrs=None if include is None else tuple(str(net) for net in include),
        opaque_ports=_checked(OPAQUE_PORTS, get(OPAQUE_PORTS), parse_ports) or (),
        service_name=_checked(SERVICE_NAME, get(SERVICE_NAME), parse_service_name),
        sampler_ratio=_checked(SAMPLER_RATIO, get(SAMPLER_RATIO), parse_ratio),
        otlp_endpoint=_checked(OTLP_ENDPOINT, get(OTLP_ENDPOINT), parse_endpoint),
        proxy_cpu=_checked(PROXY_CPU, get(PROXY_CPU), parse_quantity),
        proxy_memory=_checked(PROXY_MEMORY, get(PROXY_MEMORY), parse_quantity),
        proxy_workers=_checked(PROXY_WORKERS, get(PROXY_WORKERS), parse_workers),
        native_sidecar=_checked(NATIVE_SIDECAR, get(NATIVE_SIDECAR), parse_bool),
        infer_context=bool(_checked(INFER_CONTEXT, get(INFER_CONTEXT), parse_bool)),
        proxy_options=_proxy_options(annotations),
    )


def _proxy_options(annotations: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    options: list[tuple[str, str]] = []
    for annotation in (*TIMEOUT_ANNOTATIONS, MAX_HEADER_BYTES):
        parse_value = parse_header_bytes if annotation == MAX_HEADER_BYTES else parse_timeout
        value = _checked(annotation, annotations.get(annotation), parse_value)
        if value is not None:
            options.append(("--" + annotation.removeprefix(PREFIX), value))
    return tuple(options)


def _checked(annotation: str, value: object, parse_value: Callable[[str], _T]) -> _T | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise AnnotationError(annotation, f"must be a string, got {type(value).__name__}")
    try:
        return parse_value(value)
    except ValueError as exc:
        raise AnnotationError(annotation, str(exc)) from None


def parse_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f'must be "true" or "false", got {text!r}')
    return text == "true"


def parse_service_name(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    if len(text) > _MAX_SERVICE_NAME:
        raise ValueError(f"longer than {_MAX_SERVICE_NAME} characters")
    if not text.isprintable():
        raise ValueError(f"contains a control character: {text!r}")
    return text


def parse_timeout(text: str) -> str:
    """`90`, `2.5`, `500ms`, `30s`, `5m` or `1h`: the seconds, as `tracecar proxy` takes them."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"must be seconds or a duration such as 500ms, 30s, 5m or 1h, got {text!r}")
    seconds = float(match["number"]) * _UNIT_SECONDS[match["unit"]]
    if not 0 < seconds <= MAX_TIMEOUT_S:
        raise ValueError(f"must be above 0 and at most a week, got {text!r}")
    return f"{seconds:g}"


def parse_header_bytes(text: str) -> str:
    if not text.isascii() or not text.isdigit() or not 1024 <= int(text) <= MAX_HEAD_BYTES_ALLOWED:
        raise ValueError(
            f"must be a whole number of bytes from 1024 to {MAX_HEAD_BYTES_ALLOWED}, got {text!r}"
        )
    return str(int(text))


def parse_workers(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise ValueError(f"must be a whole number from 1 to {MAX_WORKERS}, got {text!r}")
    return int(text)


def parse_ratio(text: str) -> float:
    try:
        if "_" in text:  # float() takes PEP 515 digit separators; an annotation should not
            raise ValueError
        ratio = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not math.isfinite(ratio) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"must be a ratio between 0 and 1, got {text!r}")
    return ratio


def parse_endpoint(text: str) -> str:
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc}): {text!r}") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {text!r}")
    if port == 0:
        raise ValueError(f"port 0 is not a port: {text!r}")
    return text


def parse_quantity(text: str) -> str:
    """A Kubernetes resource quantity such as `250m`, `1.5` or `128Mi`, strictly positive."""
    if quantity_value(text) <= 0:
        raise ValueError(f"must be greater than zero, got {text!r}")
    return text


def quantity_value(text: str) -> Decimal:
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"not a Kubernetes quantity (such as 250m, 1, 128Mi): {text!r}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a number: {text!r}") from None
    suffix: str | None = match["suffix"]
    return number * _SUFFIX_VALUE[suffix]
