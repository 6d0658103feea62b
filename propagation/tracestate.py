"""W3C `tracestate` (Trace Context Level 2 #tracestate-header).

A `TraceState` holds the validated, normalised header value as bytes: the proxy forwards tracestate
far more often than it reads it, so members are only split out when someone asks for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from propagation.headers import OWS

MAX_MEMBERS = 32  # #list
MAX_HEADER_CHARS = 512  # #tracestate-limits: what every vendor must propagate
LONG_ENTRY_CHARS = 128  # #tracestate-limits: entries over this are the first to go when trimming
# Thirty-two members of the largest size, with generous whitespace: anything longer cannot be valid
# and is refused before any regular expression runs over it.
MAX_INPUT_CHARS = MAX_MEMBERS * (1 + 256 + 1 + 256 + 8)

# #key, Level 2's simplified key: key = (lcalpha / DIGIT) 0*255(keychar).
_KEY = rb"[a-z0-9][a-z0-9_\-*/@]{0,255}"
# #value: value = 0*255(chr) nblk-chr; printable ASCII without "," and "=", no trailing space.
_VALUE = rb"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = _KEY + b"=" + _VALUE
# #list: list = list-member 0*31(OWS "," OWS list-member); empty members are allowed.
_LIST = re.compile(rb"[ \t]*(?:" + _MEMBER + rb")?(?:[ \t]*,[ \t]*(?:" + _MEMBER + rb")?)*[ \t]*")
# What almost every sender sends: no whitespace around members, no empty ones. The same grammar
# without backtracking (possessive repeats, the no-trailing-space rule as a lookbehind); the
# 256-character limits are checked separately, which is cheaper than bounded repeats.
_FAST_MEMBER = rb"[a-z0-9][a-z0-9_\-*/@]*+=[\x20-\x2b\x2d-\x3c\x3e-\x7e]*+(?<=[\x21-\x2b\x2d-\x3c\x3e-\x7e])"
_NORMAL_LIST = re.compile(_FAST_MEMBER + b"(?:," + _FAST_MEMBER + b")*+")
_PART_CHARS = 256  # longest key, and longest value
_KEY_ONLY = re.compile(_KEY)
_VALUE_ONLY = re.compile(_VALUE)


class TraceState:
    """An immutable, valid tracestate list, newest member on the left.

    Invalid input never builds one; it yields `EMPTY`.
    """

    __slots__ = ("_header",)

    def __init__(self, header: bytes = b"") -> None:
        self._header = header  # valid, normalised: members joined by "," with no whitespace around

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, str]]) -> TraceState:
        """Build from (key, value) text pairs, leftmost first; raises ValueError on an invalid pair."""
        state = EMPTY
        for key, value in reversed(pairs):
            state = state.with_entry(key, value)
        return state

    def __len__(self) -> int:
        return self._header.count(b"=")

    def __bool__(self) -> bool:
        return bool(self._header)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TraceState) and self._header == other._header

    def __hash__(self) -> int:
        return hash(self._header)

    def __repr__(self) -> str:
        return f"TraceState({self._header.decode()!r})"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for member in self._members():
            key, _, value = member.decode().partition("=")
            yield key, value

    def get(self, key: str) -> str | None:
        return next((value for name, value in self if name == key), None)

    def with_entry(self, key: str, value: str) -> TraceState:
        """The updated entry moves to the left; beyond 32 members the rightmost goes
        (#mutating-the-tracestate-field)."""
        raw_key, raw_value = key.encode(), value.encode()
        if not (_KEY_ONLY.fullmatch(raw_key) and _VALUE_ONLY.fullmatch(raw_value)):
            raise ValueError(f"invalid tracestate entry {key!r}={value!r}")
        prefix = raw_key + b"="
        kept = [m for m in self._members() if not m.startswith(prefix)]
        kept.insert(0, prefix + raw_value)
        return TraceState(b",".join(kept[:MAX_MEMBERS]))

    def without(self, key: str) -> TraceState:
        prefix = key.encode() + b"="
        return TraceState(b",".join(m for m in self._members() if not m.startswith(prefix)))

    def to_header(self) -> bytes:
        """The header value, trimmed by whole entries to at most 512 characters (#tracestate-limits)."""
        if len(self._header) <= MAX_HEADER_CHARS:
            return self._header
        return b",".join(_trim(self._members()))

    def _members(self) -> list[bytes]:
        return self._header.split(b",") if self._header else []


EMPTY = TraceState()


def _trim(members: list[bytes]) -> list[bytes]:
    """Drop entries over 128 characters first (rightmost first), then from the right, until it fits."""
    size = sum(map(len, members)) + len(members) - 1
    for index in range(len(members) - 1, -1, -1):
        if size <= MAX_HEADER_CHARS:
            break
        if len(members[index]) > LONG_ENTRY_CHARS:
            size -= len(members.pop(index)) + 1
    while size > MAX_HEADER_CHARS:
        size -= len(members.pop()) + 1
    return members


def parse(values: Sequence[bytes]) -> TraceState:
    """Parse every `tracestate` header of a request, combined in order (#combined-header-value).

    Any invalid member, a duplicated key, or more than 32 members discards the whole header
    (#list, #list-members); empty and whitespace-only members are allowed and dropped.
    """
    if not values:
        return EMPTY
    joined = _normalised(values[0] if len(values) == 1 else b",".join(values))
    if not joined or not _members_ok(joined):
        return EMPTY
    return TraceState(joined)


def _normalised(joined: bytes) -> bytes:
    """The list without whitespace around members or empty members; b"" when the grammar fails."""
    if len(joined) > MAX_INPUT_CHARS:
        return b""
    if _NORMAL_LIST.fullmatch(joined) is not None:
        return joined
    if _LIST.fullmatch(joined) is None:
        return b""
    return b",".join(m for m in (part.strip(OWS) for part in joined.split(b",")) if m)


def _members_ok(joined: bytes) -> bool:
    """At most 32 members, no key twice, keys and values within 256 characters."""
    if len(joined) <= _PART_CHARS and b"," not in joined:
        return True  # one short member: nothing more to check
    # "," and "=" occur in neither keys nor values: splitting on both gives key, value, key, ...
    parts = joined.replace(b",", b"=").split(b"=")
    keys = parts[::2]
    if len(keys) > MAX_MEMBERS or len(set(keys)) != len(keys):
        return False
    return len(joined) <= _PART_CHARS or max(map(len, parts)) <= _PART_CHARS
