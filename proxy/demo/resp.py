"""The Redis protocol (RESP2) the demo needs: commands out, one reply in. Encoding and parsing are pure.

https://redis.io/docs/latest/develop/reference/protocol-spec/
"""

from __future__ import annotations

import socket

Reply = int | bytes | str | list["Reply"] | None


class RedisError(Exception):
    """An error reply (`-ERR ...`)."""


class Incomplete(Exception):
    """More bytes are needed to finish the reply."""


def encode(*args: str | int) -> bytes:
    """A command as an array of bulk strings."""
    parts = [str(arg).encode() for arg in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def parse(data: bytes, at: int = 0) -> tuple[Reply | RedisError, int]:
    """One reply starting at `at`, and where it ends; Incomplete if `data` stops inside it."""
    end = data.find(b"\r\n", at)
    if end < 0:
        raise Incomplete
    kind, line, after = data[at : at + 1], data[at + 1 : end], end + 2
    if kind == b"+":
        return line.decode(), after
    if kind == b"-":
        return RedisError(line.decode()), after
    if kind == b":":
        return int(line), after
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, after
        if len(data) < after + size + 2:
            raise Incomplete
        return data[after : after + size], after + size + 2
    if kind == b"*":
        items: list[Reply] = []
        for _ in range(max(0, int(line))):
            item, after = parse(data, after)
            if isinstance(item, RedisError):
                raise item
            items.append(item)
        return (items if int(line) >= 0 else None), after
    raise ValueError(f"not a RESP reply: {data[at : at + 20]!r}")


class Redis:
    """One blocking connection; `command` sends one command and returns its reply."""

    def __init__(self, host: str, port: int = 6379, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def command(self, *args: str | int) -> Reply:
        self.sock.sendall(encode(*args))
        while True:
            try:
                reply, used = parse(self.buffer)
            except Incomplete:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("redis closed the connection") from None
                self.buffer += chunk
                continue
            self.buffer = self.buffer[used:]
            if isinstance(reply, RedisError):
                raise reply
            return reply

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Redis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
