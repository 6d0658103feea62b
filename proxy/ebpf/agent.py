"""`tracecar ebpf`: the fallback as a process of its own, exporting like a proxy does."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from proxy.admin import AdminServer, AdminState
from proxy.ebpf.runner import EbpfConfig, make_runner
from proxy.metrics import Registry
from proxy.spans.config import ExportConfig
from proxy.spans.exporters import make_exporter
from proxy.spans.pipeline import SpanPipeline

log = logging.getLogger("tracecar.ebpf")
SPAN_FLUSH_S = 5.0


def main(config: EbpfConfig, export: ExportConfig, metrics_port: int) -> int:
    return uvloop.run(serve(config, export, metrics_port))


async def serve(config: EbpfConfig, export: ExportConfig, metrics_port: int) -> int:
    """Until SIGTERM or SIGINT (0), or until the fallback cannot run (1)."""
    pipeline = SpanPipeline(make_exporter(export), export.max_queue, export.max_batch, export.interval_s)
    registry = Registry()
    runner = make_runner(config, pipeline.record, export.sampler, registry)
    state = AdminState()
    server = AdminServer(state, registry, port=metrics_port) if metrics_port else None
    try:
        if server is not None:
            await server.start()
        if not await runner.start():
            return 1
        state.ready = True
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        follow = asyncio.ensure_future(runner.follow())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait((follow, stopped), return_when=asyncio.FIRST_COMPLETED)
        follow.cancel()
        stopped.cancel()
        return 0 if stop.is_set() else 1
    finally:
        await runner.close()
        if server is not None:
            await server.stop()
        await asyncio.to_thread(pipeline.shutdown, SPAN_FLUSH_S)
        log.info("stopped: %d spans exported, %d dropped", pipeline.exported, pipeline.dropped)
