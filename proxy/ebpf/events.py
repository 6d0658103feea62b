"""bpftrace's output lines as typed events: pure, one line in, one event (or None) out.

bpftrace runs with `-f json`, so every line is its own JSON envelope: `{"type": "printf", "data":
...}` carries one of our events (see `program`), `lost_events` says the kernel dropped some, and
`attached_probes` that it started; the runner's wrapper adds `exited` when bpftrace ends. A line
that is none of these is an error: bad input never passes silently, and the runner counts it.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

Key = tuple[int, int]  # (socket address, start time): a connection, even when the address is reused


class EventError(ValueError):
    """A line that is not an event of ours."""


@dataclass(frozen=True, slots=True)
class Ready:
    """The program is attached and running."""


@dataclass(frozen=True, slots=True)
class Lost:
    count: int


@dataclass(frozen=True, slots=True)
class Exited:
    """bpftrace exited with this status (the runner's wrapper says so, then restarts it)."""

    code: int


@dataclass(frozen=True, slots=True)
class Opened:
    key: Key
    outbound: bool  # this side connected (active open); False: it accepted
    uid: int  # the socket's owner
    netns: int
    local: tuple[str, int]
    remote: tuple[str, int]
    capture: bool  # its payload is copied


@dataclass(frozen=True, slots=True)
class Failed:
    """An outbound connection that never got established."""

    opened: Opened
    end_ns: int
    errno: int


@dataclass(frozen=True, slots=True)
class Data:
    key: Key
    seq: int
    at_ns: int  # when the read or write returned (kernel monotonic clock)
    sent: bool  # written by this side; False: read by it
    length: int  # the whole read or write
    offset: int  # where `payload` starts within it
    payload: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    key: Key
    seq: int
    end_ns: int  # kernel monotonic clock, as every time in these events
    sent: int
    received: int
    reset: int  # 0 none, 1 received, 2 sent, 3 aborted (closed without the FIN handshake)
    errno: int


Event = Ready | Lost | Exited | Opened | Failed | Data | Closed


def parse(line: str) -> Event | None:
    """The event a line carries; None for envelopes that carry none (e.g. `attached_probes`)."""
    try:
        envelope = json.loads(line)
        kind = envelope["type"]
        if kind == "lost_events":
            return Lost(int(envelope["data"]["events"]))
        if kind == "exited":
            return Exited(int(envelope["data"]["code"]))
        if kind != "printf":
            return None
        return _event(envelope["data"])
    except (ValueError, KeyError, TypeError) as error:
        raise EventError(f"not a bpftrace event line ({error}): {line[:200]!r}") from None


def _event(text: str) -> Event:
    head, _, tail = text.rstrip("\n").partition(" ")
    fields: dict[str, Any] = json.loads(head)
    name = fields["e"]
    if name == "ready":
        return Ready()
    key = (int(fields["sk"]), int(fields["t"]))
    if name == "data":
        return Data(
            key, fields["seq"], fields["at"], fields["dir"] == "tx", fields["len"], fields["off"], _hex(tail)
        )
    if name == "close":
        return Closed(
            key, fields["seq"], fields["end"], fields["tx"], fields["rx"], fields["rst"], fields["err"]
        )
    opened = Opened(
        key,
        fields["dir"] == "out",
        fields["uid"],
        fields["ns"],
        (_address(fields["src"]), fields["sport"]),
        (_address(fields["dst"]), fields["dport"]),
        bool(fields["cap"]),
    )
    if name == "open":
        return opened
    if name == "failed":
        return Failed(opened, fields["end"], fields["err"])
    raise ValueError(f"unknown event {name!r}")


def _hex(escaped: str) -> bytes:
    """`\\x2a\\x33` (bpftrace's `%rx`) -> b"*3"."""
    if len(escaped) % 4 or escaped[::4] != "\\" * (len(escaped) // 4):
        raise ValueError("payload is not \\xNN escapes")
    return bytes.fromhex(escaped.replace("\\x", ""))


def _address(text: str) -> str:
    """IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4 peer) becomes the IPv4 address."""
    if text.count(".") == 3 and text.replace(".", "").isdigit():
        return text  # bpftrace's ntop() of an IPv4 address: already canonical
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
