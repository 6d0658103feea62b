"""Where a redirected connection was going before iptables sent it to us (netfilter's conntrack).

`SO_ORIGINAL_DST` (IPv4, linux/netfilter_ipv4.h) and `IP6T_SO_ORIGINAL_DST` (IPv6,
linux/netfilter_ipv6/ip6_tables.h) share the value 80; the answer is a sockaddr_in / sockaddr_in6.
"""

from __future__ import annotations

import socket
import struct

SO_ORIGINAL_DST = 80
_SOCKADDR_IN6 = struct.Struct("!HH4s16sI")  # family (host order, ignored), port, flowinfo, address, scope


class NotRedirected(Exception):
    """The connection reached the proxy directly: no NAT entry names another destination."""


def original_dst(sock: socket.socket) -> tuple[str, int]:
    """(host, port) the client meant to reach; raises NotRedirected if that was us."""
    try:
        if sock.family == socket.AF_INET6:
            raw = sock.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, _SOCKADDR_IN6.size)
            _, port, _, address, _ = _SOCKADDR_IN6.unpack(raw)
            host = socket.inet_ntop(socket.AF_INET6, address)
        else:
            raw = sock.getsockopt(socket.IPPROTO_IP, SO_ORIGINAL_DST, 16)
            port = struct.unpack_from("!H", raw, 2)[0]
            host = socket.inet_ntoa(raw[4:8])
    except OSError as error:  # ENOENT: conntrack holds no entry for this connection
        raise NotRedirected(f"no original destination ({error.strerror})") from None
    local = sock.getsockname()
    if (host, port) == (local[0], local[1]):
        raise NotRedirected(f"connection addressed to the proxy itself ({host}:{port})")
    return host, port
