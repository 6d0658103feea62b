"""The real OTLP receiver of the test suite, counting spans instead of keeping them (a minute at
5,000 spans/s would hold 300,000 decoded spans).

    python -m loadtests.span_counter OUT_FILE [--host H]

Prints its ports as one JSON line, then keeps OUT_FILE holding the number of spans received.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.otlp_receiver import Failure, OtlpReceiver


class SpanCounter(OtlpReceiver):
    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.count = 0
        self._lock = threading.Lock()

    def _answer(
        self, transport: str, path: str, headers: dict[str, str], request: bytes | None
    ) -> Failure | ExportTraceServiceResponse:
        if request is not None:
            decoded = ExportTraceServiceRequest.FromString(request)
            spans = sum(len(ss.spans) for rs in decoded.resource_spans for ss in rs.scope_spans)
            with self._lock:
                self.count += spans
        return ExportTraceServiceResponse()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Count the spans an OTLP exporter sends.")
    parser.add_argument("out")
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)
    receiver = SpanCounter(args.host)
    with receiver:
        print(json.dumps({"grpc": receiver.grpc_port, "http": receiver.http_port}), flush=True)
        written = -1
        while True:
            if receiver.count != written:
                written = receiver.count
                with open(args.out + ".tmp", "w") as file:
                    file.write(str(written))
                os.replace(args.out + ".tmp", args.out)
            time.sleep(0.05)


if __name__ == "__main__":
    main()
