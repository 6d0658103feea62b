"""The SNI of real ClientHellos (made by Python's ssl module), and no crash on any other bytes."""

from __future__ import annotations

import contextlib
import ssl

from hypothesis import given
from hypothesis import strategies as st

from proxy.tls_hello import record_complete, server_name


def client_hello(host: str | None) -> bytes:
    """The first flight of a real TLS client, taken from a memory BIO before any server answers."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    context = ssl.create_default_context()
    context.check_hostname = host is not None
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_the_server_name_of_a_real_client_hello() -> None:
    hello = client_hello("orders.db.example.test")
    assert record_complete(hello)
    assert server_name(hello) == "orders.db.example.test"


def test_no_server_name_without_sni_and_while_incomplete() -> None:
    assert server_name(client_hello(None)) == ""
    hello = client_hello("a.example")
    assert not record_complete(hello[:100])
    assert server_name(hello[:100]) == ""


@given(st.binary(max_size=600))
def test_any_bytes_give_a_name_or_nothing(data: bytes) -> None:
    assert isinstance(server_name(b"\x16\x03\x01" + data), str)
