"""`tracecar demo`: a small shop in network namespaces, each application with its own sidecar.

- `topology`: the namespaces, the bridge joining them, the veth from the root namespace (planned as
  data, applied with `ip`), removed on exit.
- `apps`: the shop's applications (`python -m proxy.demo.apps SERVICE`): frontend (HTTP) -> checkout
  (gRPC) -> inventory (HTTP) -> Redis.
- `resp`: the few lines of Redis protocol the inventory and the seeding need.
- `traffic`: the request mix and the driver with its progress line.
- `summary`: what the collected spans show, as data and as text.
- `run`: the whole run, start to clean-up.
"""

from __future__ import annotations
