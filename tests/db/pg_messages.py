"""PostgreSQL v3 messages as the protocol documentation spells them, for feeding observers."""

from __future__ import annotations

from proxy.db.pgwire import PROTOCOL_3, SSL_REQUEST


def message(kind: bytes, body: bytes) -> bytes:
    return kind + (len(body) + 4).to_bytes(4, "big") + body


def ssl_request() -> bytes:
    return (8).to_bytes(4, "big") + SSL_REQUEST.to_bytes(4, "big")


def startup(user: str, database: str) -> bytes:
    body = PROTOCOL_3.to_bytes(4, "big") + b"user\0%s\0database\0%s\0\0" % (user.encode(), database.encode())
    return (len(body) + 4).to_bytes(4, "big") + body


def query(text: str) -> bytes:
    return message(b"Q", text.encode() + b"\0")


def parse(statement: str, text: str) -> bytes:
    return message(b"P", statement.encode() + b"\0" + text.encode() + b"\0\0\0")


def bind(portal: str, statement: str) -> bytes:
    return message(b"B", portal.encode() + b"\0" + statement.encode() + b"\0\0\0\0\0\0\0")


def execute(portal: str) -> bytes:
    return message(b"E", portal.encode() + b"\0\0\0\0\0")


SYNC = message(b"S", b"")
READY = message(b"Z", b"I")
AUTH_OK = message(b"R", (0).to_bytes(4, "big"))
PARSE_COMPLETE, BIND_COMPLETE = message(b"1", b""), message(b"2", b"")


def complete(tag: str) -> bytes:
    return message(b"C", tag.encode() + b"\0")


def data_row(value: bytes) -> bytes:
    return message(b"D", (1).to_bytes(2, "big") + len(value).to_bytes(4, "big") + value)


def error(code: str, text: str) -> bytes:
    return message(b"E", b"SERROR\0C%s\0M%s\0\0" % (code.encode(), text.encode()))
