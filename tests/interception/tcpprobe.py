"""Who answered, and where was the connection meant to go: a TCP probe run inside test pods.

python tcpprobe.py serve 15006=inbound 15001=outbound 8080=app
    listens on every port for IPv4 and IPv6, prints "ready", and answers each connection with
    one JSON line: {"name": ..., "port": <local port>, "original": [host, port] | null}
    where "original" is the conntrack original destination (SO_ORIGINAL_DST).
python tcpprobe.py connect [--uid UID] HOST:PORT [[V6]:PORT ...]
    prints one JSON list with each answer, or {"error": ...}; --uid drops root first, so the
    connections belong to that user (what the iptables owner match sees).
"""

from __future__ import annotations

import argparse
import encodings.idna  # noqa: F401 (getaddrinfo needs it, and after --uid it cannot be read)
import json
import os
import selectors
import socket
import struct
import sys
from typing import Any

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST has the same value
_TIMEOUT = 5.0


def original_destination(conn: socket.socket) -> tuple[str, int] | None:
    try:
        if conn.family == socket.AF_INET:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port, packed = struct.unpack_from("!2xH4s", raw)
        else:
            raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
            port, packed = struct.unpack_from("!2xH4x16s", raw)
    except OSError:
        return None
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed), port


def _listeners(spec: list[str]) -> dict[socket.socket, str]:
    listeners = {}
    for item in spec:
        port, name = item.split("=", 1)
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, int(port)))
            sock.listen(64)
            listeners[sock] = name
    return listeners


def serve(spec: list[str]) -> None:
    listeners = _listeners(spec)
    selector = selectors.DefaultSelector()
    for sock in listeners:
        selector.register(sock, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            listener = next(sock for sock in listeners if sock is key.fileobj)
            conn, _peer = listener.accept()
            with conn:
                answer = {
                    "name": listeners[listener],
                    "port": conn.getsockname()[1],
                    "original": original_destination(conn),
                }
                conn.sendall(json.dumps(answer).encode() + b"\n")


def ask(target: str) -> dict[str, Any]:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_TIMEOUT) as conn:
            reply = conn.makefile("rb").readline()
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    answer: dict[str, Any] = json.loads(reply)
    return answer


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tcpprobe")
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve").add_argument("listeners", nargs="+", metavar="PORT=NAME")
    connect = sub.add_parser("connect")
    connect.add_argument("--uid", type=int)
    connect.add_argument("targets", nargs="+", metavar="HOST:PORT")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve(args.listeners)
        return 0
    if args.uid is not None:
        drop_privileges(args.uid)
    print(json.dumps([ask(target) for target in args.targets]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
