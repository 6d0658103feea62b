"""The embedded collector: an OTLP receiver that keeps spans in SQLite, and ways to look at them.

    collector = Collector(CollectorConfig(db_path="traces.db", grpc_port=0, http_port=0, web_port=0))
    await collector.start()          # collector.grpc_port, .http_port, .web_port are the bound ports
    store = collector.store          # the same queries `tracecar traces` and the web page use
    await collector.stop()

Modules: `model` (spans and trace summaries), `decode` and `otlp_json` (OTLP protobuf and JSON to
model), `store` (SQLite schema, retention, queries), `writer` (batched writes on a thread; an export is
acknowledged once its spans are committed), `receivers` (OTLP/gRPC and OTLP/HTTP), `views` (waterfall
and dependency graph, pure), `terminal` and `html` (rendering), `web` (the page and its JSON API),
`server` (the whole collector).
"""

from __future__ import annotations

# No re-exports: `tracecar traces` imports only the store and the renderers, not grpcio.
