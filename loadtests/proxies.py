"""The configurations compared: how each sidecar (or none) is started in the pod namespace.

Every proxy sits exactly where tracecar sits: `tracecar init` installs the same iptables rules in the
pod (inbound connections redirected to port 15006), and the proxy runs as the sidecar uid 1337, which
those rules exempt. The peers therefore pay the same redirection and the same extra loopback hop as
tracecar; only what happens between accept and upstream differs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtests.servers import APP_PORT, INBOUND_PORT, peer_config, write_site
from tests.netns import Pod

ROOT = Path(__file__).resolve().parent.parent
PROXY_UID = 1337
PEERS_VENV = ROOT / "loadtests" / ".venv-peers"
MITMPROXY_REQUIREMENT = "mitmproxy>=10"
ALL_PROTOCOLS = frozenset({"h1", "h2", "grpc"})


@dataclass(frozen=True)
class Launch:
    """What a proxy's start needs to know about the stage it is started on."""

    pod: Pod
    workdir: Path  # this configuration's own scratch folder
    log: Path  # the proxy's standard output and error
    otlp_endpoint: str  # the span counter, OTLP/HTTP


@dataclass(frozen=True)
class Config:
    name: str
    title: str
    start: Callable[[Launch], subprocess.Popen[str]] | None  # None: no proxy (direct)
    protocols: frozenset[str] = ALL_PROTOCOLS
    unsupported_reason: str = ""
    exports_spans: bool = False


def base_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": "/tmp"}


def spawn_logged(pod: Pod, argv: list[str], log: Path, uid: int | None = None) -> subprocess.Popen[str]:
    """Like `Pod.spawn`, with output to a file: a busy proxy must never block on a full pipe."""
    with log.open("a") as out:
        proc = subprocess.Popen(
            pod.argv(*argv, uid=uid),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    pod.processes.append(proc)
    return proc


def install_redirection(pod: Pod) -> None:
    pod.run(sys.executable, "-m", "proxy.cli", "init", "--proxy-uid", str(PROXY_UID), env=base_env())


def _tracecar(workers: int) -> Callable[[Launch], subprocess.Popen[str]]:
    def start(launch: Launch) -> subprocess.Popen[str]:
        install_redirection(launch.pod)
        env = {
            **base_env(),
            "OTEL_SERVICE_NAME": "loadtest-app",
            "OTEL_EXPORTER_OTLP_ENDPOINT": launch.otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        argv = [sys.executable, "-m", "proxy.cli", "proxy", "--run-as", str(PROXY_UID)]
        argv += ["--workers", str(workers), "--log-level", "warning"]
        return spawn_logged(launch.pod, ["env", *(f"{k}={v}" for k, v in env.items()), *argv], launch.log)

    return start


def _owned_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, PROXY_UID, PROXY_UID)
    return path


def _nginx(launch: Launch) -> subprocess.Popen[str]:
    install_redirection(launch.pod)
    directory = launch.workdir / "nginx-peer"
    conf = write_site(directory, "peer", peer_config(directory))
    for path in (directory, directory / "peer-tmp"):
        os.chown(path, PROXY_UID, PROXY_UID)
    # Not root, so nginx keeps the uid it was started with (its `user` directive needs root).
    argv = ["nginx", "-c", str(conf), "-p", str(directory), "-e", "stderr"]
    return spawn_logged(launch.pod, argv, launch.log, uid=PROXY_UID)


def ensure_peers_venv(log: Path) -> Path:
    """mitmproxy in its own virtualenv (its pins must not meet ours); installed once, then reused."""
    mitmdump = PEERS_VENV / "bin" / "mitmdump"
    if mitmdump.exists():
        return mitmdump
    venv.create(PEERS_VENV, with_pip=True)
    with log.open("a") as out:
        subprocess.run(
            [str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "-q", MITMPROXY_REQUIREMENT],
            stdout=out, stderr=subprocess.STDOUT, check=True, timeout=600,
        )  # fmt: skip
    return mitmdump


def _mitmproxy(launch: Launch) -> subprocess.Popen[str]:
    mitmdump = ensure_peers_venv(launch.log.with_name("mitmproxy-install.log"))
    install_redirection(launch.pod)
    home = _owned_dir(launch.workdir / "mitmproxy-home")
    argv = [
        "env", f"HOME={home}", str(mitmdump), "--quiet",
        "--mode", f"reverse:http://127.0.0.1:{APP_PORT}", "--listen-port", str(INBOUND_PORT),
        "--set", f"confdir={home}", "--set", "keep_host_header=true",
    ]  # fmt: skip
    return spawn_logged(launch.pod, argv, launch.log, uid=PROXY_UID)


CONFIGS = [
    Config("direct", "no proxy: the client talks to the application (the limit)", None),
    Config(
        "tracecar-1", "tracecar, 1 worker, every request sampled, spans exported over OTLP/HTTP",
        _tracecar(1), exports_spans=True,
    ),
    Config("tracecar-2", "tracecar --workers 2, the same", _tracecar(2), exports_spans=True),
    Config(
        "nginx", "nginx (Debian), 1 worker, reverse proxy, upstream keep-alive, behind the same redirection",
        _nginx, frozenset({"h1"}),
        "the nginx peer proxies HTTP/1.1 to one upstream; h2c and gRPC would need their own listeners",
    ),
    Config(
        "mitmproxy", "mitmproxy (PyPI) mitmdump --mode reverse, quiet, behind the same redirection",
        _mitmproxy, frozenset({"h1", "h2"}),
        "reverse mode forwards everything to one HTTP/1.1 upstream, not to the gRPC port",
    ),
]  # fmt: skip
BY_NAME = {c.name: c for c in CONFIGS}
