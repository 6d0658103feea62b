"""`tracecar demo`: a small shop in network namespaces, each application with its own sidecar.

- `topology`: the namespaces, the bridge joining them, the veth from the root namespace (planned as
  data, applied with `ip`), removed on exit.
- `apps`: the shop's applications (`python -m proxy.demo.apps SERVICE`): frontend (HTTP) -> checkout
  (gRPC) -> inventory (HTTP) -> Redis.
- `services`: the services' ports and every process's command line, and what this proxy can relay.
- `processes`: those processes, started in their namespaces, logging to files, stopped in order.
- `shop`: starting the shop, driving it, stopping it.
- `collecting`: the embedded collector as the demo runs it.
- `resp`: the few lines of Redis protocol the inventory and the seeding need.
- `traffic`: the request mix and the driver with its progress line.
- `summary`: what the collected spans show, as data; `report`: as text or JSON.
- `run`: the whole run, start to clean-up.
"""

from __future__ import annotations
