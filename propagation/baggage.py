"""W3C Baggage (https://www.w3.org/TR/baggage/): parsed, bounded and passed through.

Members are kept byte for byte as received (minus surrounding whitespace), so properties and
percent-encoding reach the next hop untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from urllib.parse import unquote

from propagation.headers import OWS

MAX_MEMBERS = 64  # W3C Baggage #limits
MAX_BYTES = 8192  # W3C Baggage #limits: the whole baggage-string

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 9110 token
_VALUE = rb"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"  # baggage-octet
_PROPERTY = rb"[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*" + _VALUE + rb")?"
_MEMBER = re.compile(rb"(" + _TOKEN + rb")[ \t]*=[ \t]*(" + _VALUE + rb")(?:" + _PROPERTY + rb")*")


class Baggage:
    """Valid members in order, within the limits."""

    __slots__ = ("_members",)

    def __init__(self, members: tuple[bytes, ...] = ()) -> None:
        self._members = members

    def __len__(self) -> int:
        return len(self._members)

    def __bool__(self) -> bool:
        return bool(self._members)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Baggage) and self._members == other._members

    def __hash__(self) -> int:
        return hash(self._members)

    def __repr__(self) -> str:
        return f"Baggage({self.to_header().decode()!r})"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(key, percent-decoded value) pairs; properties are kept on the wire but not listed."""
        for member in self._members:
            match = _MEMBER.fullmatch(member)
            if match is not None:  # always: members are validated on the way in
                yield match[1].decode(), unquote(match[2].decode(), errors="replace")

    def get(self, key: str) -> str | None:
        return next((value for name, value in self if name == key), None)

    def to_header(self) -> bytes:
        return b",".join(self._members)


EMPTY = Baggage()


def parse(values: Sequence[bytes]) -> Baggage:
    """Combine every `baggage` header; keep valid members while within 64 members and 8192 bytes.

    An invalid member is dropped alone (the spec has no rule that poisons the whole header);
    members past either limit are dropped whole, never cut (#limits).
    """
    kept: list[bytes] = []
    size = -1  # the first member needs no comma
    for value in values:
        for part in value.split(b","):
            member = part.strip(OWS)
            if not member or _MEMBER.fullmatch(member) is None:
                continue
            if len(kept) == MAX_MEMBERS or size + 1 + len(member) > MAX_BYTES:
                return Baggage(tuple(kept))
            kept.append(member)
            size += 1 + len(member)
    return Baggage(tuple(kept))
