"""`tracecar init` with real connections: where they land once the rules are in.

Every test runs for both backends (legacy through python-iptables, nft through
iptables-nft-restore) and both families, in fresh namespaces (see conftest.py for the layout).
"""

from __future__ import annotations

import pytest

from tests.interception.conftest import Mesh, target

pytestmark = pytest.mark.netns


@pytest.fixture(params=["legacy", "nft"])
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture(params=[4, 6], ids=["ipv4", "ipv6"])
def family(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


def init(mesh: Mesh, backend: str, family: int, *options: str) -> None:
    # IPv4 tests skip ip6tables to stay fast; IPv6 tests install both, as by default.
    only_v4 = ("--no-ipv6",) if family == 4 else ()
    mesh.init("--backend", backend, *only_v4, *options)


def names(answers: list[dict[str, object]]) -> list[object]:
    return [answer.get("name", answer.get("error")) for answer in answers]


def test_inbound_connections_land_on_the_inbound_listener(mesh: Mesh, backend: str, family: int) -> None:
    init(mesh, backend, family)
    pod_ip = mesh.pod.interfaces[0].address(family)
    [answer] = mesh.ask(mesh.client, target(pod_ip, 8080))
    assert answer == {"name": "inbound", "port": 15006, "original": [pod_ip, 8080]}


def test_outbound_connections_land_on_the_outbound_listener(mesh: Mesh, backend: str, family: int) -> None:
    init(mesh, backend, family)
    client_ip = mesh.client.interfaces[0].address(family)
    [answer] = mesh.ask(mesh.pod, target(client_ip, 9000))
    assert answer == {"name": "outbound", "port": 15001, "original": [client_ip, 9000]}


def test_the_proxy_uid_connects_directly_and_other_users_do_not(
    mesh: Mesh, backend: str, family: int
) -> None:
    init(mesh, backend, family)
    client = target(mesh.client.interfaces[0].address(family), 9000)
    assert names(mesh.ask(mesh.pod, client, uid=1337)) == ["client"]
    assert names(mesh.ask(mesh.pod, client, uid=1000)) == ["outbound"]


def test_a_custom_proxy_uid_replaces_the_default(mesh: Mesh, backend: str) -> None:
    init(mesh, backend, 4, "--proxy-uid", "2000")
    client = target(mesh.client.interfaces[0].address(4), 9000)
    assert names(mesh.ask(mesh.pod, client, uid=2000)) == ["client"]
    assert names(mesh.ask(mesh.pod, client, uid=1337)) == ["outbound"]


def test_loopback_traffic_of_the_app_is_left_alone(mesh: Mesh, backend: str, family: int) -> None:
    init(mesh, backend, family)
    loopback = "127.0.0.1" if family == 4 else "::1"
    own_ip = mesh.pod.interfaces[0].address(family)
    client = target(mesh.client.interfaces[0].address(family), 9000)
    answers = mesh.ask(mesh.pod, target(loopback, 8080), target(own_ip, 8080), client)
    assert names(answers) == ["app", "app", "outbound"]


def test_proxy_ports_and_excluded_inbound_ports_are_not_redirected(
    mesh: Mesh, backend: str, family: int
) -> None:
    init(mesh, backend, family, "--exclude-inbound-ports", "8081")
    pod_ip = mesh.pod.interfaces[0].address(family)
    ports = (8081, 15000, 15001, 8080)
    answers = mesh.ask(mesh.client, *(target(pod_ip, port) for port in ports))
    assert names(answers) == ["app", "admin", "outbound", "inbound"]


def test_excluded_outbound_ports_bypass_the_proxy(mesh: Mesh, backend: str, family: int) -> None:
    init(mesh, backend, family, "--exclude-outbound-ports", "9001")
    client_ip = mesh.client.interfaces[0].address(family)
    answers = mesh.ask(mesh.pod, target(client_ip, 9001), target(client_ip, 9000))
    assert names(answers) == ["client", "outbound"]


def test_excluded_outbound_cidrs_bypass_the_proxy(mesh: Mesh, backend: str, family: int) -> None:
    link = mesh.other.interfaces[0]
    init(mesh, backend, family, "--exclude-outbound-cidrs", f"{link.network(4)},{link.network(6)}")
    other = target(link.address(family), 9000)
    client = target(mesh.client.interfaces[0].address(family), 9000)
    assert names(mesh.ask(mesh.pod, other, client)) == ["other", "outbound"]


def test_only_included_outbound_cidrs_are_redirected(mesh: Mesh, backend: str, family: int) -> None:
    link = mesh.client.interfaces[0]
    init(mesh, backend, family, "--include-outbound-cidrs", f"{link.network(4)},{link.network(6)}")
    client = target(link.address(family), 9000)
    other = target(mesh.other.interfaces[0].address(family), 9000)
    assert names(mesh.ask(mesh.pod, client, other)) == ["outbound", "other"]
