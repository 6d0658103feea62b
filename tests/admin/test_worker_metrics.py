"""The other workers' metrics over their abstract unix sockets: read, summed, and a silent one named."""

from __future__ import annotations

import uvloop

from proxy.metrics import Registry
from proxy.worker_metrics import gathered, peer_names, serve

PORT = 15000


def registry(requests: int) -> Registry:
    made = Registry()
    made.counter("tracecar_requests_total", "Requests.").inc(requests)
    return made


def test_a_served_worker_is_summed_and_a_silent_one_is_named() -> None:
    async def scrape() -> tuple[str, str]:
        server = await serve(registry(4), PORT, 1)  # worker 1 of this test's "supervisor" (our parent)
        assert server is not None
        try:
            assert await serve(registry(5), PORT, 1) is None  # the name is taken: no metrics, no crash
            both = await gathered(registry(3), peer_names(PORT, 2))
            with_a_missing_one = await gathered(registry(3), peer_names(PORT, 3))
        finally:
            server.close()
        return both, with_a_missing_one

    both, missing = uvloop.run(scrape())
    assert "tracecar_requests_total 7" in both.splitlines()
    assert "not included" not in both
    assert "tracecar_requests_total 7" in missing.splitlines()
    assert missing.endswith("# workers not included in this scrape: 2\n")
