"""py-spy profiles of the proxy under load: a flamegraph SVG and a table of where the samples are.

`top_functions` is pure: py-spy's raw (collapsed stacks) text in, rows out. `record` samples a pid
with py-spy twice at once (a flamegraph and the raw stacks), without pausing the process.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE_HZ = 200


@dataclass(frozen=True)
class Hotspot:
    function: str  # "name (module/file.py)"
    self_share: float  # of all samples, the share where it was the innermost frame
    total_share: float  # the share where it was anywhere on the stack


@dataclass
class Profile:
    """What the report shows of a profile: how it was taken, the flamegraph's file, the hot functions."""

    note: str
    title: str = "Profile"
    svg: str | None = None
    samples: int = 0
    hotspots: list[Hotspot] = field(default_factory=list)
    config: str = ""  # of a native profile: whose process, under which scenario, and its cost split
    scenario: str = ""
    shares: list[tuple[str, float]] = field(default_factory=list)


def top_functions(collapsed: str, limit: int = 20, by_total: bool = False) -> tuple[int, list[Hotspot]]:
    """(samples, the `limit` functions with most self samples, or most samples anywhere on the
    stack with `by_total`) from collapsed stacks (py-spy's raw format)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if samples == 0:
        return 0, []
    ranked = anywhere if by_total else own
    top = [Hotspot(f, own[f] / samples, anywhere[f] / samples) for f, _ in ranked.most_common(limit)]
    return samples, top


def start(pid: int, seconds: float, out_dir: Path, name: str) -> list[subprocess.Popen[bytes]]:
    """Start sampling `pid` for `seconds`; wait on the returned processes."""
    common = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    common += ["--rate", str(RATE_HZ), "--nonblocking", "--nolineno"]
    outputs = [("flamegraph", out_dir / f"{name}.svg"), ("raw", out_dir / f"{name}.collapsed.txt")]
    log = (out_dir / f"{name}.py-spy.log").open("ab")
    return [
        subprocess.Popen([*common, "--format", fmt, "--output", str(path)], stdout=log, stderr=log)
        for fmt, path in outputs
    ]
