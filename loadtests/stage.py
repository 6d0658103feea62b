"""One configuration's stage: fresh namespaces, the application, the span counter and the proxy.

    client ns --veth--> pod ns: app (nginx :8080 h1, :8081 h2c; grpcio :50051) + proxy as uid 1337
                                 behind `tracecar init`'s iptables rules
                        pod ns --veth--> collector ns: OTLP receiver counting spans

Each configuration gets new namespaces, so no rule or process of one can touch the next.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from loadtests.proc_accounting import ProxyProcesses
from loadtests.proxies import PROXY_UID, Config, Launch, base_env, spawn_logged
from loadtests.servers import GRPC_PORT, INBOUND_PORT, app_config, write_site
from loadtests.tool_output import parse_prometheus
from tests.netns import Pod, Topology

ADMIN_URL = "http://127.0.0.1:15000/metrics"
START_TIMEOUT_S = 60.0  # mitmproxy's first start compiles and loads a lot
T = TypeVar("T")


class StageError(RuntimeError):
    """The stage could not be set up: every scenario of this configuration fails with this message."""


def wait_for(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise StageError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


@dataclass
class Stage:
    config: Config
    client: Pod
    pod: Pod
    address: str  # the application's address, as the client dials it
    logs: Path
    workdir: Path
    otlp_endpoint: str
    spans_file: Path
    proxy: subprocess.Popen[str] | None = None
    start_seconds: list[float] = field(default_factory=list)  # proxy start to listening, each start
    idle_rss_mib: list[float] = field(default_factory=list)  # the largest proxy process once listening

    @property
    def processes(self) -> ProxyProcesses:
        return ProxyProcesses(self.pod.name, PROXY_UID)

    @property
    def proxy_log(self) -> Path:
        return self.logs / f"{self.config.name}-proxy.log"

    def listening(self, port: int) -> bool:
        return f":{port} " in self.pod.run("ss", "-ltnH").stdout

    def ensure_proxy(self) -> None:
        """Start the proxy, or start it again if it exited; StageError if it does not come up."""
        if self.config.start is None or (self.proxy is not None and self.proxy.poll() is None):
            return
        launch = Launch(self.pod, self.workdir, self.proxy_log, self.otlp_endpoint)
        started = time.monotonic()
        self.proxy = self.config.start(launch)
        proxy = self.proxy

        def up() -> bool:
            if proxy.poll() is not None:
                raise StageError(f"{self.config.name} exited with {proxy.returncode}: {tail(self.proxy_log)}")
            return self.listening(INBOUND_PORT) and (not self.config.exports_spans or self.listening(15000))

        wait_for(up, START_TIMEOUT_S, f"{self.config.name} to listen")
        self.start_seconds.append(time.monotonic() - started)
        self.idle_rss_mib.append(max(self.processes.sample().rss_kib.values(), default=0) / 1024)

    def describe_starts(self) -> str:
        """Each start of the proxy: seconds to listening, and its idle RSS then."""
        starts = zip(self.start_seconds, self.idle_rss_mib, strict=True)
        return "; ".join(f"{s:.2f} s, {mib:.1f} MiB idle" for s, mib in starts) or "(no proxy)"

    def proxy_exit(self) -> str | None:
        """Why the proxy is gone, or None while it runs."""
        if self.proxy is None or self.proxy.poll() is None:
            return None
        return f"the proxy exited with {self.proxy.returncode}: {tail(self.proxy_log, 800)}"

    def time_wait_sockets(self) -> int:
        """Sockets in TIME-WAIT in the pod: what earlier scenarios leave for the next one's connects."""
        return len(self.pod.run("ss", "-tanH", "state", "time-wait").stdout.splitlines())

    def spans_received(self) -> int:
        try:
            return int(self.spans_file.read_text() or 0)
        except FileNotFoundError:
            return 0

    def metrics_text(self) -> str:
        """tracecar's /metrics (of the admin worker), or "" if it does not answer."""
        answer = self.pod.run("curl", "-sS", "--max-time", "5", ADMIN_URL, check=False)
        return answer.stdout if answer.returncode == 0 else ""

    def metrics(self) -> dict[str, float]:
        return parse_prometheus(self.metrics_text())


def _start_app(pod: Pod, workdir: Path, logs: Path, prefix: str) -> None:
    site = workdir / "app"
    conf = write_site(site, "app", app_config(site))
    spawn_logged(
        pod,
        ["nginx", "-c", str(conf), "-p", str(site), "-e", "stderr"],
        logs / f"{prefix}-app.log",
    )
    grpc_log = logs / f"{prefix}-app-grpc.log"
    spawn_logged(pod, [sys.executable, "-m", "loadtests.grpc_load", "serve", str(GRPC_PORT)], grpc_log)
    wait_for(lambda: "ready" in tail(grpc_log), 30, "the gRPC application server")


def _start_counter(collector: Pod, spans_file: Path, logs: Path, prefix: str) -> int:
    log = logs / f"{prefix}-span-counter.log"
    log.write_text("")  # its ports are read back from it: never a line of an earlier run's counter
    argv = ["env", *(f"{k}={v}" for k, v in base_env().items())]
    spawn_logged(collector, [*argv, sys.executable, "-m", "loadtests.span_counter", str(spans_file)], log)
    line = wait_for(
        lambda: next((s for s in tail(log).splitlines() if s.startswith("{")), None), 30, "the span counter"
    )
    return int(json.loads(line)["http"])


@contextmanager
def open_stage(config: Config, logs: Path) -> Iterator[Stage]:
    # The servers' workers and the proxies run as other users: their files live in a folder every
    # user can reach (a results folder may sit under a private one, as pytest's tmp_path does).
    workdir = Path(tempfile.mkdtemp(prefix=f"tracecar-loadtests-{config.name}-"))
    workdir.chmod(0o755)
    try:
        with _topology(config, workdir, logs) as stage:
            yield stage
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _topology(config: Config, workdir: Path, logs: Path) -> Iterator[Stage]:
    with Topology() as topology:
        client, pod, collector = (topology.pod(role) for role in ("lt-client", "lt-pod", "lt-otlp"))
        to_pod, to_collector = topology.link(client, pod), topology.link(pod, collector)
        spans_file = workdir / "spans-received"
        http_port = _start_counter(collector, spans_file, logs, config.name)
        _start_app(pod, workdir, logs, config.name)
        address = to_pod.b.address(4)
        wait_for(lambda: ":8080 " in pod.run("ss", "-ltnH").stdout, 10, "the application (nginx)")
        endpoint = f"http://{to_collector.b.address(4)}:{http_port}"
        stage = Stage(config, client, pod, address, logs, workdir, endpoint, spans_file)
        stage.ensure_proxy()
        yield stage
