"""The nat rules `tracecar init` installs, as data: a pure function of the configuration.

Layout (one rule set per address family, all in the nat table):

    PREROUTING -p tcp -> TRACECAR_INBOUND: RETURN for the proxy's own and excluded ports,
        else -> TRACECAR_IN_REDIRECT: REDIRECT to the inbound port
    OUTPUT -p tcp -> TRACECAR_OUTBOUND: RETURN for the proxy's uid, lo, excluded ports and CIDRs,
        else (or only for included CIDRs) -> TRACECAR_REDIRECT: REDIRECT to the outbound port

Every argv is in the canonical form iptables-save prints, so a rule read back from the kernel
compares equal to the rule generated here.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_T = TypeVar("_T")

INBOUND = "TRACECAR_INBOUND"
IN_REDIRECT = "TRACECAR_IN_REDIRECT"
OUTBOUND = "TRACECAR_OUTBOUND"
REDIRECT = "TRACECAR_REDIRECT"
CHAINS = (INBOUND, IN_REDIRECT, OUTBOUND, REDIRECT)

DEFAULT_PROXY_UID = 1337
DEFAULT_INBOUND_PORT = 15006
DEFAULT_OUTBOUND_PORT = 15001
DEFAULT_ADMIN_PORT = 15000


class Family(enum.Enum):
    IPV4 = 4
    IPV6 = 6

    @property
    def label(self) -> str:
        return f"IPv{self.value}"


@dataclass(frozen=True)
class Rule:
    """One iptables rule: the chain it lives in and the argv that follows `-A CHAIN`."""

    chain: str
    args: tuple[str, ...]

    @property
    def target(self) -> str | None:
        """The `-j` target (a chain name or an extension such as REDIRECT), if any."""
        for flag, value in zip(self.args, self.args[1:], strict=False):
            if flag in ("-j", "-g"):
                return value
        return None


@dataclass(frozen=True)
class RuleSet:
    """What init owns in one family's nat table: its chains, their rules, the hooks into them."""

    family: Family
    chains: tuple[str, ...]
    rules: tuple[Rule, ...]
    jumps: tuple[Rule, ...]


MAX_ID = 2**32 - 2  # uid_t and gid_t are 32 bits, and -1 means "unchanged" to setresuid


@dataclass(frozen=True)
class InterceptionConfig:
    proxy_uid: int = DEFAULT_PROXY_UID
    inbound_port: int = DEFAULT_INBOUND_PORT
    outbound_port: int = DEFAULT_OUTBOUND_PORT
    admin_port: int = DEFAULT_ADMIN_PORT
    exclude_inbound_ports: tuple[int, ...] = ()
    exclude_outbound_ports: tuple[int, ...] = ()
    # None redirects every destination; an empty tuple redirects none.
    include_outbound_cidrs: tuple[IPNetwork, ...] | None = None
    exclude_outbound_cidrs: tuple[IPNetwork, ...] = ()
    ipv6: bool = True

    def __post_init__(self) -> None:
        check_listener_ports(self.inbound_port, self.outbound_port, self.admin_port)

    @property
    def families(self) -> tuple[Family, ...]:
        return (Family.IPV4, Family.IPV6) if self.ipv6 else (Family.IPV4,)


def check_listener_ports(inbound: int, outbound: int, admin: int) -> None:
    """The proxy's three listeners need three ports: with one shared, SO_REUSEPORT would let both
    listeners bind it and hand connections to either, so inbound requests would pass as outbound."""
    if len({inbound, outbound, admin}) < 3:
        raise ValueError(
            f"--inbound-port, --outbound-port and --admin-port must be three different ports, "
            f"got {inbound}, {outbound} and {admin}"
        )


def build_rulesets(config: InterceptionConfig) -> tuple[RuleSet, ...]:
    return tuple(build_ruleset(config, family) for family in config.families)


def build_ruleset(config: InterceptionConfig, family: Family) -> RuleSet:
    rules = (
        *_inbound_rules(config),
        _redirect(IN_REDIRECT, config.inbound_port),
        *_outbound_rules(config, family),
        _redirect(REDIRECT, config.outbound_port),
    )
    jumps = (
        Rule("PREROUTING", ("-p", "tcp", "-j", INBOUND)),
        Rule("OUTPUT", ("-p", "tcp", "-j", OUTBOUND)),
    )
    return RuleSet(family=family, chains=CHAINS, rules=rules, jumps=jumps)


def _redirect(chain: str, port: int) -> Rule:
    return Rule(chain, ("-p", "tcp", "-j", "REDIRECT", "--to-ports", str(port)))


def _port_return(chain: str, port: int) -> Rule:
    return Rule(chain, ("-p", "tcp", "-m", "tcp", "--dport", str(port), "-j", "RETURN"))


def _inbound_rules(config: InterceptionConfig) -> list[Rule]:
    # The proxy's listeners are never redirected to themselves: SO_ORIGINAL_DST would name the
    # listener, and the proxy would forward the connection to itself.
    own = (config.inbound_port, config.outbound_port, config.admin_port)
    ports = _unique((*own, *config.exclude_inbound_ports))
    return [
        *(_port_return(INBOUND, port) for port in ports),
        Rule(INBOUND, ("-p", "tcp", "-j", IN_REDIRECT)),
    ]


def _outbound_rules(config: InterceptionConfig, family: Family) -> list[Rule]:
    rules = [
        # The proxy's own upstream connections go out as they are: redirecting them would loop.
        Rule(OUTBOUND, ("-m", "owner", "--uid-owner", str(config.proxy_uid), "-j", "RETURN")),
        # The application's loopback traffic, including to its own pod IP (routed over lo).
        Rule(OUTBOUND, ("-o", "lo", "-j", "RETURN")),
        *(_port_return(OUTBOUND, port) for port in _unique(config.exclude_outbound_ports)),
        *(
            Rule(OUTBOUND, ("-d", str(net), "-j", "RETURN"))
            for net in _of_family(config.exclude_outbound_cidrs, family)
        ),
    ]
    if config.include_outbound_cidrs is None:
        rules.append(Rule(OUTBOUND, ("-j", REDIRECT)))
        return rules
    rules.extend(
        Rule(OUTBOUND, ("-d", str(net), "-j", REDIRECT))
        for net in _of_family(config.include_outbound_cidrs, family)
    )
    return rules


def _of_family(nets: Iterable[IPNetwork], family: Family) -> list[IPNetwork]:
    return _unique(net for net in nets if net.version == family.value)


def _unique(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


def parse_ports(text: str) -> tuple[int, ...]:
    """`"80,8080"` -> `(80, 8080)`; an empty string is no ports."""
    ports = []
    for item in _split(text):
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            raise ValueError(f"not a TCP port (1-65535): {item!r}")
        ports.append(int(item))
    return tuple(ports)


def parse_cidrs(text: str) -> tuple[IPNetwork, ...]:
    """`"10.0.0.0/8,fd00::/8,10.1.2.3"` -> networks; host bits are dropped as iptables does."""
    nets = []
    for item in _split(text):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IPv4 or IPv6 CIDR: {item!r}") from None
    return tuple(nets)


def parse_include_cidrs(text: str) -> tuple[IPNetwork, ...] | None:
    """Like `parse_cidrs`, and `*` means every destination."""
    return None if text.strip() == "*" else parse_cidrs(text)


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
