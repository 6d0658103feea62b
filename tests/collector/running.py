"""An embedded collector running on its own thread and event loop, for synchronous tests.

with RunningCollector(tmp_path / "traces.db") as collector:
    collector.grpc_endpoint, collector.http_endpoint, collector.web_url
    collector.wait_for_spans(3)          # reads the database, as `tracecar traces` does
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from proxy.collector.model import Span
from proxy.collector.server import Collector, CollectorConfig
from proxy.collector.store import Store


class RunningCollector:
    def __init__(self, db_path: Path, host: str = "127.0.0.1", **config: Any) -> None:
        settings = {"grpc_port": 0, "http_port": 0, "web_port": 0, **config}
        self.config = CollectorConfig(db_path=str(db_path), host=host, **settings)
        self.collector = Collector(self.config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-collector", daemon=True)

    def __enter__(self) -> RunningCollector:
        self._thread.start()
        self.call(self.collector.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call(self.collector.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def call(self, coroutine: Any, timeout_s: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout_s)

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def grpc_endpoint(self) -> str:
        return f"http://{self.host}:{self.collector.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://{self.host}:{self.collector.http_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.collector.web_port}"

    def spans(self) -> list[Span]:
        store = Store(self.config.db_path, readonly=True)
        try:
            return [span for summary in store.recent_traces(1000) for span in store.trace(summary.trace_id)]
        finally:
            store.close()

    def wait_for_spans(self, count: int, timeout_s: float = 15) -> list[Span]:
        deadline = time.monotonic() + timeout_s
        while ((have := self.spans()) and len(have) < count) or not have:
            if time.monotonic() > deadline:
                raise AssertionError(f"collector: {len(have)} spans after {timeout_s} s, wanted {count}")
            time.sleep(0.05)
        return have
