"""The pod helper the integration tests stand on: addresses, traffic between pods, and cleanup."""

from __future__ import annotations

import pytest

from tests.netns import PREFIX, Topology, delete_namespace, ip, remove_stale_namespaces

pytestmark = pytest.mark.netns


def namespaces() -> set[str]:
    return {line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()}


def test_linked_pods_reach_each_other_over_ipv4_and_ipv6() -> None:
    with Topology() as topo:
        a, b = topo.pod("a"), topo.pod("b")
        link = topo.link(a, b)
        assert (link.a.address(4), link.b.address(6)) == ("10.200.1.1", "fd00:200:1::2")
        shown = b.run("ip", "-o", "addr", "show", "dev", "eth0").stdout
        assert "10.200.1.2/24" in shown
        assert "fd00:200:1::2/64" in shown
        reply = a.run("ip", "-6", "route", "get", link.b.address(6)).stdout
        assert "dev eth0" in reply
        assert a.run("cat", "/proc/sys/net/ipv6/conf/all/accept_dad").stdout.strip() == "0"


def test_everything_is_removed_even_when_the_test_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), Topology() as topo:
        pod = topo.pod("pod")
        pod.spawn("sleep", "600")
        created = pod.name
        assert created in namespaces()
        raise RuntimeError("boom")
    assert created not in namespaces()


def test_namespaces_of_dead_test_runs_are_removed() -> None:
    dead = f"{PREFIX}-999999999-1-leftover"
    ip("netns", "add", dead)
    try:
        assert dead in remove_stale_namespaces()
        assert dead not in namespaces()
    finally:
        delete_namespace(dead)


def test_commands_run_inside_the_pod_and_as_another_user() -> None:
    with Topology() as topo:
        pod = topo.pod("pod")
        assert pod.run("ip", "-o", "link").stdout.count("\n") == 1
        assert pod.run("id", "-u", uid=1337).stdout.strip() == "1337"
        failed = pod.run("false", check=False)
        assert failed.returncode == 1
