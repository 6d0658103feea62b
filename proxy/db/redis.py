"""Redis commands and their replies, paired in order (pipelining included), as database spans. Sans-IO.

Replies come back in the order commands were sent, so a queue pairs them. Pub/sub and MONITOR turn
the connection into a stream of messages that answer no command: the observer stops there.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from proxy.db.resp import Push, RespError, RespReader
from proxy.db.sanitize import truncate
from proxy.db.span import DbCall, command_context, db_span, sampled
from proxy.observers import StreamInfo

MAX_IN_FLIGHT = 1024  # commands waiting for a reply; past it the oldest are dropped unreported
MAX_QUERY_ARGS = 8  # of a command's arguments shown (as ?) in db.query.text
# Their arguments are never shown, not even the first: passwords, or no key at all.
_NO_KEY = frozenset(
    {"AUTH", "HELLO", "PING", "ECHO", "SELECT", "MIGRATE", "CONFIG", "CLIENT", "EVAL", "EVALSHA"}
)
_STREAMING = frozenset({"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR"})


def is_resp_command(first: bytes) -> bool:
    """Whether a client's first bytes start a RESP command (an array of bulk strings)."""
    return len(first) >= 2 and first[0] == ord("*") and first[1:2].isdigit()


@dataclass(slots=True)
class _Pending:
    call: DbCall
    select: str  # for SELECT: the index that becomes db.namespace if it succeeds


class RedisObserver:
    def __init__(self, stream: StreamInfo) -> None:
        self.stream = stream
        self.commands = RespReader()
        self.replies = RespReader()
        self.in_flight: deque[_Pending] = deque()
        self.namespace = "0"
        self.stopped = False

    def client_data(self, data: bytes, now_ns: int) -> None:
        if self.stopped:
            return
        for value in self.commands.feed(data):
            if isinstance(value, list) and value and isinstance(value[0], bytes):
                self._command([arg if isinstance(arg, bytes) else b"" for arg in value], now_ns)

    def server_data(self, data: bytes, now_ns: int) -> None:
        if self.stopped and not self.in_flight:
            return
        for value in self.replies.feed(data):
            if isinstance(value, Push) or not self.in_flight:
                continue
            self._reply(self.in_flight.popleft(), value, now_ns)
            if self.stopped and not self.in_flight:
                return  # the streaming command has its reply: what follows answers no command

    def closed(self, now_ns: int) -> None:
        while self.in_flight:  # no reply will come: the span ends with the connection
            self._finish(self.in_flight.popleft().call, now_ns)

    def _command(self, args: list[bytes], now_ns: int) -> None:
        name = args[0].decode("ascii", "replace").upper()
        context, parent = command_context(self.stream.direction, self.stream.sampler)
        call = DbCall(
            "redis", name, query_text(name, args), self.namespace, self.stream.server, context, parent, now_ns
        )
        call.inbound = self.stream.direction == "inbound"
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            self.in_flight.popleft()
        select = args[1].decode("ascii", "replace") if name == "SELECT" and len(args) > 1 else ""
        self.in_flight.append(_Pending(call, select))
        if name in _STREAMING:
            self.stopped = True  # its first reply still ends this span

    def _reply(self, pending: _Pending, reply: object, now_ns: int) -> None:
        call = pending.call
        # Replies come in command order, so this is the database the command ran in, even when it
        # was pipelined behind a SELECT still unanswered when it was sent.
        call.namespace = self.namespace
        if isinstance(reply, RespError):
            call.error_code, call.error_message = reply.code, reply.message
        elif pending.select:
            self.namespace = pending.select
        self._finish(call, now_ns)

    def _finish(self, call: DbCall, now_ns: int) -> None:
        if sampled(call.context):
            self.stream.record(db_span(call, now_ns))


def query_text(name: str, args: list[bytes]) -> str:
    """`SET user:7 ?`: the command and its key; values are never shown (they may be personal data)."""
    words = [name]
    rest = args[1:]
    if rest and name not in _NO_KEY:
        words.append(rest[0].decode("utf-8", "replace"))
        rest = rest[1:]
    words += ["?"] * min(len(rest), MAX_QUERY_ARGS)
    if len(rest) > MAX_QUERY_ARGS:
        words.append("...")
    return truncate(" ".join(words))
