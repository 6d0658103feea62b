"""Header lists as the proxy sees them on the wire: `(name, value)` byte pairs, names in any case.

Lists (not dicts) because order, case and repetition all matter to a transparent proxy.
"""

from __future__ import annotations

from collections.abc import Sequence

Header = tuple[bytes, bytes]
Headers = Sequence[Header]
# Where the headers a propagator manages sit in a list: (index, lower-case name), in order.
Positions = list[tuple[int, bytes]]

# RFC 9110 section 5.5: leading and trailing whitespace is not part of a field value.
OWS = b" \t"


class NameIndex:
    """Which raw header names (any case) are among the wanted lower-case ones, remembered.

    Requests repeat the same few spellings of the same names, so after warm-up a header costs one
    dict lookup instead of a lower-casing copy. The memory is bounded: past `MAX_NAMES` spellings
    (hostile or exotic traffic) names are lower-cased afresh each time.
    """

    MAX_NAMES = 2048
    __slots__ = ("_known", "names")

    def __init__(self, names: frozenset[bytes]) -> None:
        self.names = names
        self._known: dict[bytes, bytes] = {}  # raw name -> lower-case name if wanted, else b""

    def scan(self, headers: Headers) -> tuple[dict[bytes, list[bytes]], Positions]:
        """Values of the wanted names in order of appearance, and where they stand."""
        known = self._known
        found: dict[bytes, list[bytes]] = {}
        positions: Positions = []
        for index, (name, value) in enumerate(headers):
            key = known.get(name)
            if key is None:
                key = self._learn(name)
            if key:
                positions.append((index, key))
                bucket = found.get(key)
                if bucket is None:
                    found[key] = [value]
                else:
                    bucket.append(value)
        return found, positions

    def _learn(self, name: bytes) -> bytes:
        lower = name.lower()
        key = lower if lower in self.names else b""
        if len(self._known) < self.MAX_NAMES:
            self._known[name] = key
        return key


def replace(headers: Headers, positions: Positions, fresh: dict[bytes, bytes]) -> list[Header]:
    """`headers` without the managed ones at `positions`, with the `fresh` ones put in.

    A fresh header takes the place (and the name's case) of the first header of its name, so the rest
    of the request keeps its order; one with nothing to replace is appended. `fresh` is used up.
    """
    out = list(headers)
    dropped: list[int] = []
    for index, key in positions:
        value = fresh.pop(key, None)
        if value is None:
            dropped.append(index)
        else:
            out[index] = (headers[index][0], value)
    for index in reversed(dropped):
        del out[index]
    out.extend(fresh.items())
    return out
