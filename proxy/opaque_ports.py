"""Ports whose traffic is never sniffed: well-known non-HTTP protocols go straight to the opaque relay.

Sniffing is safe for every protocol (server-first ones included, see `proxy.accept`), but a port
known to carry a database or broker skips even the short wait and is relayed from its first byte.
"""

from __future__ import annotations

# SSH, SMTP, LDAP, SMTPS, submission, LDAPS, MySQL, NATS, PostgreSQL, AMQP, Redis, Kafka, memcached, MongoDB
DEFAULT_OPAQUE_PORTS = frozenset(
    {22, 25, 389, 465, 587, 636, 3306, 4222, 5432, 5672, 6379, 9092, 11211, 27017}
)


def parse_ports(value: str) -> frozenset[int]:
    """`--opaque-ports`: comma-separated ports or ranges (`6379,7000-7010`); "" or "none" for none."""
    value = value.strip()
    if value in ("", "none"):
        return frozenset()
    ports: set[int] = set()
    for item in value.split(","):
        low, dash, high = item.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"--opaque-ports: {item.strip()!r} is not a port or a LOW-HIGH range")
        first, last = int(low), int(high) if dash else int(low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"--opaque-ports: {item.strip()!r} is outside 1-65535 or reversed")
        ports.update(range(first, last + 1))
    return frozenset(ports)


def format_ports(ports: frozenset[int]) -> str:
    return ",".join(str(port) for port in sorted(ports)) or "none"
