"""Micro-benchmark: what watching database traffic costs, per command and per relayed byte.

    .venv/bin/python -m loadtests.db_observer_bench [--commands N] [--repeat R]

Feeds prepared wire bytes (redis-py and psycopg-shaped) to the observers the opaque relay uses,
sampled (every span built and recorded) and unsampled, and to the classifier. Prints microseconds
per command, best of R runs, and MB/s for a large value passing through the Redis reader.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable

from propagation.sampling import AlwaysOff, AlwaysOn, Sampler
from proxy.observers import StreamInfo, observer_for
from proxy.sniff import classify

SERVER = ("10.0.0.9", 6379)


def resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


def pg(kind: bytes, body: bytes) -> bytes:
    return kind + (len(body) + 4).to_bytes(4, "big") + body


REDIS_PAIR = (resp(b"SET", b"user:7", b"alice"), b"+OK\r\n")
_STARTUP_BODY = (196608).to_bytes(4, "big") + b"user\0app\0database\0shop\0\0"
PG_STARTUP = (len(_STARTUP_BODY) + 4).to_bytes(4, "big") + _STARTUP_BODY
PG_PAIR = (
    pg(b"P", b"\0SELECT name FROM users WHERE id = $1 AND kind = 'x'\0\0\0")
    + pg(b"B", b"\0\0\0\0\0\0\0")
    + pg(b"E", b"\0\0\0\0\0")
    + pg(b"S", b""),
    pg(b"1", b"") + pg(b"2", b"") + pg(b"D", b"\0\1\0\0\0\5alice") + pg(b"C", b"SELECT 1\0") + pg(b"Z", b"I"),
)


def per_command_us(first: bytes, pair: tuple[bytes, bytes], sampler: Sampler, commands: int) -> float:
    spans: list[object] = []
    stream = StreamInfo("outbound", ("10.0.0.1", 40000), SERVER, spans.append, sampler)
    observer = observer_for(first, stream)
    assert observer is not None
    if first is PG_STARTUP:
        observer.client_data(first, 0)
    sent, answered = pair
    start = time.perf_counter()
    for index in range(commands):
        observer.client_data(sent, index)
        observer.server_data(answered, index)
    return (time.perf_counter() - start) / commands * 1e6


def large_value_mb_s(size: int) -> float:
    stream = StreamInfo("outbound", ("10.0.0.1", 40000), SERVER, lambda span: None, AlwaysOn())
    observer = observer_for(b"*3\r\n", stream)
    assert observer is not None
    chunk = b"x" * 65536
    start = time.perf_counter()
    observer.client_data(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % size, 0)
    for _ in range(size // len(chunk)):
        observer.client_data(chunk, 0)
    return size / (time.perf_counter() - start) / 1e6


def classify_us(iterations: int) -> float:
    first = b"GET /orders/7 HTTP/1.1\r\nhost: shop\r\n"
    start = time.perf_counter()
    for _ in range(iterations):
        classify(first)
    return (time.perf_counter() - start) / iterations * 1e6


def best(run: Callable[[], float], repeat: int, lowest: bool = True) -> float:
    results = [run() for _ in range(repeat)]
    return min(results) if lowest else max(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=20_000, help="per timed run (default 20000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the best is reported (default 5)")
    args = parser.parse_args(argv)
    n, r = args.commands, args.repeat
    print(f"database observers, Python {sys.version.split()[0]}, best of {r}")
    cases = {
        "redis SET, sampled": (b"*3\r\n", REDIS_PAIR, AlwaysOn()),
        "redis SET, not sampled": (b"*3\r\n", REDIS_PAIR, AlwaysOff()),
        "postgres extended query, sampled": (PG_STARTUP, PG_PAIR, AlwaysOn()),
        "postgres extended query, not sampled": (PG_STARTUP, PG_PAIR, AlwaysOff()),
    }
    for name, (first, pair, sampler) in cases.items():
        timed = functools.partial(per_command_us, first, pair, sampler, n)
        print(f"{name:<40} {best(timed, r):>8.2f} us/command")
    size = 64 * 1024 * max(1, n // 100)
    print(
        f"{'redis reader, one large value':<40} {best(lambda: large_value_mb_s(size), r, False):>8.0f} MB/s"
    )
    print(f"{'classify an HTTP/1 request line':<40} {best(lambda: classify_us(n), r):>8.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
