"""Where a proxy's CPU per request goes, in parts a reader can weigh: pure, folded stacks in.

`native_profile.fold` names frames by compiled function, system call and leaf library; `split`
puts every sample in exactly one part, the first rule that matches it winning:
- the kernel, by what the proxy asked of it: sending (a `write`, with the receiving socket's
  network path that loopback and veth run inside it), receiving, waiting for events and switching
  tasks, anything else (other system calls, interrupts, page faults);
- then the proxy's own work, by phase: span recording, trace context, the request head, the
  response head, the event loop (uvloop), the rest of the compiled data path;
- then what no compiled frame explains: interpreted Python and its runtime (the span export
  thread, timers), and for a C peer such as nginx its own code.
Shares times the measured CPU per request give microseconds per request (`per_request`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

KERNEL_SEND = "kernel: send (write, and the receiver's network path run inside it)"
KERNEL_RECEIVE = "kernel: receive (read)"
KERNEL_WAIT = "kernel: wait for events, switch tasks"
KERNEL_OTHER = "kernel: other system calls, interrupts, faults"
SPANS = "proxy: span recording (describe, encode, queue)"
CONTEXT = "proxy: trace context (propagation, sampling, ids)"
REQUEST_HEAD = "proxy: request head (parse, rewrite)"
RESPONSE_HEAD = "proxy: response head (parse)"
EVENT_LOOP = "proxy: event loop and transports (uvloop)"
DATA_PATH = "proxy: rest of the data path (forwarding, pool, metrics)"
INTERPRETED = "interpreted Python and its runtime (export thread, timers)"
OTHER_USER = "other user space (libraries; a C peer's own code)"

KERNEL_PARTS = (KERNEL_SEND, KERNEL_RECEIVE, KERNEL_WAIT, KERNEL_OTHER)

_SEND = frozenset(
    {"syscall write", "syscall writev", "syscall sendto", "syscall sendmsg", "syscall sendfile"}
)
_RECEIVE = frozenset({"syscall read", "syscall readv", "syscall recvfrom", "syscall recvmsg"})
_WAIT = frozenset({"syscall epoll_pwait", "syscall epoll_wait", "syscall futex", "scheduler"})
_SPAN_MODULES = ("worker.finished_exchange_recorder", "otlp.", "http_span.", "rpc_span.", "record.")
_CONTEXT_MODULES = ("propagators.", "sampling.", "ids.", "traceparent.", "tracestate.", "baggage.", "b3.")


def _has(frames: list[str], names: frozenset[str]) -> bool:
    return any(frame in names for frame in frames)


def _has_prefix(frames: list[str], prefixes: tuple[str, ...]) -> bool:
    return any(frame.startswith(prefixes) for frame in frames)


def _compiled(frame: str) -> bool:
    """A compiled function's frame is `module.name`; the others are `(library ...)`, `syscall x`,
    `softirq`, `scheduler`."""
    return "." in frame and not frame.startswith(("(", "syscall "))


_RULES: list[tuple[str, Callable[[list[str]], bool]]] = [
    (KERNEL_SEND, lambda frames: _has(frames, _SEND)),
    (KERNEL_RECEIVE, lambda frames: _has(frames, _RECEIVE)),
    (KERNEL_WAIT, lambda frames: _has(frames, _WAIT)),
    (KERNEL_OTHER, lambda frames: frames[-1].startswith("(kernel ") or _has_prefix(frames, ("syscall ",))),
    (SPANS, lambda frames: _has_prefix(frames, _SPAN_MODULES)),
    (CONTEXT, lambda frames: _has_prefix(frames, _CONTEXT_MODULES)),
    (REQUEST_HEAD, lambda frames: _has_prefix(frames, ("head.parse_request", "head.RequestHead."))),
    (RESPONSE_HEAD, lambda frames: _has_prefix(frames, ("head.parse_response",))),
    (EVENT_LOOP, lambda frames: frames[-1] == "(uvloop)"),
    (DATA_PATH, lambda frames: any(map(_compiled, frames))),
    (INTERPRETED, lambda frames: frames[-1] == "(CPython runtime)"),
]


def part_of(frames: list[str]) -> str:
    """The one part a sample's stack (outermost frame first) belongs to."""
    for part, matches in _RULES:
        if matches(frames):
            return part
    return OTHER_USER


def split(collapsed: str) -> list[tuple[str, float]]:
    """(part, share of all samples), largest first, from collapsed stacks (`stack count` lines)."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            counts[part_of(stack.split(";"))] += int(count_text)
    total = sum(counts.values())
    return [(part, count / total) for part, count in counts.most_common()] if total else []


def per_request(shares: list[tuple[str, float]], cpu_us_per_request: float) -> dict[str, float]:
    """Microseconds per request in each part, the profile's shares applied to a measured cost."""
    return {part: share * cpu_us_per_request for part, share in shares}


def kernel_us(parts: dict[str, float]) -> float:
    return sum(us for part, us in parts.items() if part in KERNEL_PARTS)
