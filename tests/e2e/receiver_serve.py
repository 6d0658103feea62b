"""Run the test OTLP receiver in another network namespace: `python -m tests.e2e.receiver_serve OUT`.

Prints its ports as one JSON line, then keeps OUT (a JSON list of received spans) up to date until
killed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from tests.otlp_receiver import OtlpReceiver


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def flatten(batches: list[ResourceSpans]) -> list[dict[str, Any]]:
    spans = []
    for batch in batches:
        resource = {kv.key: value(kv.value) for kv in batch.resource.attributes}
        for scope in batch.scope_spans:
            for span in scope.spans:
                spans.append(
                    {
                        "service": resource.get("service.name"),
                        "resource": resource,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "kind": span.kind,
                        "flags": span.flags,
                        "name": span.name,
                        "status": span.status.code,
                        "attributes": {kv.key: value(kv.value) for kv in span.attributes},
                    }
                )
    return spans


def main() -> None:
    out = sys.argv[1]
    with OtlpReceiver(host="0.0.0.0") as receiver:
        print(json.dumps({"grpc": receiver.grpc_port, "http": receiver.http_port}), flush=True)
        written = -1
        while True:
            batches = receiver.resource_spans()
            if len(batches) != written:
                with open(out + ".tmp", "w") as file:
                    json.dump(flatten(batches), file)
                os.replace(out + ".tmp", out)
                written = len(batches)
            time.sleep(0.05)


if __name__ == "__main__":
    main()
