"""Database protocols the proxy reads as they pass: Redis (RESP) and PostgreSQL (the v3 wire protocol).

Everything here is sans-IO: bytes in, spans out. The opaque relay and the eBPF fallback feed the
same observers (`proxy.db.observer`), so a command looks the same whichever path saw it.
"""
