"""The whole comparison in one command: every configuration under every scenario, side by side.

    sudo .venv/bin/python -m loadtests.compare [--duration S] [--spans-duration S] [--warmup S]
        [--scenarios a,b] [--configs a,b] [--repeat N] [--profile] [--out DIR]

Writes report.md, results.json, throughput.png, latency.png, cpu.png and logs/ under
loadtests/results/<UTC time>/ (or --out). Needs root (network namespaces, iptables). A configuration or
scenario that fails is a row saying why; the run itself goes on. With --repeat N every configuration
runs N times, interleaved, and each number is the median of its rounds (`loadtests.rounds`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from loadtests import charts, cost_split, native_profile, profiles, rounds
from loadtests.gaps import PEER
from loadtests.goals import SUBJECT, evaluate
from loadtests.measurement import FAILED, OK, Measurement
from loadtests.proxies import BY_NAME as CONFIGS
from loadtests.proxies import Config
from loadtests.report import ReportInput, render
from loadtests.runner import measure
from loadtests.scenarios import BY_NAME as SCENARIOS
from loadtests.scenarios import Scenario
from loadtests.stage import Stage, StageError, open_stage
from tests.netns import remove_stale_namespaces

RESULTS = Path(__file__).resolve().parent / "results"
PROFILE_SCENARIO = "h1-1k"
# perf, for the compiled data path and the kernel: at saturation, and at the rate the CPU goal is read at
NATIVE_PROFILE_SCENARIOS = ("h1-1k", "rate-1000")
PROFILED = (SUBJECT, PEER)  # the peer's profiles size the kernel's part of the same work
NOISE = "noisy: this 2-core machine is shared with other work while it runs; read ratios, not absolutes"


def _names(value: str, known: Mapping[str, object], what: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per scenario (10)")
    parser.add_argument(
        "--spans-duration", type=float, default=60.0, help="seconds of the 5,000 spans/s run (60)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before each measurement (2)"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated (default: all)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each number the median of them (1)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"py-spy profile of {SUBJECT} under {PROFILE_SCENARIO}, perf profiles of {SUBJECT} and {PEER} "
        + "under "
        + ", ".join(NATIVE_PROFILE_SCENARIOS)
        + "; the report takes each failed speed goal apart with them",
    )
    parser.add_argument("--out", type=Path, help="results folder (default: loadtests/results/<UTC time>)")
    args = parser.parse_args(argv)
    try:
        args.scenario_names = _names(args.scenarios, SCENARIOS, "scenario")
        args.config_names = _names(args.configs, CONFIGS, "configuration")
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    if min(args.duration, args.spans_duration) <= 0 or args.warmup < 0:
        parser.error("durations must be positive (the warm-up may be 0)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _config_rows(stage: Stage, scenarios: list[Scenario], args: argparse.Namespace) -> list[Measurement]:
    rows = []
    for scenario in scenarios:
        seconds = args.spans_duration if scenario.spans else args.duration
        print(f"  {stage.config.name} / {scenario.name} ...", flush=True)
        rows.append(measure(stage, scenario, seconds, args.warmup))
        summary = (
            f"{rows[-1].rate:,.0f}/s" if rows[-1].outcome == OK else f"{rows[-1].outcome}: {rows[-1].error}"
        )
        print(f"    {summary[:300]}", flush=True)
    return rows


def _profiles(stage: Stage, args: argparse.Namespace, out: Path) -> list[profiles.Profile]:
    """Profile the busiest proxy process, each profile under a separate, extra run of its load:
    tracecar with py-spy and perf, the C peer with perf (the kernel's part of its cost)."""
    stage.ensure_proxy()
    pid = stage.processes.busiest()
    name = stage.config.name
    if pid is None:
        return [profiles.Profile(f"no {name} process to profile")]
    taken = [_py_spy(stage, pid, args, out)] if name == SUBJECT else []
    if not native_profile.available():
        return [*taken, profiles.Profile("perf is not installed: no native profiles", "Native profiles")]
    return taken + [_native(stage, pid, args, out, scenario) for scenario in NATIVE_PROFILE_SCENARIOS]


def _py_spy(stage: Stage, pid: int, args: argparse.Namespace, out: Path) -> profiles.Profile:
    name = f"profile-{SUBJECT}"
    samplers = profiles.start(pid, args.duration, out, name)
    stage.client.run(*SCENARIOS[PROFILE_SCENARIO].command(stage.address, args.duration), check=False)
    for sampler in samplers:
        sampler.wait(timeout=args.duration + 60)
    raw = out / f"{name}.collapsed.txt"
    samples, hotspots = profiles.top_functions(raw.read_text() if raw.exists() else "")
    note = (
        f"py-spy ({profiles.RATE_HZ} Hz, non-blocking, on-CPU stacks) of {SUBJECT}'s busiest process "
        f"during an extra {args.duration:.0f} s run of `{PROFILE_SCENARIO}`. Functions compiled with mypyc "
        "have no Python frames: their time shows in the Python function that called them (mostly "
        "`Runner.run`, which runs uvloop's C event loop); the native profiles below open them up."
    )
    svg = f"{name}.svg" if (out / f"{name}.svg").exists() else None
    return profiles.Profile(note, "Profile: py-spy", svg, samples, hotspots)


def _native(stage: Stage, pid: int, args: argparse.Namespace, out: Path, scenario: str) -> profiles.Profile:
    config = stage.config.name
    name = f"perf-{config}-{scenario}"
    recorder = native_profile.start(pid, args.duration, out, name)
    stage.client.run(*SCENARIOS[scenario].command(stage.address, args.duration), check=False)
    recorder.wait(timeout=args.duration + 60)
    folded = native_profile.collapse(out, name)
    samples, hotspots = profiles.top_functions(folded, 25, by_total=True)
    note = (
        f"perf ({native_profile.RATE_HZ} Hz, DWARF call graphs, every thread) of {config}'s busiest "
        f"process during an extra {args.duration:.0f} s run of `{scenario}`, ranked by the share of samples "
        "a frame is anywhere on the stack. Compiled functions by module and name; `syscall X` is a system "
        "call with everything the kernel does inside it; `softirq` is the receiving socket's network path, "
        "which the kernel runs inside the sender's `write` on loopback and veth; `(CPython runtime)` is "
        "object, call and dict work in libpython, for compiled and interpreted code alike. Stacks: "
        f"[{name}.collapsed.txt]({name}.collapsed.txt)."
    )
    title = f"Native profile: `{scenario}`" + ("" if config == SUBJECT else f", {config}")
    shares = cost_split.split(folded)
    return profiles.Profile(note, title, None, samples, hotspots, config, scenario, shares)


def _logs(out: Path, args: argparse.Namespace, round_: int) -> Path:
    """Each round its own logs: a stage reads its span counter's port from its log, and tool
    output and /metrics are worth keeping per round."""
    logs = out / "logs" if args.repeat == 1 else out / "logs" / f"round-{round_ + 1}"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def run_config(
    config: Config, args: argparse.Namespace, out: Path, round_: int = 0
) -> tuple[list[Measurement], str, list[profiles.Profile]]:
    scenarios = [SCENARIOS[n] for n in args.scenario_names]
    taken: list[profiles.Profile] = []
    try:
        with open_stage(config, _logs(out, args, round_)) as stage:
            rows = _config_rows(stage, scenarios, args)
            if args.profile and config.name in PROFILED and round_ == 0:
                try:
                    taken = _profiles(stage, args, out)
                except (OSError, StageError, subprocess.SubprocessError) as error:  # keep the rows
                    taken = [profiles.Profile(f"the profile failed: {type(error).__name__}: {error}")]
            return rows, stage.describe_starts(), taken
    except (StageError, AssertionError, RuntimeError, OSError) as error:
        reason = f"the stage did not come up: {type(error).__name__}: {error}"[:1500]
        return [Measurement(config.name, s.name, FAILED, reason) for s in scenarios], "failed", taken


def _facts(args: argparse.Namespace, started: datetime.datetime) -> dict[str, str]:
    load = os.getloadavg()
    return {
        "run": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, load average {load[0]:.1f} at the start",
        "durations": f"{args.duration:.0f} s per scenario after {args.warmup:.0f} s of warm-up; "
        f"spans {args.spans_duration:.0f} s",
        "numbers": NOISE,
        "rounds": f"{args.repeat}: the configurations interleaved in each; every number the median of the "
        "rounds, peak RSS the largest, errors added up"
        if args.repeat > 1
        else "1",
        "command": "python -m loadtests.compare " + " ".join(sys.argv[1:]),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("loadtests.compare: needs root (network namespaces and iptables)", file=sys.stderr)
        return 2
    started = datetime.datetime.now(datetime.UTC)
    out: Path = args.out or RESULTS / started.strftime("%Y%m%dT%H%M%SZ")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    remove_stale_namespaces()
    facts = _facts(args, started)
    measured: list[list[Measurement]] = []
    starts: dict[str, str] = {}
    taken: list[profiles.Profile] = []
    for round_ in range(args.repeat):
        measured.append([])
        for name in args.config_names:
            print(
                f"{name}:" if args.repeat == 1 else f"{name} (round {round_ + 1} of {args.repeat}):",
                flush=True,
            )
            config_rows, config_starts, config_profiles = run_config(CONFIGS[name], args, out, round_)
            measured[-1] += config_rows
            starts.setdefault(name, config_starts)
            taken += config_profiles
    rows = measured[0] if args.repeat == 1 else rounds.combine(measured)
    configs = [(name, CONFIGS[name].title, starts[name]) for name in args.config_names]
    verdicts = evaluate(rows)
    try:
        chart_names = charts.draw(rows, args.config_names, args.scenario_names, out)
    except (ValueError, OSError) as error:  # the numbers matter more than their pictures
        facts["charts"] = f"not drawn: {type(error).__name__}: {error}"
        chart_names = []
    scenarios = [(n, SCENARIOS[n].title) for n in args.scenario_names]
    report = ReportInput(facts, configs, scenarios, rows, verdicts, chart_names, taken)
    (out / "report.md").write_text(render(report))
    results = {
        "facts": facts,
        "rows": [r.to_json() for r in rows],
        "verdicts": [v.__dict__ for v in verdicts],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
