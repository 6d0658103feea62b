"""The eBPF fallback: connections the proxy never sees, observed with bpftrace tracepoints.

`program` writes the bpftrace script from a `Filter`, `events` parses what it prints, `policy`
decides which connections to report, `tracker` turns events into spans and feeds payload bytes to
`proxy.observers`, `runner` runs bpftrace and `metrics` shows its state. Only `runner` does I/O.
"""

from __future__ import annotations
