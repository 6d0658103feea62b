"""The OTLP receivers: gRPC `TraceService/Export` (grpc.aio) and HTTP `POST /v1/traces` (aiohttp).

Both decode the request, hand its spans to the writer and answer once they are committed (OTLP
#full-success). Invalid spans are reported as OTLP #partial-success. A full writer queue answers
RESOURCE_EXHAUSTED with RetryInfo (gRPC) or 503 with Retry-After (HTTP), both retryable (OTLP
#failures); a request that is not OTLP answers INVALID_ARGUMENT / 400, which exporters do not retry.
"""

from __future__ import annotations

import asyncio
import logging
import math

import grpc
from aiohttp import web
from google.protobuf import duration_pb2, json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from proxy.collector.decode import DecodeError, parse_request
from proxy.collector.otlp_json import parse_json_request
from proxy.collector.writer import RETRY_AFTER_S, QueueFull, Writer

log = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
TRACES_PATH = "/v1/traces"
MAX_REQUEST_BYTES = 20 * 1024 * 1024  # the request size the OTLP specification suggests accepting
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


async def accept(writer: Writer, request: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
    """Store a request's spans; the OTLP response once they are committed. Raises QueueFull."""
    rejected = await writer.submit(request)
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = "spans with a missing or malformed trace or span id"
    return response


# gRPC


def grpc_handlers(writer: Writer) -> grpc.GenericRpcHandler:
    async def export(
        request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> ExportTraceServiceResponse:
        try:
            return await accept(writer, request)
        except QueueFull as full:
            trailer = (("grpc-status-details-bin", _retry_status(str(full))),)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(full), trailing_metadata=trailer)
        except Exception as failure:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"storing spans failed: {failure}")
        raise AssertionError("context.abort returned")

    handler = grpc.unary_unary_rpc_method_handler(
        export,
        request_deserializer=ExportTraceServiceRequest.FromString,
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})


def _retry_status(message: str) -> bytes:
    """A google.rpc.Status with RetryInfo: how long the exporter should wait (OTLP #failures)."""
    seconds = int(RETRY_AFTER_S)
    delay = duration_pb2.Duration(seconds=seconds, nanos=int((RETRY_AFTER_S - seconds) * 1e9))
    status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message=message)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status.SerializeToString()


# HTTP


def http_routes(writer: Writer) -> list[web.RouteDef]:
    async def traces(request: web.Request) -> web.Response:
        # aiohttp has already undone Content-Encoding: gzip, within client_max_size.
        content_type = request.content_type
        if content_type not in (PROTOBUF, JSON):
            return _status(415, f"Content-Type must be {PROTOBUF} or {JSON}", PROTOBUF)
        try:
            body = await request.read()
            if content_type == JSON:  # json_format parses in Python: too slow for the event loop
                parsed = await asyncio.to_thread(parse_json_request, body)
            else:
                parsed = parse_request(body)  # upb, in C
            response = await accept(writer, parsed)
        except web.HTTPRequestEntityTooLarge:
            return _status(413, f"request over {MAX_REQUEST_BYTES} bytes", content_type)
        except DecodeError as error:
            return _status(400, str(error), content_type)
        except QueueFull as full:
            headers = {"Retry-After": str(math.ceil(RETRY_AFTER_S))}
            return _status(503, str(full), content_type, headers)
        except Exception as failure:
            log.error("collector: export failed: %s", failure)
            return _status(503, f"storing spans failed: {failure}", content_type)
        return _message(200, response, content_type)

    async def health(request: web.Request) -> web.Response:
        counts = {
            "stored_spans": writer.stored,
            "pending_spans": writer.pending,
            "refused_spans": writer.rejected_full,
        }
        return web.json_response({"status": "ok", **counts})

    return [web.post(TRACES_PATH, traces), web.get("/healthz", health)]


def _status(
    code: int, message: str, content_type: str, headers: dict[str, str] | None = None
) -> web.Response:
    return _message(code, status_pb2.Status(message=message), content_type, headers)


def _message(
    code: int,
    message: ExportTraceServiceResponse | status_pb2.Status,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = _to_json(message) if content_type == JSON else message.SerializeToString()
    return web.Response(status=code, body=body, content_type=content_type, headers=headers)


def _to_json(message: ExportTraceServiceResponse | status_pb2.Status) -> bytes:
    return json_format.MessageToJson(message).encode()
