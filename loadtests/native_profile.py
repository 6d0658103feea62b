"""perf profiles of a proxy process under load: what py-spy cannot see.

The data path is compiled with mypyc, so py-spy shows it as one opaque frame, and much of a
request's cost is system calls and the kernel's network path run inside them. perf samples every
thread on the CPU with DWARF call graphs; `fold` turns `perf script`'s text into collapsed stacks
(what `profiles.top_functions` reads) whose frames say where the time goes:
- a compiled function, by module and name: `forwarder.Upstream.data_received`;
- a system call: `syscall write`; inside it, `softirq`, the receiving socket's network path the
  kernel runs in the sender's call on loopback and veth;
- at the innermost end, what was running: `(CPython runtime)`, `(libc memmove)`,
  `(kernel <symbol>)`, `(uvloop)`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

RATE_HZ = 999
STACK_BYTES = 16384  # of user stack copied per sample: deep enough for uvloop -> compiled frames
_SYSCALL = re.compile(r"^(?:__x64_sys_|__se_sys_|__do_sys_|ksys_|__sys_)(\w+)$")
# The kernel's system call entry; the function it calls is the call itself, even when the table's
# wrapper is inlined away (nginx's writev samples show do_syscall_64 -> do_writev).
_SYSCALL_ENTRY = ("do_syscall_64", "x64_sys_call")
# What the entry also calls that is not the call: the way back to user space (a reschedule there is
# the scheduler's, named as such further in) and tracing hooks.
_SYSCALL_EDGES = ("exit_to_user_mode", "syscall_exit", "syscall_trace", "__rseq", "x64_sys_call")
_SYSCALL_BODY = re.compile(r"^(?:__x64_sys_|__se_sys_|__do_sys_|ksys_|__sys_|do_)?(\w+?)(?:\..*)?$")
_SOFTIRQ = ("handle_softirqs", "__do_softirq")
_SCHEDULER = ("__schedule", "schedule")
_VARIANT = re.compile(r"_(?:avx|sse|evex|erms|unaligned).*$")  # __memmove_avx512_unaligned_erms
_SYMBOL = re.compile(r"^\s*[0-9a-f]+ (.+?)(?:\+0x[0-9a-f]+)? \((.*)\)$")


def available() -> bool:
    return shutil.which("perf") is not None


def start(pid: int, seconds: float, out_dir: Path, name: str) -> subprocess.Popen[bytes]:
    """Start sampling `pid` (all its threads) for `seconds`; wait on the returned process."""
    command = ["perf", "record", "-q", "-F", str(RATE_HZ), "--call-graph", f"dwarf,{STACK_BYTES}"]
    command += ["-p", str(pid), "-o", str(out_dir / f"{name}.perf.data"), "--", "sleep", f"{seconds:g}"]
    log = (out_dir / f"{name}.perf.log").open("ab")
    return subprocess.Popen(command, stdout=log, stderr=log)


def collapse(out_dir: Path, name: str, timeout_s: float = 300.0) -> str:
    """Fold the recorded samples into `<name>.collapsed.txt` and return them; the (large) perf data
    file is removed."""
    data = out_dir / f"{name}.perf.data"
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "comm,tid,ip,sym,dso"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout_s,
        check=False,
    )
    data.unlink(missing_ok=True)
    log = out_dir / f"{name}.perf.log"
    if log.exists() and not log.stat().st_size:
        log.unlink()
    folded = fold(script.stdout)
    (out_dir / f"{name}.collapsed.txt").write_text(folded)
    return folded


def fold(script: str) -> str:
    """`perf script` samples (a header line, then frames innermost first) to collapsed stacks."""
    stacks: Counter[str] = Counter()
    for block in script.split("\n\n"):
        frames = [(m[1], m[2]) for m in map(_SYMBOL.match, block.splitlines()[1:]) if m is not None]
        if frames:
            stacks[";".join(_named(_physical(frames)))] += 1
    return "".join(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))


def _physical(frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An inlined frame belongs to the library of the frame it was inlined into (the next one out)."""
    resolved = list(frames)
    outer = ""
    for index in range(len(resolved) - 1, -1, -1):
        symbol, dso = resolved[index]
        if dso == "inlined":
            resolved[index] = (symbol, outer)
        else:
            outer = dso
    return resolved


def _named(frames: list[tuple[str, str]]) -> list[str]:
    """Outermost first: the frames worth a name, and what the innermost one was doing."""
    names: list[str] = []
    outer = ""
    for symbol, _ in reversed(frames):
        name = _frame_name(symbol) or _entered_syscall(outer, symbol)
        if name and (not names or names[-1] != name):
            names.append(name)
        outer = symbol
    leaf = _leaf_name(*frames[0])
    if not names or names[-1] != leaf:
        names.append(leaf)
    return names


def _frame_name(symbol: str) -> str | None:
    for prefix in ("CPyDef_", "CPyPy_"):
        if symbol.startswith(prefix):
            return symbol[len(prefix) :].replace("___", ".")
    syscall = _SYSCALL.match(symbol)
    if syscall:
        return f"syscall {syscall.group(1)}"
    if symbol in _SOFTIRQ:
        return "softirq"
    if symbol in _SCHEDULER:
        return "scheduler"
    return None


def _entered_syscall(outer: str, symbol: str) -> str | None:
    if outer not in _SYSCALL_ENTRY or symbol.startswith(_SYSCALL_EDGES):
        return None
    return "syscall " + _SYSCALL_BODY.sub(r"\1", symbol)


def _leaf_name(symbol: str, dso: str) -> str:
    return _frame_name(symbol) or _library_leaf(symbol, dso)


def _library_leaf(symbol: str, dso: str) -> str:
    if "libpython" in dso:
        return "(CPython runtime)"  # objects, calls and dicts, for compiled and interpreted code alike
    if "libc" in dso:
        return f"(libc {_VARIANT.sub('', symbol.lstrip('_'))})"
    if "kernel" in dso:
        return f"(kernel {symbol})"
    if "uvloop" in dso:
        return "(uvloop)"
    if "mypyc" in dso:
        return "(compiled code's runtime helpers)"
    return f"({Path(dso).name or symbol})"
