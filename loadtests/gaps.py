"""What stands in the way of each speed goal a run failed, taken apart with that run's profiles.

Pure: rows, verdicts and profiles in, Markdown lines out. A native profile's shares of samples
(`cost_split`) times the CPU per request measured in the same scenario give microseconds per request
in each part; nginx, profiled the same way, shows what the kernel's part of the same reads, writes
and wake-ups costs a C proxy. The arithmetic then says how small tracecar's own part would have to
be for the goal to hold.
"""

from __future__ import annotations

from loadtests import cost_split
from loadtests.goals import CPU, CPU_BUDGET_US, LATENCY, SUBJECT, THROUGHPUT, Verdict
from loadtests.measurement import Measurement, find
from loadtests.profiles import Profile

PEER = "nginx"
SCENARIO_OF = {THROUGHPUT: "h1-1k", LATENCY: "rate-1000", CPU: "rate-1000"}
LATENCY_BUDGET_MS = 0.2
LATENCY_RESOLUTION_MS = 0.1  # hey's
INTRO = (
    "Each speed goal this run failed, taken apart with the native profiles: a profile's shares of "
    "samples (`loadtests.cost_split`) applied to the CPU per request measured in the same scenario. "
    "The kernel's parts are work any proxy does for the same reads, writes and wake-ups; nginx, profiled "
    "the same way, shows them for a C proxy. tracecar's own parts are what stands in the way."
)


def _costs(profiles: list[Profile], rows: list[Measurement], config: str, scenario: str) -> dict[str, float]:
    """us per request in each part, or {} without a profile or a measured cost."""
    row = find(rows, config, scenario)
    for profile in profiles:
        if profile.config == config and profile.scenario == scenario and profile.shares and row:
            cost = row.cpu_us_per_request
            return cost_split.per_request(profile.shares, cost) if cost else {}
    return {}


def _table(ours: dict[str, float], peer: dict[str, float]) -> list[str]:
    """Parts, largest of tracecar's first, then the sums; the peer's column is empty without its profile."""

    def row(name: str, mine: float, theirs: float) -> str:
        return f"| {name} | {mine:.1f} | {f'{theirs:.1f}' if peer else ''} |"

    lines = [f"| part | {SUBJECT} us/request | {PEER} us/request |", "| --- | ---: | ---: |"]
    for part in sorted(set(ours) | set(peer), key=lambda p: -ours.get(p, 0.0)):
        lines.append(row(part, ours.get(part, 0.0), peer.get(part, 0.0)))
    lines.append(row("kernel, all parts", cost_split.kernel_us(ours), cost_split.kernel_us(peer)))
    lines.append(row("user space, all parts", _user(ours), _user(peer)))
    lines.append(row("measured CPU per request", sum(ours.values()), sum(peer.values())))
    return [*lines, ""]


def _user(parts: dict[str, float]) -> float:
    return sum(parts.values()) - cost_split.kernel_us(parts)


def _within(budget: float, kernel: float, user: float) -> str:
    room = budget - kernel
    if room <= 0:
        return f"the kernel's part alone ({kernel:.1f} us) is over the {budget:.1f} us budget."
    return (  # tenths: near the goal, whole microseconds read "from 14 to 14"
        f"with the kernel's part as it is ({kernel:.1f} us), tracecar's user space would have to fall "
        f"from {user:.1f} to {room:.1f} us per request: {room / user:.0%} of today's."
    )


def _cpu(ours: dict[str, float], _rows: list[Measurement]) -> str:
    kernel, total = cost_split.kernel_us(ours), sum(ours.values())
    return f"At {total:.0f} us per request against {CPU_BUDGET_US:.0f}, " + _within(
        CPU_BUDGET_US, kernel, _user(ours)
    )


def _throughput(ours: dict[str, float], rows: list[Measurement]) -> str:
    mine, peer = find(rows, SUBJECT, "h1-1k"), find(rows, PEER, "h1-1k")
    if mine is None or peer is None or not mine.cpu_us_per_request:
        return "The rates to compare were not measured."
    busy = mine.cpu_us_per_request * mine.rate / 1e6
    target = 0.5 * peer.rate
    budget = 1e6 / target
    return (
        f"One worker is one event-loop thread: at {mine.rate:,.0f} req/s it kept {busy:.2f} CPUs busy "
        f"({mine.cpu_us_per_request:.0f} us per request). 50 % of {PEER} is {target:,.0f} req/s, which one "
        f"CPU serves at {budget:.0f} us per request or less; "
        + _within(budget, cost_split.kernel_us(ours), _user(ours))
    )


def _latency(ours: dict[str, float], rows: list[Measurement]) -> str:
    direct, mine, peer = (find(rows, c, "rate-1000") for c in ("direct", SUBJECT, PEER))
    if direct is None or mine is None:
        return "The latencies to compare were not measured."
    added = mine.latency_ms["p50"] - direct.latency_ms["p50"]
    spans = ours.get(cost_split.SPANS, 0.0)
    text = f"tracecar adds +{added:.2f} ms at p50"
    if peer is not None:
        text += (
            f"; {PEER}, behind the same redirection, loopback hop and wake-ups, adds "
            f"+{peer.latency_ms['p50'] - direct.latency_ms['p50']:.2f} ms"
        )
    excess = added - LATENCY_BUDGET_MS
    # Both p50s are rounded to hey's 0.1 ms: their difference is known to within 0.1 ms either way.
    low, high = max(excess - LATENCY_RESOLUTION_MS, 0.0), max(excess + LATENCY_RESOLUTION_MS, 0.0)
    return text + (
        f". On the request's path tracecar spends {_user(ours) - spans:.0f} us of user-space CPU per request"
        f" at this rate (span recording, {spans:.0f} us more, runs after the response is written), besides"
        f" the kernel's parts above. To add {LATENCY_BUDGET_MS} ms or less the path must get shorter by"
        f" about {excess * 1000:.0f} us (between {low * 1000:.0f} and {high * 1000:.0f} us, hey's"
        " resolution allowing)."
    )


_EXPLAIN = {CPU: _cpu, THROUGHPUT: _throughput, LATENCY: _latency}


def section(rows: list[Measurement], verdicts: list[Verdict], profiles: list[Profile]) -> list[str]:
    """`## What stands in the way`, one part per failed speed goal; nothing when none failed."""
    failed = [v for v in verdicts if v.passed is False and v.goal in _EXPLAIN]
    if not failed:
        return []
    lines = ["## What stands in the way", "", INTRO, ""]
    for verdict in failed:
        scenario = SCENARIO_OF[verdict.goal]
        lines += [f"### {verdict.goal}: {verdict.measured}", ""]
        ours = _costs(profiles, rows, SUBJECT, scenario)
        if not ours:
            lines += [
                f"No native profile of {SUBJECT} under `{scenario}` in this run (`--profile` takes one).",
                "",
            ]
            continue
        peer = _costs(profiles, rows, PEER, scenario)
        lines += [f"Per request under `{scenario}`:", "", *_table(ours, peer)]
        lines += [_EXPLAIN[verdict.goal](ours, rows), ""]
    return lines
