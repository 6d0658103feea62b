"""The `tracecar.io/*` annotations: typed values out, errors that name the annotation and the problem."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from injector import pod_annotations as ann


def test_no_annotations_is_the_default_config() -> None:
    assert ann.parse({"unrelated/annotation": "x"}) == ann.PodConfig()


def test_every_annotation_parsed() -> None:
    config = ann.parse(
        {
            ann.EXCLUDE_INBOUND_PORTS: "9090, 8443",
            ann.EXCLUDE_OUTBOUND_PORTS: "5432",
            ann.EXCLUDE_OUTBOUND_CIDRS: "169.254.169.254,fd00::1/8",
            ann.INCLUDE_OUTBOUND_CIDRS: "10.0.0.0/8",
            ann.OPAQUE_PORTS: "6379",
            ann.SERVICE_NAME: "payments",
            ann.SAMPLER_RATIO: "0.25",
            ann.OTLP_ENDPOINT: "https://collector.observability:4318",
            ann.PROXY_CPU: "250m",
            ann.PROXY_MEMORY: "1.5Gi",
            ann.PROXY_WORKERS: "4",
            ann.NATIVE_SIDECAR: "false",
        }
    )
    assert config == ann.PodConfig(
        exclude_inbound_ports=(9090, 8443),
        exclude_outbound_ports=(5432,),
        exclude_outbound_cidrs=("169.254.169.254/32", "fd00::/8"),
        include_outbound_cidrs=("10.0.0.0/8",),
        opaque_ports=(6379,),
        service_name="payments",
        sampler_ratio=0.25,
        otlp_endpoint="https://collector.observability:4318",
        proxy_cpu="250m",
        proxy_memory="1.5Gi",
        proxy_workers=4,
        native_sidecar=False,
    )


def test_include_star_means_all_and_empty_means_none() -> None:
    assert ann.parse({ann.INCLUDE_OUTBOUND_CIDRS: "*"}).include_outbound_cidrs is None
    assert ann.parse({ann.INCLUDE_OUTBOUND_CIDRS: ""}).include_outbound_cidrs == ()


@pytest.mark.parametrize(
    ("annotation", "value", "problem"),
    [
        (ann.EXCLUDE_INBOUND_PORTS, "80,http", "not a TCP port"),
        (ann.EXCLUDE_OUTBOUND_PORTS, "70000", "not a TCP port"),
        (ann.OPAQUE_PORTS, "0", "not a TCP port"),
        (ann.EXCLUDE_OUTBOUND_CIDRS, "10.0.0.0/33", "not an IPv4 or IPv6 CIDR"),
        (ann.INCLUDE_OUTBOUND_CIDRS, "example", "not an IPv4 or IPv6 CIDR"),
        (ann.SERVICE_NAME, "  ", "must not be empty"),
        (ann.SERVICE_NAME, "a\nb", "control character"),
        (ann.SAMPLER_RATIO, "1.5", "between 0 and 1"),
        (ann.SAMPLER_RATIO, "nan", "between 0 and 1"),
        (ann.SAMPLER_RATIO, "half", "not a number"),
        (ann.SAMPLER_RATIO, "0_5", "not a number"),
        (ann.OTLP_ENDPOINT, "collector:4318", "http:// or https://"),
        (ann.OTLP_ENDPOINT, "http://collector:99999", "not a URL"),
        (ann.PROXY_CPU, "2 cores", "not a Kubernetes quantity"),
        (ann.PROXY_CPU, "0m", "greater than zero"),
        (ann.PROXY_MEMORY, "128MB", "not a Kubernetes quantity"),
        (ann.PROXY_WORKERS, "0", "from 1 to 16"),
        (ann.PROXY_WORKERS, "17", "from 1 to 16"),
        (ann.PROXY_WORKERS, "+2", "from 1 to 16"),
        (ann.PROXY_WORKERS, "\u0663", "from 1 to 16"),  # an Arabic-Indic three: a digit, not ASCII
        (ann.NATIVE_SIDECAR, "yes", 'must be "true" or "false"'),
        (ann.INFER_CONTEXT, "on", 'must be "true" or "false"'),
        (ann.PREFIX + "response-timeout", "0", "above 0"),
        (ann.PREFIX + "response-timeout", "8d", "a duration such as"),
        (ann.PREFIX + "connect-timeout", "10 s", "a duration such as"),
        (ann.PREFIX + "idle-timeout", "-5", "a duration such as"),
        (ann.PREFIX + "tcp-idle-timeout", "169h", "at most a week"),
        (ann.MAX_HEADER_BYTES, "512", "from 1024 to 1048576"),
        (ann.MAX_HEADER_BYTES, "64Ki", "from 1024 to 1048576"),
    ],
)
def test_invalid_value_names_annotation_and_problem(annotation: str, value: str, problem: str) -> None:
    with pytest.raises(ann.AnnotationError) as caught:
        ann.parse({annotation: value})
    assert caught.value.annotation == annotation
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"annotation {annotation}: ")


def test_non_string_value_rejected() -> None:
    with pytest.raises(ann.AnnotationError, match="must be a string"):
        ann.parse({ann.SAMPLER_RATIO: 0.5})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", "0.25"), ("2", "2"), ("1.5", "1.5"), ("128Mi", str(128 * 2**20)), ("1G", "1000000000")],
)
def test_quantity_value(text: str, value: str) -> None:
    assert ann.quantity_value(text) == Decimal(value)


@given(st.text(max_size=30))
def test_parse_raises_only_annotation_errors(text: str) -> None:
    for annotation in ann.CONFIG_ANNOTATIONS:
        try:
            ann.parse({annotation: text})
        except ann.AnnotationError as exc:
            assert exc.annotation == annotation


def test_timeouts_and_limits_become_proxy_options_in_seconds() -> None:
    config = ann.parse(
        {
            ann.MAX_HEADER_BYTES: "131072",
            ann.PREFIX + "response-timeout": "2m",
            ann.PREFIX + "connect-timeout": "500ms",
            ann.PREFIX + "tcp-idle-timeout": "24h",
            ann.PREFIX + "idle-timeout": "90",
            ann.PREFIX + "request-header-timeout": "2.5s",
            ann.PREFIX + "upstream-idle-timeout": ".5",
        }
    )
    assert config.proxy_options == (
        ("--connect-timeout", "0.5"),
        ("--response-timeout", "120"),
        ("--request-header-timeout", "2.5"),
        ("--idle-timeout", "90"),
        ("--tcp-idle-timeout", "86400"),
        ("--upstream-idle-timeout", "0.5"),
        ("--max-header-bytes", "131072"),
    )
