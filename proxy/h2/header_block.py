"""HPACK encoding without a dynamic table (RFC 7541), for the header sections the relay sends.

hpack's Encoder searches and updates its dynamic table and Huffman-codes every string: about an
eighth of the proxy's CPU per gRPC call. A relay mostly re-sends what it just decoded, so here each
field is a literal that is never added to the table: its name as a static-table index when it has
one (cached per name), its value as a raw string. Fields the sender marked never-indexed keep that
mark. The cost is bytes: no Huffman coding and no reuse of earlier fields, so a repeated header
section is sent in full each time (a few hundred bytes for a gRPC call, on loopback or within the
cluster).

The table stays at size zero: the first block, and the first after each change of the peer's
SETTINGS_HEADER_TABLE_SIZE, starts with a size update to 0, which every limit allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hpack.table import HeaderTable

_SIZE_UPDATE_TO_ZERO = b"\x20"  # section 6.3: 001 and a 5-bit prefix integer, 0
_WITHOUT_INDEXING = 0x00  # section 6.2.2: 0000 and a 4-bit name index
_NEVER_INDEXED = 0x10  # section 6.2.3: 0001 and a 4-bit name index
MAX_CACHED_NAMES = 1024  # field names whose encoding is kept; a peer sending random names cannot grow it


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    """Section 5.1: `value` in a `prefix_bits` prefix whose other bits are `first`."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    """Section 5.2: a string literal, not Huffman-coded."""
    return _integer(len(data), 7, 0) + data


def _static_names() -> dict[bytes, int]:
    """The first static-table index of each name (section 2.3.1, indices from 1)."""
    names: dict[bytes, int] = {}
    for index, (name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
        names.setdefault(name, index)
    return names


_STATIC_NAMES = _static_names()
# Whole fields of the static table worth a one-byte representation (section 6.1).
_STATIC_FIELDS = {field: index for index, field in enumerate(HeaderTable.STATIC_TABLE, start=1) if field[1]}


class HeaderBlockEncoder:
    """Stands in for hpack's Encoder on an h2 connection: `encode` and `header_table_size`."""

    def __init__(self) -> None:
        self._announce = True  # the next block starts with a table size update
        self._names: dict[bytes, tuple[bytes, bytes]] = {}  # name -> (without indexing, never indexed)

    @property
    def header_table_size(self) -> int:
        return 0

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        # The peer changed SETTINGS_HEADER_TABLE_SIZE: some decoders then expect an update first.
        self._announce = True

    def encode(self, headers: Iterable[Sequence[bytes]], huffman: bool = True) -> bytes:
        # Sequence, not tuple: compiled code would unbox a tuple and lose hpack's never-indexed mark.
        parts: list[bytes] = []
        if self._announce:
            self._announce = False
            parts.append(_SIZE_UPDATE_TO_ZERO)
        for field in headers:
            name, value = field[0], field[1]
            index = _STATIC_FIELDS.get((name, value), 0)
            if index:
                parts.append(bytes((0x80 | index,)))
                continue
            prefixes = self._names.get(name)
            if prefixes is None:
                prefixes = self._name_prefixes(name)
            parts.append(prefixes[0] if getattr(field, "indexable", True) else prefixes[1])
            parts.append(_string(value))
        return b"".join(parts)

    def _name_prefixes(self, name: bytes) -> tuple[bytes, bytes]:
        index = _STATIC_NAMES.get(name, 0)
        if index:
            prefixes = (_integer(index, 4, _WITHOUT_INDEXING), _integer(index, 4, _NEVER_INDEXED))
        else:
            literal = _string(name)
            prefixes = (bytes((_WITHOUT_INDEXING,)) + literal, bytes((_NEVER_INDEXED,)) + literal)
        if len(self._names) < MAX_CACHED_NAMES:
            self._names[name] = prefixes
        return prefixes
