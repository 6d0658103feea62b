"""Head sampling per OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (OpenTelemetry SDK environment spec)."""

from __future__ import annotations

import pytest

from propagation import ConfigError, Extracted, SpanContext, next_context, sampling
from propagation.context import SAMPLED
from propagation.ids import new_trace_id

PARENT_SAMPLED = Extracted(SpanContext(b"1" * 32, b"2" * 16, SAMPLED), True)
PARENT_NOT_SAMPLED = Extracted(SpanContext(b"1" * 32, b"2" * 16, 0), False)
NO_PARENT = Extracted()


def decide(env: dict[str, str], extracted: Extracted) -> bool:
    return next_context(extracted, sampling.from_env(env)).sampled


def test_default_is_parentbased_always_on() -> None:
    """Default sampler: parentbased_always_on."""
    assert repr(sampling.from_env({})) == "parentbased_always_on"
    assert decide({}, NO_PARENT)
    assert decide({}, PARENT_SAMPLED)
    assert not decide({}, PARENT_NOT_SAMPLED)


def test_always_on_and_off_ignore_the_parent() -> None:
    """always_on / always_off: the decision is fixed."""
    assert decide({"OTEL_TRACES_SAMPLER": "always_on"}, PARENT_NOT_SAMPLED)
    assert not decide({"OTEL_TRACES_SAMPLER": "always_off"}, PARENT_SAMPLED)


def test_parentbased_always_off_roots() -> None:
    """parentbased_always_off: roots are dropped, children follow the parent."""
    env = {"OTEL_TRACES_SAMPLER": "parentbased_always_off"}
    assert not decide(env, NO_PARENT)
    assert decide(env, PARENT_SAMPLED)


def test_ratio_samples_the_expected_share() -> None:
    """traceidratio: about ratio of all traces are sampled."""
    sampler = sampling.from_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"})
    hits = sum(sampler.should_sample(new_trace_id(), None) for _ in range(20_000))
    assert 4_500 < hits < 5_500


def test_ratio_is_consistent_across_sidecars() -> None:
    """The decision depends only on the trace id, with the OpenTelemetry SDK's rule (lower 64 bits
    against ratio * 2**64), so every sidecar and SDK-instrumented service agrees."""
    env = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}
    one, two = sampling.from_env(env), sampling.from_env(env)
    assert one.should_sample(b"f" * 16 + b"7" + b"f" * 15, None)  # lower half 0x7fff... < 2**63
    assert not one.should_sample(b"0" * 16 + b"8" + b"0" * 15, None)  # exactly 2**63: out
    for _ in range(1000):
        trace_id = new_trace_id()
        assert one.should_sample(trace_id, None) == two.should_sample(trace_id, None)


def test_parentbased_ratio_follows_parent_and_samples_roots_by_ratio() -> None:
    """parentbased_traceidratio: parent decision when there is one, ratio for roots."""
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    assert decide(env, PARENT_SAMPLED)
    assert not decide(env, NO_PARENT)


def test_deferred_b3_decision_uses_the_root_sampler_on_the_upstream_trace() -> None:
    """B3 ids without a sampling state: the receiver decides, keeping the trace id."""
    deferred = Extracted(SpanContext(b"1" * 32, b"2" * 16, 0), None)
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1"}
    child = next_context(deferred, sampling.from_env(env))
    assert child.sampled
    assert child.trace_id == b"1" * 32


def test_ratio_argument_default_is_one() -> None:
    """OTEL_TRACES_SAMPLER_ARG unset for a ratio sampler: 1.0."""
    assert decide({"OTEL_TRACES_SAMPLER": "traceidratio"}, NO_PARENT)


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_SAMPLER": "jaeger_remote"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-0.1"},
    ],
)
def test_bad_configuration_is_a_clear_error(env: dict[str, str]) -> None:
    """A sampler setting we cannot honour names the variable and the value."""
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER"):
        sampling.from_env(env)


def test_debug_is_carried_to_the_child() -> None:
    """B3 debug is propagated so the next B3 hop sees it too."""
    child = next_context(Extracted(None, True, debug=True), sampling.from_env({}))
    assert child.debug
    assert child.sampled
