"""PostgreSQL queries, simple and extended, as database spans. Sans-IO.

Simple query (`Q`): one span from the query to ReadyForQuery. Extended query: `Parse` names a
statement, `Bind` makes a portal of it, each `Execute` is one span, ended by its CommandComplete,
EmptyQueryResponse or PortalSuspended; after an ErrorResponse the server skips to `Sync`, so the
executions it skipped end at ReadyForQuery with that error. A successful SSLRequest means TLS
follows: nothing more can be read and the observer stops.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from proxy.db.pgwire import (
    GSSENC_REQUEST,
    SSL_REQUEST,
    STARTUP,
    Framer,
    Message,
    cstring,
    error_fields,
    startup_parameters,
)
from proxy.db.sanitize import sanitize_sql, sql_operation
from proxy.db.span import DbCall, command_context, db_span, sampled
from proxy.observers import StreamInfo

MAX_STATEMENTS = 256  # prepared statements and portals remembered per connection (oldest forgotten)
MAX_IN_FLIGHT = 1024  # queries waiting for their end; past it the oldest are dropped unreported
_COMPLETE = frozenset(b"CIs")  # CommandComplete, EmptyQueryResponse, PortalSuspended
_ERROR, _READY = ord("E"), ord("Z")


class _Query:
    __slots__ = ("call", "simple")

    def __init__(self, call: DbCall, simple: bool) -> None:
        self.call = call
        self.simple = simple


class PostgresObserver:
    def __init__(self, stream: StreamInfo) -> None:
        self.stream = stream
        self.frontend = Framer(untyped_first=True)
        self.backend = Framer(untyped_first=False)
        self.awaiting_ssl_answer = False  # the server answers SSLRequest with one lone byte
        self.stopped = False
        self.database = ""
        self.statements: OrderedDict[str, str] = OrderedDict()  # name -> query text
        self.portals: OrderedDict[str, str] = OrderedDict()  # name -> query text
        self.in_flight: deque[_Query] = deque()
        self.failed: DbCall | None = None  # the error of the current Sync batch

    def client_data(self, data: bytes, now_ns: int) -> None:
        if not self.stopped:
            for message in self.frontend.feed(data):
                self._frontend(message, now_ns)

    def server_data(self, data: bytes, now_ns: int) -> None:
        if self.stopped:
            return
        if self.awaiting_ssl_answer and data:
            self._ssl_answer(data[:1])
            data = data[1:]
            if self.stopped:
                return
        for message in self.backend.feed(data):
            self._backend(message, now_ns)

    def closed(self, now_ns: int) -> None:
        while self.in_flight:
            self._finish(self.in_flight.popleft().call, now_ns)

    # -- frontend ---------------------------------------------------------------------------------

    def _frontend(self, message: Message, now_ns: int) -> None:
        kind, body = message.type, message.body
        if kind == STARTUP:
            self._startup(body)
        elif kind == ord("Q"):
            self._begin(cstring(body)[0], simple=True, now_ns=now_ns)
        elif kind == ord("P"):
            name, offset = cstring(body)
            _remember(self.statements, name, cstring(body, offset)[0])
        elif kind == ord("B"):
            portal, offset = cstring(body)
            _remember(self.portals, portal, self.statements.get(cstring(body, offset)[0], ""))
        elif kind == ord("E"):
            self._begin(self.portals.get(cstring(body)[0], ""), simple=False, now_ns=now_ns)

    def _startup(self, body: bytes) -> None:
        code = int.from_bytes(body[:4], "big")
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            self.awaiting_ssl_answer = True
            self.frontend.expect_untyped()  # the StartupMessage (or TLS) comes next
            return
        parameters = startup_parameters(body)
        self.database = parameters.get("database") or parameters.get("user", "")

    def _ssl_answer(self, answer: bytes) -> None:
        self.awaiting_ssl_answer = False
        if answer != b"N":  # "S" or "G": encrypted from here on; the connection span is all we get
            self.stopped = True
            self.in_flight.clear()

    def _begin(self, query: str, simple: bool, now_ns: int) -> None:
        context, parent = command_context(self.stream.direction, self.stream.sampler)
        operation = sql_operation(query) or "EXECUTE"
        call = DbCall(
            "postgresql",
            operation,
            sanitize_sql(query),
            self.database,
            self.stream.server,
            context,
            parent,
            now_ns,
        )
        call.inbound = self.stream.direction == "inbound"
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            self.in_flight.popleft()
        self.in_flight.append(_Query(call, simple))

    # -- backend ----------------------------------------------------------------------------------

    def _backend(self, message: Message, now_ns: int) -> None:
        kind = message.type
        head = self.in_flight[0] if self.in_flight else None
        if kind in _COMPLETE:
            if head is not None and not head.simple:
                self._finish(self.in_flight.popleft().call, now_ns)
        elif kind == _ERROR:
            self._error(head, error_fields(message.body), now_ns)
        elif kind == _READY:
            self._ready(now_ns)

    def _error(self, head: _Query | None, fields: dict[str, str], now_ns: int) -> None:
        if head is None:
            return
        head.call.error_code = fields.get("C", "ERROR")
        head.call.error_message = fields.get("M", "")
        self.failed = head.call
        if not head.simple:
            self._finish(self.in_flight.popleft().call, now_ns)

    def _ready(self, now_ns: int) -> None:
        """ReadyForQuery: whatever is still in flight was skipped after an error, or was a simple query."""
        failed, self.failed = self.failed, None
        while self.in_flight:
            call = self.in_flight.popleft().call
            if failed is not None and not call.error_code:
                call.error_code, call.error_message = failed.error_code, failed.error_message
            self._finish(call, now_ns)

    def _finish(self, call: DbCall, now_ns: int) -> None:
        if sampled(call.context):
            self.stream.record(db_span(call, now_ns))


def _remember(names: OrderedDict[str, str], name: str, query: str) -> None:
    names[name] = query
    names.move_to_end(name)
    if len(names) > MAX_STATEMENTS:
        names.popitem(last=False)
