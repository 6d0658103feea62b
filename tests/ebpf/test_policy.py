"""Only what the proxy does not see is reported: the policy mirrors `tracecar init`'s rules."""

from __future__ import annotations

import ipaddress

import pytest

from proxy.ebpf.events import Opened
from proxy.ebpf.policy import Policy, reported
from proxy.interception.rules import InterceptionConfig

POD = "10.1.0.5"


def _opened(
    remote: tuple[str, int], outbound: bool = True, uid: int = 1000, local_port: int = 40000
) -> Opened:
    return Opened((1, 1), outbound, uid, 7, (POD, local_port), remote, False)


def _policy(**config: object) -> Policy:
    return Policy(InterceptionConfig(**config), "iptables", netns=7)  # type: ignore[arg-type]


def test_redirected_outbound_traffic_belongs_to_the_proxy_and_excluded_ports_to_ebpf() -> None:
    policy = _policy(exclude_outbound_ports=(6379,))
    assert not reported(policy, _opened(("10.2.0.9", 80)))
    assert reported(policy, _opened(("10.2.0.9", 6379)))


def test_cidrs_decide_as_the_output_chain_does() -> None:
    excluded = _policy(exclude_outbound_cidrs=(ipaddress.ip_network("10.9.0.0/16"),))
    assert reported(excluded, _opened(("10.9.3.4", 80)))
    included = _policy(include_outbound_cidrs=(ipaddress.ip_network("10.2.0.0/16"),))
    assert not reported(included, _opened(("10.2.0.9", 80)))
    assert reported(included, _opened(("192.0.2.1", 80)))
    assert reported(included, _opened(("2001:db8::1", 80)))  # no IPv6 network included


def test_ipv6_is_not_redirected_without_ip6tables_rules() -> None:
    assert not reported(_policy(), _opened(("2001:db8::1", 80)))
    assert reported(_policy(ipv6=False), _opened(("2001:db8::1", 80)))


def test_the_proxys_own_sockets_and_other_namespaces_are_never_reported() -> None:
    policy = _policy()
    assert not reported(policy, _opened(("10.2.0.9", 6379), uid=1337))
    assert not reported(policy, _opened(("10.2.0.9", 50000), outbound=False, local_port=15006))
    assert not reported(policy, _opened(("127.0.0.1", 15000)))  # a local scrape of its metrics
    other = Opened((1, 1), True, 1000, 8, (POD, 40000), ("127.0.0.1", 6379), False)
    assert not reported(policy, other)


@pytest.mark.parametrize("remote", ["127.0.0.1", POD, "::1"])
def test_a_connection_within_the_pod_is_reported_once_from_its_client_side(remote: str) -> None:
    policy = _policy()
    assert reported(policy, _opened((remote, 6379)))  # over lo: never redirected
    assert not reported(policy, _opened((remote, 50000), outbound=False, local_port=6379))


def test_inbound_connections_from_outside_reached_the_application_directly() -> None:
    assert reported(_policy(exclude_inbound_ports=(6379,)), _opened(("10.2.0.9", 50000), False, 1000, 6379))


def test_without_redirection_everything_but_the_proxy_is_reported() -> None:
    policy = Policy(InterceptionConfig(), "none")
    assert reported(policy, _opened(("10.2.0.9", 80)))
    assert not reported(policy, _opened(("10.2.0.9", 80), uid=1337))


def test_an_unknown_redirection_is_refused() -> None:
    with pytest.raises(ValueError, match="redirection must be one of iptables, none"):
        Policy(redirection="ebpf")
