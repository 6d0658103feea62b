"""Non-HTTP traffic through a real sidecar: Redis, PostgreSQL, a server-first banner, TLS.

    client --> [app: db_app :8080 | tracecar] --> [db: redis-server :6379, postgres :5432,
                          \\                          banner :2525, TLS echo :8443]
                           \\__ spans (OTLP) __> [collector]

The application calls the databases while serving a request; the database protocols carry no
trace context, yet each command's span must be a child of that request's SERVER span.
"""

from __future__ import annotations

import contextlib
import glob
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_two_pods import python, start_sidecar, wait_for
from tests.netns import Pod, Topology
from tests.proxy.tcp_servers import Banner

pytestmark = pytest.mark.netns

KIND_SERVER, KIND_CLIENT = 2, 3
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
BANNER_PORT, TLS_PORT, APP_REDIS_PORT = 2525, 8443, 7379  # undeclared: detection must get them right
FIRST_BYTE = """
import socket, sys, time
times = []
for _ in range(5):
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
        start = time.monotonic()
        first = s.recv(100)
        times.append(time.monotonic() - start)
print(first.decode().strip(), min(times), max(times))
"""
TLS_CLIENT = """
import socket, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[3])
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as raw:
    with context.wrap_socket(raw, server_hostname="db.example.test") as tls:
        tls.sendall(b"hello through tls")
        print(tls.recv(100).decode())
"""


