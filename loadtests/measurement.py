"""One row of the comparison: a configuration under one scenario, and what was measured of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass
class Measurement:
    config: str
    scenario: str
    outcome: str = OK  # OK, FAILED (error says why) or SKIPPED (error says why not)
    error: str | None = None
    requests: int = 0
    seconds: float = 0.0
    rate: float = 0.0  # requests (or gRPC calls, or stream messages) per second
    errors: int = 0
    mib_per_s: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    proxy_cpu_s: float | None = None  # CPU of every proxy process during the measured window
    proxy_peak_rss_mib: float | None = None  # the largest VmHWM of one proxy process
    proxy_processes: int = 0
    extra: dict[str, float] = field(default_factory=dict)  # per scenario: spans received, dropped...

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.proxy_cpu_s is None or self.requests <= 0:
            return None
        return self.proxy_cpu_s / self.requests * 1e6

    @property
    def vcpu_per_1k_rps(self) -> float | None:
        """vCPU the proxy needs per 1,000 requests/s: (CPU s / wall s) / (rate / 1000)."""
        if self.proxy_cpu_s is None or self.seconds <= 0 or self.rate <= 0:
            return None
        return (self.proxy_cpu_s / self.seconds) / (self.rate / 1000)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_us_per_request"] = self.cpu_us_per_request
        data["vcpu_per_1k_rps"] = self.vcpu_per_1k_rps
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        names = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in names})


def find(measurements: list[Measurement], config: str, scenario: str) -> Measurement | None:
    """The row, if it was measured successfully."""
    for m in measurements:
        if m.config == config and m.scenario == scenario and m.outcome == OK:
            return m
    return None
