"""Pods for integration tests: network namespaces joined by veth pairs, removed whatever happens.

    with Topology() as topo:
        pod, client = topo.pod("pod"), topo.pod("client")
        link = topo.link(pod, client)           # 10.200.1.1/24 + fd00:200:1::1/64 on pod's eth0
        server = pod.spawn("python3", "-m", "http.server", "8080")
        client.run("curl", f"http://{link.a.ipv4}:8080/")

Every namespace is named `tcns-<pid>-<n>-<role>`, so parallel test runs never clash, and a
namespace whose creating process is gone is removed by `remove_stale_namespaces()`. Needs root.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

PREFIX = "tcns"
_NETNS_DIR = Path("/run/netns")
_names = itertools.count(1)


def ip(*args: str) -> str:
    """Run `ip ARGS` and return its output; a failure raises with ip's own message."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class Interface:
    """One end of a veth pair, as seen inside its pod."""

    name: str
    ipv4: ipaddress.IPv4Interface
    ipv6: ipaddress.IPv6Interface

    def address(self, family: int) -> str:
        """The bare address for `family` (4 or 6): what a client connects to."""
        return str(self.ipv4.ip if family == 4 else self.ipv6.ip)

    def network(self, family: int) -> str:
        return str(self.ipv4.network if family == 4 else self.ipv6.network)


@dataclass(frozen=True)
class Link:
    a: Interface
    b: Interface


@dataclass
class Pod:
    """A network namespace with lo up, and the processes a test started in it."""

    name: str
    role: str
    interfaces: list[Interface] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    groups: set[int] = field(default_factory=set)  # the processes `spawn` started, each leading a group

    def argv(self, *command: str, uid: int | None = None) -> list[str]:
        """`command` run inside the namespace, as `uid` if given (the program must be readable)."""
        prefix = ["ip", "netns", "exec", self.name]
        if uid is not None:
            prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        return [*prefix, *command]

    def run(
        self,
        *command: str,
        uid: int | None = None,
        check: bool = True,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*command, uid=uid),
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"in {self.role}: {' '.join(command)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def sysctl(self, settings: dict[str, str]) -> None:
        """Write `/proc/sys` keys (`net/ipv4/ip_forward`) inside the namespace, in one process."""
        script = "".join(f"echo {value} > /proc/sys/{key}; " for key, value in settings.items())
        self.run("sh", "-ec", script)

    def spawn(self, *command: str, uid: int | None = None) -> subprocess.Popen[str]:
        """Start a long-running process; it is killed when the topology closes."""
        proc = subprocess.Popen(
            self.argv(*command, uid=uid),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: `stop_processes` ends its children too
        )
        self.processes.append(proc)
        self.groups.add(proc.pid)
        return proc

    def stop_processes(self) -> None:
        """Kill each process, and what `spawn`ed ones started: a child left holding the output pipes
        (say the proxy a killed `tracecar sidecar` ran) would keep `communicate` waiting for ever."""
        for proc in self.processes:
            if proc.pid in self.groups:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.processes.clear()
        self.groups.clear()


class Topology:
    """Creates pods and veth links between them; `close()` (or leaving the `with`) removes all."""

    def __init__(self) -> None:
        self.pods: list[Pod] = []
        self._links = 0

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def pod(self, role: str) -> Pod:
        pod = Pod(name=f"{PREFIX}-{os.getpid()}-{next(_names)}-{role}", role=role)
        ip("netns", "add", pod.name)
        # Registered before anything else can fail, so close() always finds it.
        self.pods.append(pod)
        ip("-n", pod.name, "link", "set", "lo", "up")
        # Without duplicate address detection, link-local addresses are usable at once too; with
        # it, the first IPv6 connection to a neighbour can stall for a second.
        pod.sysctl({"net/ipv6/conf/all/accept_dad": "0", "net/ipv6/conf/default/accept_dad": "0"})
        return pod

    def link(self, a: Pod, b: Pod) -> Link:
        """A veth pair between two pods, with a fresh /24 and /64 (a gets .1, b gets .2)."""
        self._links += 1
        index = self._links
        ends = (_end(a, index, 1), _end(b, index, 2))
        ip(
            "link", "add", ends[0].name, "netns", a.name, "type", "veth",
            "peer", "name", ends[1].name, "netns", b.name,
        )  # fmt: skip
        for pod, end in zip((a, b), ends, strict=True):
            _configure(pod, end)
            pod.interfaces.append(end)
        for pod, end in zip((a, b), ends, strict=True):
            _wait_until_ready(pod, end)
        return Link(*ends)

    def close(self) -> None:
        for pod in self.pods:
            pod.stop_processes()
        for pod in self.pods:
            delete_namespace(pod.name)
        self.pods.clear()


def _end(pod: Pod, index: int, host: int) -> Interface:
    return Interface(
        name=f"eth{len(pod.interfaces)}",
        ipv4=ipaddress.IPv4Interface(f"10.200.{index}.{host}/24"),
        ipv6=ipaddress.IPv6Interface(f"fd00:200:{index}::{host}/64"),
    )


def _configure(pod: Pod, end: Interface) -> None:
    ip("-n", pod.name, "addr", "add", str(end.ipv4), "dev", end.name)
    ip("-n", pod.name, "-6", "addr", "add", str(end.ipv6), "dev", end.name, "nodad")
    ip("-n", pod.name, "link", "set", end.name, "up")


def _wait_until_ready(pod: Pod, end: Interface, timeout: float = 3.0) -> None:
    # Until the kernel's link watcher attaches a qdisc (it may take a second), a new veth drops
    # what it is given, and a test's first SYN would be retransmitted a second later.
    deadline = time.monotonic() + timeout
    while True:
        shown = ip("-n", pod.name, "link", "show", "dev", end.name)
        if "qdisc noop" not in shown and "state UP" in shown:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{end.name} in {pod.role} did not come up: {shown}")
        time.sleep(0.02)


def delete_namespace(name: str) -> None:
    """Kill what still runs in the namespace, then delete it (and the veth ends inside)."""
    pids = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def remove_stale_namespaces(names: Sequence[str] | None = None) -> list[str]:
    """Delete `tcns-*` namespaces left by test processes that no longer exist."""
    if names is None:
        names = sorted(path.name for path in _NETNS_DIR.glob(f"{PREFIX}-*"))
    stale = [name for name in names if not _owner_alive(name)]
    for name in stale:
        delete_namespace(name)
    return stale


def _owner_alive(name: str) -> bool:
    parts = name.split("-")
    if len(parts) < 3 or not parts[1].isdigit():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
