"""`tracecar init` and the nat table: dry run, idempotency, cleanup, backend choice and errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from proxy.interception.backend import tool
from proxy.interception.rules import Family
from tests.interception.conftest import TRACECAR, InitPod

pytestmark = pytest.mark.netns

BACKENDS = ("legacy", "nft")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def tracecar_rules(text: str) -> Counter[str]:
    """The `-A` lines that belong to tracecar: rules in its chains and jumps into them."""
    return Counter(line for line in text.splitlines() if line.startswith("-A ") and "TRACECAR_" in line)


def snapshot(init_pod: InitPod) -> dict[tuple[str, Family], str]:
    return {(b, family): init_pod.nat(b, family) for b in BACKENDS for family in Family}


def dry_run_blocks(output: str) -> dict[Family, str]:
    v4, _, v6 = output.partition("# IPv6")
    return {Family.IPV4: v4, Family.IPV6: v6}


def test_dry_run_prints_what_init_installs_and_changes_nothing(init_pod: InitPod, backend: str) -> None:
    options = ("--backend", backend, "--exclude-outbound-ports", "9001")
    before = snapshot(init_pod)
    printed = init_pod.init(*options, "--dry-run").stdout
    assert snapshot(init_pod) == before
    assert "-A TRACECAR_OUTBOUND -p tcp -m tcp --dport 9001 -j RETURN" in printed
    init_pod.init(*options)
    for family, block in dry_run_blocks(printed).items():
        expected = tracecar_rules(block)
        assert len(expected) == 12
        assert tracecar_rules(init_pod.nat(backend, family)) == expected


def test_running_init_twice_leaves_one_copy_of_each_rule(init_pod: InitPod, backend: str) -> None:
    init_pod.init("--backend", backend)
    once = {family: init_pod.nat(backend, family) for family in Family}
    init_pod.init("--backend", backend)
    for family in Family:
        twice = init_pod.nat(backend, family)
        assert twice == once[family]
        assert set(tracecar_rules(twice).values()) == {1}


def test_running_init_again_with_other_options_replaces_the_rules(init_pod: InitPod, backend: str) -> None:
    init_pod.init("--backend", backend, "--exclude-outbound-ports", "9001", "--inbound-port", "16006")
    init_pod.init("--backend", backend, "--exclude-outbound-ports", "9002")
    for family in Family:
        rules = init_pod.nat(backend, family)
        assert "--dport 9002" in rules
        assert "9001" not in rules
        assert "16006" not in rules


def add_foreign_rules(init_pod: InitPod, backend: str) -> None:
    """Rules someone else owns, in the chains init hooks into; cleanup must keep them."""
    for family in Family:
        iptables = tool(family, backend)
        init_pod.pod.run(iptables, "-t", "nat", "-N", "MESH_OTHER")
        init_pod.pod.run(iptables, "-t", "nat", "-A", "OUTPUT", "-p", "udp", "-j", "MESH_OTHER")
        rule = ("-p", "tcp", "--dport", "22", "-j", "RETURN")
        init_pod.pod.run(iptables, "-t", "nat", "-A", "PREROUTING", *rule)


def test_cleanup_leaves_the_nat_table_as_it_was(init_pod: InitPod, backend: str) -> None:
    add_foreign_rules(init_pod, backend)
    before = {family: init_pod.nat(backend, family) for family in Family}
    init_pod.init("--backend", backend)
    assert all("TRACECAR_" in init_pod.nat(backend, family) for family in Family)
    result = init_pod.init("--backend", backend, "--cleanup")
    assert "removed" in result.stdout
    assert {family: init_pod.nat(backend, family) for family in Family} == before


def test_cleanup_without_rules_is_a_no_op(init_pod: InitPod, backend: str) -> None:
    before = {family: init_pod.nat(backend, family) for family in Family}
    init_pod.init("--backend", backend, "--cleanup")
    assert {family: init_pod.nat(backend, family) for family in Family} == before


def test_auto_picks_legacy_where_legacy_tables_hold_rules(init_pod: InitPod) -> None:
    init_pod.pod.run("iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    assert "(legacy backend)" in init_pod.init().stdout
    for family in Family:
        assert "TRACECAR_INBOUND" in init_pod.nat("legacy", family)
        assert "TRACECAR_INBOUND" not in init_pod.nat("nft", family)


def test_auto_picks_nft_on_a_node_without_legacy_rules(init_pod: InitPod) -> None:
    assert "(nft backend)" in init_pod.init().stdout
    for family in Family:
        assert "TRACECAR_INBOUND" in init_pod.nat("nft", family)
        assert "TRACECAR_INBOUND" not in init_pod.nat("legacy", family)


def test_without_cap_net_admin_init_fails_and_says_why(init_pod: InitPod, backend: str) -> None:
    before = snapshot(init_pod)
    # Root without CAP_NET_ADMIN: what an init container gets when the capability is missing.
    drop = ("setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin")
    result = init_pod.pod.run(*drop, *TRACECAR, "init", "--backend", backend, check=False)
    assert result.returncode == 1
    assert "needs root (CAP_NET_ADMIN)" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(init_pod) == before


def test_missing_iptables_nft_tools_are_reported(init_pod: InitPod, tmp_path: Path) -> None:
    empty_path = f"PATH={tmp_path}"
    result = init_pod.pod.run("env", empty_path, *TRACECAR, "init", "--backend", "nft", check=False)
    assert result.returncode == 1
    assert "iptables-nft-save not found: install the iptables package" in result.stderr


def test_missing_xtables_extensions_are_reported(init_pod: InitPod, tmp_path: Path) -> None:
    no_extensions = f"XTABLES_LIBDIR={tmp_path}"
    result = init_pod.pod.run("env", no_extensions, *TRACECAR, "init", "--backend", "legacy", check=False)
    assert result.returncode == 1
    assert "python-iptables (IPv4): can't find" in result.stderr
    assert f"are the xtables extensions in {tmp_path}?" in result.stderr
    assert "Traceback" not in result.stderr
