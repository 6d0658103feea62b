"""Rule generation: configuration in, rules out; no root needed."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.interception.plan import parse_save, render_save
from proxy.interception.rules import (
    CHAINS,
    Family,
    InterceptionConfig,
    Rule,
    build_ruleset,
    build_rulesets,
    parse_cidrs,
    parse_include_cidrs,
    parse_ports,
)

DEFAULT_IPV4 = """\
*nat
:TRACECAR_INBOUND - [0:0]
:TRACECAR_IN_REDIRECT - [0:0]
:TRACECAR_OUTBOUND - [0:0]
:TRACECAR_REDIRECT - [0:0]
-A TRACECAR_INBOUND -p tcp -m tcp --dport 15006 -j RETURN
-A TRACECAR_INBOUND -p tcp -m tcp --dport 15001 -j RETURN
-A TRACECAR_INBOUND -p tcp -m tcp --dport 15000 -j RETURN
-A TRACECAR_INBOUND -p tcp -j TRACECAR_IN_REDIRECT
-A TRACECAR_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A TRACECAR_OUTBOUND -m owner --uid-owner 1337 -j RETURN
-A TRACECAR_OUTBOUND -o lo -j RETURN
-A TRACECAR_OUTBOUND -j TRACECAR_REDIRECT
-A TRACECAR_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A PREROUTING -p tcp -j TRACECAR_INBOUND
-A OUTPUT -p tcp -j TRACECAR_OUTBOUND
COMMIT
"""


def lines(config: InterceptionConfig, family: Family, chain: str) -> list[str]:
    ruleset = build_ruleset(config, family)
    return [" ".join(rule.args) for rule in ruleset.rules if rule.chain == chain]


def test_default_rules_in_iptables_save_form() -> None:
    assert render_save(build_ruleset(InterceptionConfig(), Family.IPV4)) == DEFAULT_IPV4


def test_ipv6_gets_the_same_rules_by_default() -> None:
    v4, v6 = build_rulesets(InterceptionConfig())
    assert (v4.family, v6.family) == (Family.IPV4, Family.IPV6)
    assert v4.rules == v6.rules
    assert v4.jumps == v6.jumps


def test_no_ipv6_builds_only_ipv4() -> None:
    rulesets = build_rulesets(InterceptionConfig(ipv6=False))
    assert [ruleset.family for ruleset in rulesets] == [Family.IPV4]


def test_ports_and_uid_come_from_the_config() -> None:
    config = InterceptionConfig(proxy_uid=2000, inbound_port=16006, outbound_port=16001)
    ruleset = build_ruleset(config, Family.IPV4)
    text = render_save(ruleset)
    assert "-A TRACECAR_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006" in text
    assert "-A TRACECAR_REDIRECT -p tcp -j REDIRECT --to-ports 16001" in text
    assert "--uid-owner 2000" in text
    assert "1337" not in text
    assert "15006" not in text


def test_excluded_inbound_ports_return_before_the_redirect_without_duplicates() -> None:
    config = InterceptionConfig(exclude_inbound_ports=(22, 15000, 22), admin_port=15020)
    dports = [
        "-p tcp -m tcp --dport 15006 -j RETURN",
        "-p tcp -m tcp --dport 15001 -j RETURN",
        "-p tcp -m tcp --dport 15020 -j RETURN",
        "-p tcp -m tcp --dport 22 -j RETURN",
        "-p tcp -m tcp --dport 15000 -j RETURN",
        "-p tcp -j TRACECAR_IN_REDIRECT",
    ]
    assert lines(config, Family.IPV4, "TRACECAR_INBOUND") == dports


def test_outbound_exclusions_come_after_uid_and_loopback_and_before_the_redirect() -> None:
    config = InterceptionConfig(
        exclude_outbound_ports=(5432,),
        exclude_outbound_cidrs=parse_cidrs("10.96.0.1/12,fd00:96::/64"),
    )
    assert lines(config, Family.IPV4, "TRACECAR_OUTBOUND") == [
        "-m owner --uid-owner 1337 -j RETURN",
        "-o lo -j RETURN",
        "-p tcp -m tcp --dport 5432 -j RETURN",
        "-d 10.96.0.0/12 -j RETURN",
        "-j TRACECAR_REDIRECT",
    ]
    assert lines(config, Family.IPV6, "TRACECAR_OUTBOUND")[3] == "-d fd00:96::/64 -j RETURN"


def test_include_cidrs_redirect_only_their_own_family() -> None:
    config = InterceptionConfig(include_outbound_cidrs=parse_cidrs("10.0.0.0/8,fd00::/8"))
    assert lines(config, Family.IPV4, "TRACECAR_OUTBOUND")[-1] == "-d 10.0.0.0/8 -j TRACECAR_REDIRECT"
    assert lines(config, Family.IPV6, "TRACECAR_OUTBOUND")[-1] == "-d fd00::/8 -j TRACECAR_REDIRECT"


def test_an_empty_include_list_redirects_no_outbound_traffic() -> None:
    config = InterceptionConfig(include_outbound_cidrs=())
    outbound = lines(config, Family.IPV4, "TRACECAR_OUTBOUND")
    assert not any("TRACECAR_REDIRECT" in line for line in outbound)


def test_hooks_send_only_tcp_to_tracecar_chains() -> None:
    ruleset = build_ruleset(InterceptionConfig(), Family.IPV6)
    assert ruleset.chains == CHAINS
    assert ruleset.jumps == (
        Rule("PREROUTING", ("-p", "tcp", "-j", "TRACECAR_INBOUND")),
        Rule("OUTPUT", ("-p", "tcp", "-j", "TRACECAR_OUTBOUND")),
    )


def test_rule_target() -> None:
    assert Rule("OUTPUT", ("-p", "tcp", "-j", "TRACECAR_OUTBOUND")).target == "TRACECAR_OUTBOUND"
    assert Rule("X", ("-j", "REDIRECT", "--to-ports", "1")).target == "REDIRECT"
    assert Rule("X", ("-g", "OTHER")).target == "OTHER"
    assert Rule("X", ("-p", "tcp")).target is None


def test_parse_ports() -> None:
    assert parse_ports("80, 8080,,443") == (80, 8080, 443)
    assert parse_ports("") == ()


@pytest.mark.parametrize("text", ["0", "65536", "http", "-1", "80-90"])
def test_parse_ports_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a TCP port"):
        parse_ports(text)


def test_parse_cidrs_normalises_like_iptables() -> None:
    assert [str(net) for net in parse_cidrs("10.1.2.3/8, 10.0.0.5,fd00::1/64")] == [
        "10.0.0.0/8",
        "10.0.0.5/32",
        "fd00::/64",
    ]


def test_parse_cidrs_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"not an IPv4 or IPv6 CIDR: '10\.0\.0\.0/33'"):
        parse_cidrs("10.0.0.0/33")


def test_include_star_means_everything() -> None:
    assert parse_include_cidrs("*") is None
    assert parse_include_cidrs("") == ()
    assert parse_include_cidrs("fd00::/8") == (ipaddress.ip_network("fd00::/8"),)


ports = st.lists(st.integers(1, 65535), max_size=4).map(tuple)
v4_nets = st.builds(
    lambda addr, prefix: ipaddress.ip_network(f"{addr}/{prefix}", strict=False),
    st.ip_addresses(v=4),
    st.integers(0, 32),
)
v6_nets = st.builds(
    lambda addr, prefix: ipaddress.ip_network(f"{addr}/{prefix}", strict=False),
    st.ip_addresses(v=6),
    st.integers(0, 128),
)
nets = st.lists(st.one_of(v4_nets, v6_nets), max_size=4).map(tuple)
# The three listener ports, distinct as InterceptionConfig requires.
listeners = st.lists(st.integers(1, 65535), min_size=3, max_size=3, unique=True)
configs = listeners.flatmap(
    lambda three: st.builds(
        InterceptionConfig,
        proxy_uid=st.integers(0, 2**31),
        inbound_port=st.just(three[0]),
        outbound_port=st.just(three[1]),
        admin_port=st.just(three[2]),
        exclude_inbound_ports=ports,
        exclude_outbound_ports=ports,
        include_outbound_cidrs=st.none() | nets,
        exclude_outbound_cidrs=nets,
    )
)


@given(configs, st.sampled_from(Family))
def test_rendered_rules_read_back_unchanged(config: InterceptionConfig, family: Family) -> None:
    ruleset = build_ruleset(config, family)
    state = parse_save(render_save(ruleset))
    assert state.chains == frozenset(ruleset.chains)
    assert state.rules == (*ruleset.rules, *ruleset.jumps)


@given(configs, st.sampled_from(Family))
def test_exclusions_always_precede_redirects(config: InterceptionConfig, family: Family) -> None:
    ruleset = build_ruleset(config, family)
    for chain, redirect in (("TRACECAR_INBOUND", "TRACECAR_IN_REDIRECT"),
                            ("TRACECAR_OUTBOUND", "TRACECAR_REDIRECT")):  # fmt: skip
        targets = [rule.target for rule in ruleset.rules if rule.chain == chain]
        first_redirect = targets.index(redirect) if redirect in targets else len(targets)
        assert set(targets[:first_redirect]) <= {"RETURN"}
        assert set(targets[first_redirect:]) <= {redirect}
    uid_rule = next(rule for rule in ruleset.rules if rule.chain == "TRACECAR_OUTBOUND")
    assert uid_rule.args == ("-m", "owner", "--uid-owner", str(config.proxy_uid), "-j", "RETURN")
