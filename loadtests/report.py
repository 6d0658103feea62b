"""The comparison as Markdown: a pure function of the run's facts, rows, verdicts and profile."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtests import gaps
from loadtests.goals import Verdict
from loadtests.measurement import OK, Measurement
from loadtests.profiles import Profile

METHOD = """\
## How it was measured

- Topology: a client network namespace, a pod namespace holding the application and the sidecar, and
  a collector namespace with a real OTLP receiver (`tests.otlp_receiver`, counting spans), joined by
  veth pairs. Every configuration gets fresh namespaces and the same application: nginx, one worker,
  serving 1 KiB and 1 MiB files over HTTP/1.1 (:8080) and h2c (:8081), and a grpcio server (:50051).
- Every proxy sits where a sidecar sits: `tracecar init` redirects the pod's inbound connections to
  port 15006 and the proxy runs as uid 1337. nginx and mitmproxy are started on that port behind the
  same rules, so each pays the same redirection and loopback hop; `direct` has no rules and no proxy.
  nginx uses upstream keep-alive (tracecar pools upstream connections too) and one worker.
- Load: wrk for saturation (one thread), hey for the fixed rate (its times have 0.1 ms resolution,
  so latency differences under 0.1 ms are not visible), h2load for HTTP/2, a grpcio client
  (`loadtests.grpc_load`) for gRPC. The client, the application and the proxy share the machine's CPUs.
- Proxy CPU: the run time of every thread of every uid-1337 process in the pod
  (`/proc/<pid>/task/<tid>/schedstat`, nanoseconds), sampled around the measured run (after the
  warm-up). Peak RSS: `VmHWM` of each such process, reset before
  each scenario (`clear_refs`); the largest one is shown.
- TIME-WAIT: the sockets in that state in the pod before each scenario. A proxy that opens a
  connection per request leaves thousands; they make later connects slower (the kernel searches for a
  free port) and can exhaust the ephemeral ports, so the scenarios that leave them run last.
- Spans: tracecar's `/metrics` (`tracecar_spans_exported_total`, `tracecar_spans_dropped_total`,
  summed over the workers) and the receiver's own count, against the requests hey completed.
"""


_NOTES = {
    "pod_time_wait_before": "TIME-WAIT in pod before",
    "spans_expected": "spans expected",
    "spans_received": "received",
    "spans_exported": "exported",
    "spans_dropped": "dropped",
    "rounds": "median of rounds:",
    "rounds_failed": "rounds failed:",
}


@dataclass
class ReportInput:
    facts: dict[str, str]  # when, machine, durations, the noise warning
    configs: list[tuple[str, str, str]]  # name, description, start time
    scenarios: list[tuple[str, str]]  # name, title
    rows: list[Measurement]
    verdicts: list[Verdict]
    charts: list[str] = field(default_factory=list)  # file names beside report.md
    profiles: list[Profile] = field(default_factory=list)


def _num(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}{suffix}"


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def _goals(verdicts: list[Verdict]) -> list[str]:
    lines = ["## Goals (issue 7)", "", "| goal | target | measured | verdict |", "| --- | --- | --- | --- |"]
    lines += [f"| {v.goal} | {v.target} | {v.measured} | {_verdict(v.passed)} |" for v in verdicts]
    return [*lines, ""]


def _latency(row: Measurement, key: str) -> str:
    value = row.latency_ms.get(key)
    return "" if value is None else f"{value:.2f}"


def _row(row: Measurement) -> str:
    if row.outcome != OK:
        reason = (row.error or "").replace("|", "\\|").replace("\n", " ")[:300]
        return f"| {row.config} | {row.outcome}: {reason} |||||||||"
    extra = ", ".join(f"{_NOTES.get(k, k)} {v:,.0f}" for k, v in row.extra.items())
    return (
        f"| {row.config} | {_num(row.rate)} | {_num(row.mib_per_s, 1)} | {_latency(row, 'p50')} | "
        f"{_latency(row, 'p99')} | {_latency(row, 'max')} | {row.errors:,} | "
        f"{_num(row.cpu_us_per_request, 1)} | {_num(row.vcpu_per_1k_rps, 3)} | "
        f"{_num(row.proxy_peak_rss_mib, 1)} | {extra} |"
    )


def _scenario(name: str, title: str, rows: list[Measurement]) -> list[str]:
    lines = [f"### {name}: {title}", ""]
    lines.append(
        "| config | req/s | MiB/s | p50 ms | p99 ms | max ms | errors | proxy CPU us/req "
        "| vCPU per 1k req/s | peak RSS MiB | notes |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    lines += [_row(r) for r in rows if r.scenario == name]
    return [*lines, ""]


def _profile(profile: Profile) -> list[str]:
    lines = [f"## {profile.title}", "", profile.note, ""]
    if profile.svg is not None:
        lines += [f"Flamegraph: [{profile.svg}]({profile.svg}) ({profile.samples:,} samples).", ""]
    if profile.hotspots:
        lines += ["| function | self | on stack |", "| --- | ---: | ---: |"]
        lines += [f"| `{h.function}` | {h.self_share:.1%} | {h.total_share:.1%} |" for h in profile.hotspots]
        lines.append("")
    return lines


def render(data: ReportInput) -> str:
    lines = ["# tracecar load-test comparison", ""]
    lines += [f"- {key}: {value}" for key, value in data.facts.items()]
    lines += [
        "",
        *_goals(data.verdicts),
        "## Configurations",
        "",
        "| config | what | proxy start to listening, RSS once listening |",
    ]
    lines.append("| --- | --- | --- |")
    lines += [f"| {name} | {what} | {start} |" for name, what, start in data.configs]
    lines += ["", "## Results", ""]
    for name, title in data.scenarios:
        lines += _scenario(name, title, data.rows)
    for profile in data.profiles:
        lines += _profile(profile)
    lines += gaps.section(data.rows, data.verdicts, data.profiles)
    if data.charts:
        lines += ["## Charts", ""] + [f"![{c}]({c})" for c in data.charts] + [""]
    return "\n".join(lines) + "\n" + METHOD
