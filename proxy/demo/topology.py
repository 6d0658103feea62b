"""The demo's network: one namespace per service, joined by a bridge, reachable from the root namespace.

    tcdemo-frontend  tcdemo-checkout  tcdemo-inventory  tcdemo-redis      each: eth0 10.177.0.1x/24
            \\              |               |               /
             +------------ br0 in tcdemo-hub -------------+
                                  |
                        tcdemo0 in the root namespace: 10.177.0.1/24
                        (the demo process: traffic driver, collector, web page)

Planning is pure (`plan`, `setup_commands`, `hosts_file`): names, addresses and the `ip` argv lists,
tested without root. `build` applies the plan and `remove` undoes it; `remove` also clears what a
killed run left behind, since every name starts with the demo's prefix. `ip netns exec` bind-mounts
`/etc/netns/<namespace>/hosts` over /etc/hosts, which is how the applications find each other by name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "tcdemo"
HUB = f"{PREFIX}-hub"
BRIDGE = "br0"
HOST_LINK = f"{PREFIX}0"  # the root namespace's end
HOST_PEER = "tcd-host"  # its other end, on the bridge
SUBNET = ipaddress.IPv4Network("10.177.0.0/24")
HOST_ADDRESS = ipaddress.IPv4Address("10.177.0.1")
NETNS_DIR = Path("/run/netns")
NETNS_ETC = Path("/etc/netns")
LINK_READY_S = 5.0


class TopologyError(RuntimeError):
    """A step of building the network failed; the message is `ip`'s own."""


@dataclass(frozen=True)
class Node:
    service: str
    namespace: str
    address: ipaddress.IPv4Address
    hub_link: str  # its veth end on the bridge (at most 15 characters, the kernel's IFNAMSIZ - 1)


@dataclass(frozen=True)
class Plan:
    nodes: tuple[Node, ...]

    def node(self, service: str) -> Node:
        return next(node for node in self.nodes if node.service == service)


def plan(services: tuple[str, ...]) -> Plan:
    """Addresses .10, .11, ... in service order."""
    nodes = tuple(
        Node(service, f"{PREFIX}-{service}", SUBNET.network_address + 10 + index, f"tcd-{service}"[:15])
        for index, service in enumerate(services)
    )
    return Plan(nodes)


def setup_commands(network: Plan) -> list[list[str]]:
    """The `ip` invocations that build the network, in order."""
    prefix = f"/{SUBNET.prefixlen}"
    commands = [
        ["netns", "add", HUB],
        ["-n", HUB, "link", "add", BRIDGE, "type", "bridge"],
        ["-n", HUB, "link", "set", BRIDGE, "up"],
        ["link", "add", HOST_LINK, "type", "veth", "peer", "name", HOST_PEER, "netns", HUB],
        ["addr", "add", f"{HOST_ADDRESS}{prefix}", "dev", HOST_LINK],
        ["link", "set", HOST_LINK, "up"],
        ["-n", HUB, "link", "set", HOST_PEER, "master", BRIDGE, "up"],
    ]
    for node in network.nodes:
        ns = node.namespace
        commands += [
            ["netns", "add", ns],
            ["-n", ns, "link", "set", "lo", "up"],
            ["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", node.hub_link, "netns", HUB],
            ["-n", ns, "addr", "add", f"{node.address}{prefix}", "dev", "eth0"],
            ["-n", ns, "link", "set", "eth0", "up"],
            ["-n", HUB, "link", "set", node.hub_link, "master", BRIDGE, "up"],
        ]
    return commands


def hosts_file(network: Plan) -> str:
    lines = ["127.0.0.1 localhost", f"{HOST_ADDRESS} demo-host"]
    lines += [f"{node.address} {node.service}" for node in network.nodes]
    return "\n".join(lines) + "\n"


def ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise TopologyError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def subnet_taken() -> str | None:
    """The interface (other than a stale demo link) that already has an address in SUBNET, if any."""
    for line in ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[1] == HOST_LINK:
            continue
        if ipaddress.IPv4Interface(fields[3]).network.overlaps(SUBNET):
            return fields[1]
    return None


def build(network: Plan) -> None:
    for args in setup_commands(network):
        ip(*args)
    text = hosts_file(network)
    for node in network.nodes:
        directory = NETNS_ETC / node.namespace
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts").write_text(text)
    for node in network.nodes:
        _wait_until_up(node.namespace, "eth0")
    _wait_until_up(None, HOST_LINK)


def _wait_until_up(namespace: str | None, link: str) -> None:
    # A new veth drops what it is given until the kernel attaches its qdisc; the first SYN would
    # then be retried a second later.
    where = ["-n", namespace] if namespace else []
    deadline = time.monotonic() + LINK_READY_S
    while True:
        shown = ip(*where, "link", "show", "dev", link)
        if "qdisc noop" not in shown and "state UP" in shown:
            return
        if time.monotonic() > deadline:
            raise TopologyError(f"{link} in {namespace or 'the root namespace'} did not come up")
        time.sleep(0.02)


def leftovers() -> list[str]:
    """The demo's namespaces that exist now (a run in progress, or one that was killed)."""
    return sorted(path.name for path in NETNS_DIR.glob(f"{PREFIX}-*"))


def remove() -> list[str]:
    """Kill every process in the demo's namespaces and delete them, the root link and the hosts
    files. Safe to call at any point, and when nothing is there. Returns the namespaces removed."""
    removed = leftovers()
    for namespace in removed:
        _kill_processes(namespace)
    for namespace in removed:
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, check=False)
    subprocess.run(["ip", "link", "delete", HOST_LINK], capture_output=True, check=False)
    for directory in NETNS_ETC.glob(f"{PREFIX}-*"):
        shutil.rmtree(directory, ignore_errors=True)
    return removed


def _kill_processes(namespace: str) -> None:
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
    for pid in listed.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