def start_postgres(db: Pod, directory: Path) -> None:
    """A throwaway cluster run by the postgres user (the server refuses to run as root)."""
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    shutil.chown(directory, "postgres")
    data = directory / "data"
    as_postgres = ("setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups")
    subprocess.run(
        [*as_postgres, f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host all all 0.0.0.0/0 trust\n")
    settings = ("-c", "listen_addresses=*", "-c", "fsync=off", "-k", str(directory))
    db.spawn(*as_postgres, f"{bindir}/postgres", "-D", str(data), "-p", "5432", *settings)
    wait_for(lambda: db.run("pg_isready", "-h", "127.0.0.1", check=False).returncode == 0, 20, "postgres")


def start_db_pod(db: Pod, directory: Path) -> None:
    redis = ("redis-server", "--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "")
    db.spawn(*redis, "--appendonly", "no")
    for args in (("banner", str(BANNER_PORT)), ("tls", str(TLS_PORT), str(directory))):
        server = db.spawn(*python("-m", "tests.proxy.tcp_servers", *args))
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    start_postgres(db, directory)
    wait_for(lambda: db.run("redis-cli", "ping", check=False).stdout.strip() == "PONG", 10, "redis")


@contextlib.contextmanager
def _removed(directory: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    spans_file = tmp_path_factory.mktemp("otlp") / "spans.json"
    # Not under pytest's own temporary directory, which the postgres user cannot enter.
    directory = Path(tempfile.mkdtemp(prefix="tracecar-db-"))
    with Topology() as topology, _removed(directory):
        client, app, db, collector = (topology.pod(r) for r in ("client", "app", "db", "collector"))
        to_app, app_db, app_col = (
            topology.link(client, app),
            topology.link(app, db),
            topology.link(app, collector),
        )
        receiver = collector.spawn(*python("-m", "tests.e2e.receiver_serve", str(spans_file)))
        assert receiver.stdout is not None
        ports = json.loads(receiver.stdout.readline())
        start_db_pod(db, directory)
        db_host = app_db.b.address(4)
        # The app pod serves Redis too, on a port nothing declares: inbound, found by detection.
        app.spawn("redis-server", "--port", str(APP_REDIS_PORT), "--save", "", "--protected-mode", "no")
        server = app.spawn(*python("-m", "tests.e2e.db_app", "8080", db_host))
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        sidecar = start_sidecar(app, "app", f"http://{app_col.b.address(4)}:{ports['grpc']}", "grpc")
        yield {
            "client": client,
            "app": app,
            "app_address": to_app.b.address(4),
            "db_host": db_host,
            "spans": spans_file,
            "sidecar": sidecar,
            "certs": directory,
        }


def spans(pods: dict[str, Any], match: Any, count: int) -> list[dict[str, Any]]:
    spans_file: Path = pods["spans"]

    def ready() -> list[dict[str, Any]]:
        found = (
            [s for s in json.loads(spans_file.read_text() or "[]") if match(s)] if spans_file.exists() else []
        )
        return found if len(found) >= count else []

    return list(wait_for(ready, 15, f"{count} spans"))


def call(pods: dict[str, Any], path: str, trace_id: str) -> Any:
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    url = f"http://{pods['app_address']}:8080{path}"
    answer = pods["client"].run("curl", "-sS", "--fail", "-H", f"traceparent: {traceparent}", url)
    return json.loads(answer.stdout)["result"]


def children_of_request(pods: dict[str, Any], trace_id: str, system: str, count: int) -> list[dict[str, Any]]:
    spans_file: Path = pods["spans"]

    def complete() -> list[dict[str, Any]]:
        """The trace once its request span and `count` commands have arrived: they may come in
        different export batches, the commands (which end first) before the request."""
        if not spans_file.exists():
            return []
        trace = [s for s in json.loads(spans_file.read_text() or "[]") if s["trace_id"] == trace_id]
        servers = [s for s in trace if s["kind"] == KIND_SERVER]
        commands = [s for s in trace if s["attributes"].get("db.system.name") == system]
        return trace if servers and len(commands) >= count else []

    trace = list(wait_for(complete, 15, f"the request span and {count} {system} spans"))
    [request] = [s for s in trace if s["kind"] == KIND_SERVER]
    commands = [s for s in trace if s["attributes"].get("db.system.name") == system]
    assert commands and all(s["parent_span_id"] == request["span_id"] for s in commands)
    assert all(s["kind"] == KIND_CLIENT for s in commands)
    return commands


def test_redis_commands_of_a_request_are_its_children(pods: dict[str, Any]) -> None:
    trace_id = "1" * 31 + "a"
    assert call(pods, "/redis", trace_id) == "paid"
    commands = children_of_request(pods, trace_id, "redis", 3)
    by_name = {s["name"]: s["attributes"] for s in commands}
    assert by_name["SET"]["db.query.text"] == "SET order:7 ?"  # the value "paid" never appears
    assert by_name["SET"]["db.namespace"] == "1"
    assert by_name["GET"]["server.address"] == pods["db_host"]
    assert by_name["GET"]["server.port"] == 6379


def test_postgres_queries_of_a_request_are_its_children(pods: dict[str, Any]) -> None:
    trace_id = "2" * 31 + "b"
    assert call(pods, "/pg", trace_id) == [42, "secret"]
    commands = children_of_request(pods, trace_id, "postgresql", 1)
    [query] = [s for s in commands if s["attributes"]["db.operation.name"] == "SELECT"]
    assert query["attributes"]["db.query.text"] == "SELECT $1::int * ? AS doubled, ?"
    assert query["attributes"]["db.namespace"] == "postgres"
    assert query["name"] == "SELECT postgres"


def test_command_line_clients_get_spans_too(pods: dict[str, Any]) -> None:
    app, host = pods["app"], pods["db_host"]
    assert app.run("redis-cli", "-h", host, "-n", "4", "SET", "cli:1", "v-9").stdout.strip() == "OK"
    out = app.run("psql", "-h", host, "-U", "postgres", "-tAc", "SELECT 6 * 7 WHERE 'x' = 'x'").stdout
    assert out.strip() == "42"
    [redis_set] = spans(pods, lambda s: s["attributes"].get("db.query.text") == "SET cli:1 ?", 1)
    assert redis_set["attributes"]["db.namespace"] == "4" and redis_set["parent_span_id"] == ""
    text = "SELECT ? * ? WHERE ? = ?"
    [query] = spans(pods, lambda s: s["attributes"].get("db.query.text") == text, 1)
    assert query["attributes"]["db.system.name"] == "postgresql"


def test_a_server_first_banner_on_an_undeclared_port_arrives_at_once(pods: dict[str, Any]) -> None:
    result = pods["app"].run(*python("-c", FIRST_BYTE, pods["db_host"], str(BANNER_PORT))).stdout.split()
    banner, fastest, slowest = " ".join(result[:-2]), float(result[-2]), float(result[-1])
    assert banner == "220 banner.test ESMTP ready"
    # Detection waits 10 ms for the client before opening the upstream; 50 ms is the requirement.
    # The fastest of five is what the proxy adds; the slowest only shows nobody waited for a timeout.
    assert fastest < 0.05 and slowest < 1.0, (fastest, slowest)
    port = BANNER_PORT
    [connection] = spans(pods, lambda s: s["name"] == f"TCP {pods['db_host']}:{port}", 5)[:1]
    assert connection["attributes"]["tracecar.tcp.bytes_from_server"] == len(Banner.greeting)


def test_tls_passes_through_with_its_server_name_recorded(pods: dict[str, Any]) -> None:
    cafile = str(pods["certs"] / "cert.pem")
    answer = pods["app"].run(*python("-c", TLS_CLIENT, pods["db_host"], str(TLS_PORT), cafile)).stdout
    assert answer.strip() == "hello through tls"  # the server's own certificate verified: untouched
    [span] = spans(pods, lambda s: s["name"] == "TLS db.example.test", 1)
    assert span["attributes"]["tls.client.server_name"] == "db.example.test"
    assert span["attributes"]["network.transport"] == "tcp"
    assert span["kind"] == KIND_CLIENT


def test_a_database_served_by_the_pod_gets_server_spans(pods: dict[str, Any]) -> None:
    address = pods["app_address"]
    answer = pods["client"].run("redis-cli", "-h", address, "-p", str(APP_REDIS_PORT), "SET", "in:1", "v")
    assert answer.stdout.strip() == "OK"
    [command] = spans(pods, lambda s: s["attributes"].get("db.query.text") == "SET in:1 ?", 1)
    assert command["kind"] == KIND_SERVER and command["attributes"]["server.port"] == APP_REDIS_PORT
    name = f"TCP {address}:{APP_REDIS_PORT}"
    [connection] = spans(pods, lambda s: s["name"] == name, 1)
    assert connection["kind"] == KIND_SERVER
    assert connection["attributes"]["tracecar.tcp.end"] == "close"
