"""HTTP/1 protocol errors, each knowing the status it becomes on the wire (RFC 9112, RFC 9110)."""

from __future__ import annotations

from typing import ClassVar


class HttpError(Exception):
    """A message we must not forward. `status` is what the client is told (requests only)."""

    # ClassVar: compiled by mypyc, a plain class attribute would not be visible on instances.
    status: ClassVar[int] = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(HttpError):
    status: ClassVar[int] = 400


class RequestTimeout(HttpError):
    status: ClassVar[int] = 408  # RFC 9110 section 15.5.9: the head did not arrive in time


class HeadersTooLarge(HttpError):
    status: ClassVar[int] = 431  # RFC 6585 section 5


class NotImplementedCoding(HttpError):
    status: ClassVar[int] = 501  # RFC 9112 section 6.1: a transfer coding we do not understand


class VersionNotSupported(HttpError):
    status: ClassVar[int] = 505  # RFC 9110 section 15.6.6: a major version other than HTTP/1
