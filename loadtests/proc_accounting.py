"""The proxy processes' own accounting, from /proc: CPU time and peak RSS (VmHWM).

CPU time is each thread's time on a CPU from `/proc/<pid>/task/<tid>/schedstat`, in nanoseconds.
utime + stime (`/proc/<pid>/stat`) count whole clock ticks, 10 ms here, charged to whichever task the
tick finds running: at 1,000 req/s a proxy runs about 5 % of the time, so a 10 s window sees some 50
of its ticks, and the count moves by about a seventh from one run to the next. They are the fallback
where the kernel keeps no schedstat.

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


def run_ns(schedstat: str) -> int:
    """Time on a CPU from a schedstat line ("run wait timeslices", the first two in nanoseconds)."""
    return int(schedstat.split(maxsplit=1)[0])


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds of the process's live threads; None when it is gone."""
    tasks = Path(f"/proc/{pid}/task")
    try:
        tids = [entry.name for entry in tasks.iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return None
    if not tids:
        return None
    if not (tasks / tids[0] / "schedstat").exists():
        stat = _read(Path(f"/proc/{pid}/stat"))
        return None if stat is None else cpu_ticks(stat) / CLOCK_TICKS
    total = 0
    for tid in tids:
        text = _read(tasks / tid / "schedstat")
        total += 0 if text is None else run_ns(text)  # a thread that just ended: its time is gone too
    return total / 1e9


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
        cpu_s, peaks, now = 0.0, {}, {}
        for pid in self.pids():
            used, status = process_cpu_s(pid), _read(Path(f"/proc/{pid}/status"))
            if used is None or status is None:
                continue
            cpu_s += used
            peak = status_field_kib(status, "VmHWM")
            if peak is not None:
                peaks[pid] = peak
            rss = status_field_kib(status, "VmRSS")
            if rss is not None:
                now[pid] = rss
        return Sample(cpu_s, peaks, now)

    def busiest(self) -> int | None:
        """The pid that has used the most CPU so far: the worker, not a supervisor."""
        used = {}
        for pid in self.pids():
            cpu_s = process_cpu_s(pid)
            if cpu_s is not None:
                used[pid] = cpu_s
        return max(used, key=lambda pid: used[pid], default=None)

    def reset_peak_rss(self) -> None:
        """Writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)), so a peak is per scenario."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
