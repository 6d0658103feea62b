"""PNG charts of a run with matplotlib (Agg: no display): throughput, latency and proxy CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from loadtests.measurement import OK, Measurement

LATENCY_SCENARIO = "rate-1000"


def _grouped(
    rows: list[Measurement],
    *,
    scenarios: list[str],
    configs: list[str],
    value: Callable[[Measurement], float | None],
    title: str,
    unit: str,
    path: Path,
    log: bool = False,
) -> None:
    figure, axes = plt.subplots(figsize=(max(6.0, 1.3 * len(scenarios) + 2), 4.5))
    width = 0.8 / max(1, len(configs))
    drawn = False
    for i, config in enumerate(configs):
        heights = []
        for scenario in scenarios:
            found = next(
                (r for r in rows if (r.config, r.scenario) == (config, scenario) and r.outcome == OK), None
            )
            measured = None if found is None else value(found)
            heights.append(measured if measured else float("nan"))  # no bar: failed or skipped
            drawn = drawn or bool(measured)
        axes.bar([s + i * width for s in range(len(scenarios))], heights, width, label=config)
    axes.set_xticks(
        [s + width * (len(configs) - 1) / 2 for s in range(len(scenarios))], scenarios, rotation=20
    )
    axes.set_ylabel(unit)
    axes.set_title(title)
    if log and drawn:  # a log scale of nothing is an error; an empty chart is the honest answer
        axes.set_yscale("log")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def draw(rows: list[Measurement], configs: list[str], scenarios: list[str], out: Path) -> list[str]:
    """Write throughput.png, latency.png and cpu.png into `out`; their names."""
    load = [s for s in scenarios if s not in (LATENCY_SCENARIO, "spans-5000")]
    _grouped(
        rows, scenarios=load, configs=configs, value=lambda r: r.rate, title="Saturation throughput",
        unit="requests/s (log)", path=out / "throughput.png", log=True,
    )  # fmt: skip
    percentiles = ["p50", "p90", "p99", "max"]
    latency_rows = [
        Measurement(r.config, p, latency_ms=r.latency_ms, outcome=r.outcome)
        for r in rows if r.scenario == LATENCY_SCENARIO for p in percentiles
    ]  # fmt: skip
    _grouped(
        latency_rows, scenarios=percentiles, configs=configs, value=lambda r: r.latency_ms.get(r.scenario),
        title=f"Latency at 1,000 req/s ({LATENCY_SCENARIO}, hey)", unit="ms (log)", path=out / "latency.png",
        log=True,
    )  # fmt: skip
    proxies = [c for c in configs if c != "direct"]
    _grouped(
        rows, scenarios=scenarios, configs=proxies, value=lambda r: r.cpu_us_per_request,
        title="Proxy CPU per request", unit="us (log)", path=out / "cpu.png", log=True,
    )  # fmt: skip
    return ["throughput.png", "latency.png", "cpu.png"]
