"""Which connections the eBPF fallback reports: only those the proxy does not see. Pure.

The proxy sees what iptables redirects to it; the rest is ours. `InterceptionConfig` is the same
configuration `tracecar init` installs, so both sides agree on what is redirected:
- the proxy's own sockets (its uid, its listening ports) and local clients of its ports never are;
- an accepted connection from inside the pod (loopback, or the pod's own address) is either the
  proxy forwarding an inbound request or a local client, whose own side is reported: skipped;
- any other accepted connection reached the application directly (an excluded inbound port);
- an outbound connection is reported unless the OUTPUT rules redirect it: loopback and the pod's own
  address (routed over `lo`), excluded ports and CIDRs, destinations outside the included CIDRs,
  IPv6 when init installed no ip6tables rules.
With `redirection="none"` (no iptables: hostNetwork, a node-level agent) nothing is redirected.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from proxy.ebpf.events import Opened
from proxy.interception.rules import InterceptionConfig

REDIRECTIONS = ("iptables", "none")


@dataclass(frozen=True)
class Policy:
    interception: InterceptionConfig = field(default_factory=InterceptionConfig)
    redirection: str = "iptables"
    netns: int = 0  # 0: every network namespace

    def __post_init__(self) -> None:
        if self.redirection not in REDIRECTIONS:
            raise ValueError(f"redirection must be one of {', '.join(REDIRECTIONS)}: {self.redirection!r}")

    @property
    def proxy_ports(self) -> tuple[int, ...]:
        config = self.interception
        return (config.inbound_port, config.outbound_port, config.admin_port)


def reported(policy: Policy, opened: Opened) -> bool:
    """True when the proxy does not see this connection, so the eBPF path must report it."""
    if policy.netns and opened.netns != policy.netns:
        return False
    if opened.uid == policy.interception.proxy_uid or opened.local[1] in policy.proxy_ports:
        return False
    within_pod = _within_pod(opened)
    if within_pod and opened.remote[1] in policy.proxy_ports:
        return False  # a local client of the proxy's own listeners: a health check, a scrape
    if not opened.outbound:
        return not within_pod
    return policy.redirection == "none" or within_pod or not _redirected(policy.interception, opened)


def _within_pod(opened: Opened) -> bool:
    remote = ipaddress.ip_address(opened.remote[0])
    return remote.is_loopback or opened.remote[0] == opened.local[0]


def _redirected(config: InterceptionConfig, opened: Opened) -> bool:
    """What the OUTPUT chain of `proxy.interception.rules` does with this destination."""
    address, port = ipaddress.ip_address(opened.remote[0]), opened.remote[1]
    if address.version == 6 and not config.ipv6:
        return False
    if port in config.exclude_outbound_ports:
        return False
    if any(address in net for net in config.exclude_outbound_cidrs if net.version == address.version):
        return False
    if config.include_outbound_cidrs is None:
        return True
    return any(address in net for net in config.include_outbound_cidrs if net.version == address.version)
