"""The proxy processes' own accounting, from /proc: CPU time (utime + stime) and peak RSS (VmHWM).

The parsing is pure (text in, numbers out); `ProxyProcesses` finds the processes of one uid in a
network namespace (every proxy under test runs as the sidecar uid) and samples them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(stat: str) -> int:
    """utime + stime from /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses."""
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15 of proc(5).
    return int(fields[11]) + int(fields[12])


def status_field_kib(status: str, name: str) -> int | None:
    """A `Name:  1234 kB` line of /proc/<pid>/status, in KiB."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0])
    return None


def real_uid(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise ValueError("no Uid line in /proc/<pid>/status")


@dataclass(frozen=True)
class Sample:
    cpu_s: float  # CPU seconds of all the processes so far
    peak_rss_kib: dict[int, int]  # pid -> VmHWM
    rss_kib: dict[int, int]  # pid -> VmRSS now


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None  # the process is gone


class ProxyProcesses:
    """The processes of `uid` in network namespace `netns`, found afresh at each sample."""

    def __init__(self, netns: str, uid: int) -> None:
        self.netns = netns
        self.uid = uid

    def pids(self) -> list[int]:
        listed = subprocess.run(
            ["ip", "netns", "pids", self.netns], capture_output=True, text=True, check=True
        ).stdout.split()
        mine = []
        for pid in map(int, listed):
            status = _read(Path(f"/proc/{pid}/status"))
            if status is not None and real_uid(status) == self.uid:
                mine.append(pid)
        return mine

    def sample(self) -> Sample:
        ticks, peaks, now = 0, {}, {}
        for pid in self.pids():
            stat, status = _read(Path(f"/proc/{pid}/stat")), _read(Path(f"/proc/{pid}/status"))
            if stat is None or status is None:
                continue
            ticks += cpu_ticks(stat)
            peak = status_field_kib(status, "VmHWM")
            if peak is not None:
                peaks[pid] = peak
            rss = status_field_kib(status, "VmRSS")
            if rss is not None:
                now[pid] = rss
        return Sample(ticks / CLOCK_TICKS, peaks, now)

    def busiest(self) -> int | None:
        """The pid that has used the most CPU so far: the worker, not a supervisor."""
        used = {}
        for pid in self.pids():
            stat = _read(Path(f"/proc/{pid}/stat"))
            if stat is not None:
                used[pid] = cpu_ticks(stat)
        return max(used, key=lambda pid: used[pid], default=None)

    def reset_peak_rss(self) -> None:
        """Writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)), so a peak is per scenario."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
