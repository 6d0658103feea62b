"""HPACK decoding (RFC 7541) for the header sections the relay receives, compiled with the hot path.

hpack's Decoder walks each block in Python, slicing a memoryview per field and building a
HeaderTuple per field; with its Huffman decoder it was about a tenth of the proxy's CPU per gRPC
call. This one keeps the same contract towards h2 (`decode(block, raw=True)`, the size limits h2
sets, hpack's exception types, which h2 turns into connection errors) and decodes Huffman strings
a nibble at a time through a transition table built from hpack's code table at import.
Fields sent never-indexed come back as hpack's NeverIndexedHeaderTuple, so the mark travels on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from hpack.exceptions import (
    HPACKDecodingError,
    InvalidTableIndexError,
    InvalidTableSizeError,
    OversizedHeaderListError,
)
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.struct import NeverIndexedHeaderTuple
from hpack.table import HeaderTable

DEFAULT_TABLE_SIZE = 4096  # section 4.2, and SETTINGS_HEADER_TABLE_SIZE's initial value
ENTRY_OVERHEAD = 32  # section 4.1
MAX_INTEGER_BYTES = 5  # continuation bytes: ample for any length or index a 64 KiB block can hold
_STATIC: list[tuple[bytes, bytes]] = list(HeaderTable.STATIC_TABLE)
_EOS = 256
# Typed Any: compiled code sees NeverIndexedHeaderTuple as a tuple and would rebuild it as a plain one.
_NEVER_INDEXED: Any = NeverIndexedHeaderTuple


def _huffman_tree() -> tuple[list[int], list[int], list[int]]:
    """Children (bit 0, bit 1) and symbol of each node of the code tree; node 0 is the root."""
    zero, one, symbol = [-1], [-1], [-1]
    for sym, (code, length) in enumerate(zip(REQUEST_CODES, REQUEST_CODES_LENGTH, strict=True)):
        node = 0
        for shift in range(length - 1, -1, -1):
            children = one if (code >> shift) & 1 else zero
            if children[node] < 0:
                children[node] = len(symbol)
                zero.append(-1)
                one.append(-1)
                symbol.append(-1)
            node = children[node]
        symbol[node] = sym
    return zero, one, symbol


_FAIL = 1 << 20
_STATE_MASK = 0x3FF


def _transitions() -> tuple[list[int], frozenset[int]]:
    """For each internal node and nibble: the next node, the symbol emitted (plus one) and failure.

    Four bits emit at most one symbol, as no code is shorter than five. Also the nodes where a
    string may end: reached from the root by fewer than eight 1-bits (section 5.2, padding).
    """
    zero, one, symbol = _huffman_tree()
    table = [0] * (len(symbol) * 16)
    for node in range(len(symbol)):
        if symbol[node] >= 0:
            continue
        for nibble in range(16):
            current, emitted, failed = node, 0, 0
            for shift in (3, 2, 1, 0):
                current = one[current] if (nibble >> shift) & 1 else zero[current]
                if symbol[current] >= 0:
                    if symbol[current] == _EOS:
                        failed = _FAIL
                    emitted = symbol[current] + 1
                    current = 0
            table[node * 16 + nibble] = current | emitted << 10 | failed
    accepting, node = {0}, 0
    for _ in range(7):
        node = one[node]
        accepting.add(node)
    return table, frozenset(accepting)


_TRANSITIONS, _ACCEPTING = _transitions()


def huffman_decode(data: bytes) -> bytes:
    out = bytearray()
    state = 0
    for byte in data:
        state = _huffman_step(out, state, byte >> 4)
        state = _huffman_step(out, state, byte & 0xF)
    if state not in _ACCEPTING:
        raise HPACKDecodingError("invalid padding in a Huffman-coded string")
    return bytes(out)


def _huffman_step(out: bytearray, state: int, nibble: int) -> int:
    step = _TRANSITIONS[state * 16 + nibble]
    if step & _FAIL:
        raise HPACKDecodingError("EOS in a Huffman-coded string")
    emitted = (step >> 10) & 0x3FF
    if emitted:
        out.append(emitted - 1)
    return step & _STATE_MASK


class HeaderBlockDecoder:
    """Stands in for hpack's Decoder on an h2 connection."""

    def __init__(self) -> None:
        self.max_header_list_size = 1 << 16  # h2 sets its own at once
        self.max_allowed_table_size = DEFAULT_TABLE_SIZE  # what our SETTINGS allow the peer
        self._table: deque[tuple[bytes, bytes]] = deque()  # newest first (section 2.3.3)
        self._size = 0
        self._max_size = DEFAULT_TABLE_SIZE

    @property
    def header_table_size(self) -> int:
        return self._max_size

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._max_size = value
        self._evict(0)

    def decode(self, data: bytes, raw: bool = True) -> list[Sequence[bytes]]:
        """The fields of one header block, in order. Only raw (bytes) fields: h2 asks for nothing else."""
        # Sequence, not tuple: compiled code would unbox a tuple and lose the never-indexed mark.
        fields: list[Sequence[bytes]] = []
        field: Sequence[bytes]
        listed, pos, end = 0, 0, len(data)
        while pos < end:
            first = data[pos]
            if first & 0x80:  # section 6.1: indexed field
                index, pos = _integer(data, pos, 7)
                field = self._field(index)
            elif first & 0x40:  # section 6.2.1: literal added to the table
                field, pos = self._literal(data, pos, 6)
                self._add(field)
            elif first & 0x20:  # section 6.3: table size update, only before the first field
                if fields:
                    raise HPACKDecodingError("table size update after a field")
                size, pos = _integer(data, pos, 5)
                if size > self.max_allowed_table_size:
                    raise InvalidTableSizeError(
                        f"table size update to {size} over our {self.max_allowed_table_size}"
                    )
                self.header_table_size = size
                continue
            else:  # sections 6.2.2 and 6.2.3: literal not added; 0x10 marks it never-indexed
                field, pos = self._literal(data, pos, 4)
                if first & 0x10:
                    field = _NEVER_INDEXED(field[0], field[1])
            fields.append(field)
            listed += _entry_size(field[0], field[1])
            if listed > self.max_header_list_size:
                raise OversizedHeaderListError(f"header list over {self.max_header_list_size} bytes")
        return fields

    def _field(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= len(_STATIC):
            return _STATIC[index - 1]
        dynamic = index - len(_STATIC) - 1
        if index <= 0 or dynamic >= len(self._table):
            raise InvalidTableIndexError(f"no table entry {index}")
        return self._table[dynamic]

    def _literal(self, data: bytes, pos: int, prefix_bits: int) -> tuple[tuple[bytes, bytes], int]:
        index, pos = _integer(data, pos, prefix_bits)
        if index:
            name = self._field(index)[0]
        else:
            name, pos = _string(data, pos)
        value, pos = _string(data, pos)
        return (name, value), pos

    def _add(self, field: tuple[bytes, bytes]) -> None:
        size = _entry_size(field[0], field[1])
        if size > self._max_size:  # section 4.4: an entry larger than the table empties it
            self._table.clear()
            self._size = 0
            return
        self._evict(size)
        self._table.appendleft(field)
        self._size += size

    def _evict(self, room: int) -> None:
        """Drop the oldest entries until `room` more bytes fit (section 4.4)."""
        table = self._table
        while table and self._size + room > self._max_size:
            name, value = table.pop()
            self._size -= _entry_size(name, value)


def _entry_size(name: bytes, value: bytes) -> int:
    """Section 4.1: what a field counts for, in the table and in the header list size."""
    return len(name) + len(value) + ENTRY_OVERHEAD


def _integer(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """Section 5.1: the integer at `pos` with a `prefix_bits` prefix, and the position after it."""
    limit = (1 << prefix_bits) - 1
    value = data[pos] & limit
    pos += 1
    if value < limit:
        return value, pos
    for shift in range(0, 7 * MAX_INTEGER_BYTES, 7):
        if pos >= len(data):
            raise HPACKDecodingError("truncated integer")
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
    raise HPACKDecodingError("integer longer than any block could need")


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    """Section 5.2: a string literal, Huffman-coded when the first bit says so."""
    if pos >= len(data):
        raise HPACKDecodingError("truncated string")
    huffman = data[pos] & 0x80
    length, pos = _integer(data, pos, 7)
    end = pos + length
    if end > len(data):
        raise HPACKDecodingError("string past the end of the block")
    raw = data[pos:end]
    return (huffman_decode(raw) if huffman else raw), end
