"""The span pipeline: from "the data path finished a request" to spans at an OTLP backend.

Once per worker process, after forking:

    config = proxy.spans.config.from_env(os.environ)     # ConfigError names a bad variable
    pipeline = SpanPipeline(make_exporter(config), config.max_queue, config.max_batch, config.interval_s)

Per finished, sampled request, on the event loop (well under a microsecond together):

    pipeline.record(SpanRecord(trace_id, span_id, parent_span_id, trace_state, flags, KIND_SERVER,
                               name, start_ns, end_ns, attributes, status, status_message))

At shutdown: `pipeline.shutdown(timeout_s)`. Counters for /metrics: `pipeline.exported`, `.dropped`,
`.failed`, `.queued`.

Modules: `record` (what the hot path keeps), `pipeline` (bounded queue, export thread), `otlp` (records
to OTLP protobuf), `exporters` (OTLP/gRPC, OTLP/HTTP, console, none), `config` (the environment).
"""

from __future__ import annotations

# No re-exports: importing `proxy.spans.record` on the data path must not pull in grpcio.
