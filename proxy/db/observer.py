"""Which database observer, if any, a stream's first client bytes call for."""

from __future__ import annotations

from proxy.db.pgwire import is_startup
from proxy.db.postgres import PostgresObserver
from proxy.db.redis import RedisObserver, is_resp_command
from proxy.observers import StreamInfo, StreamObserver


def db_observer(first: bytes, stream: StreamInfo) -> StreamObserver | None:
    if is_resp_command(first):
        return RedisObserver(stream)
    if is_startup(first):
        return PostgresObserver(stream)
    return None
