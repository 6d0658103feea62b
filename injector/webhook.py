"""The admission webhook over HTTPS: the aiohttp shell around `injector.admission`.

POST /mutate answers AdmissionReview v1; GET /healthz and GET /metrics (Prometheus) serve the
kubelet and the scraper on the same TLS port. This module only maps bodies and errors to HTTP:
a malformed or oversized body is a 400 with the reason as text, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from injector.admission import OUTCOMES, BadReview, ReviewOptions, parse, review
from injector.certs import ReloadingContext
from proxy.metrics import CONTENT_TYPE, Counter, Family, Histogram, Registry
from proxy.web_errors import errors_as_500

log = logging.getLogger("tracecar.webhook")

DEFAULT_PORT = 8443
MAX_BODY_BYTES = 4 * 1024 * 1024  # a pod is at most ~1.5 MiB in etcd; a review carries it about twice
SHUTDOWN_TIMEOUT_S = 5.0
# A review takes about a millisecond; the API server's default webhook timeout is 10 s.
REVIEW_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class WebhookMetrics:
    def __init__(self, registry: Registry | None = None) -> None:
        r = self.registry = registry if registry is not None else Registry()
        self.reviews: Family[Counter] = r.counter_family(
            "tracecar_webhook_reviews_total",
            "AdmissionReviews answered, by outcome (bad_request: answered 400).",
            {"outcome": (*OUTCOMES, "bad_request")},
        )
        self.duration: Histogram = r.histogram(
            "tracecar_webhook_review_duration_seconds",
            "Time to answer one AdmissionReview, from its body read to its response built.",
            REVIEW_BUCKETS_S,
        )
        self.reloads: Family[Counter] = r.counter_family(
            "tracecar_webhook_certificate_reloads_total",
            "Certificate changes seen on disk, by whether the new pair loaded.",
            {"result": ("ok", "failed")},
        )

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()


OPTIONS = web.AppKey("options", ReviewOptions)
METRICS = web.AppKey("metrics", WebhookMetrics)


def make_app(options: ReviewOptions, metrics: WebhookMetrics) -> web.Application:
    app = web.Application(
        middlewares=[errors_as_500(log, "", "the webhook's log")], client_max_size=MAX_BODY_BYTES
    )
    app[OPTIONS] = options
    app[METRICS] = metrics
    app.router.add_post("/mutate", _mutate)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


async def _mutate(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        metrics.reviews.labels("bad_request").inc()
        return _bad_request(f"body larger than {MAX_BODY_BYTES} bytes")
    started = time.perf_counter()
    try:
        parsed = parse(body)
    except BadReview as exc:
        metrics.reviews.labels("bad_request").inc()
        return _bad_request(str(exc))
    result = review(parsed, request.app[OPTIONS])
    text = json.dumps(result.review, separators=(",", ":"))
    metrics.duration.observe(time.perf_counter() - started)
    metrics.reviews.labels(result.outcome).inc()
    log.debug("review %s: %s", parsed["uid"], result.outcome)
    return web.Response(text=text, content_type="application/json")


def _bad_request(reason: str) -> web.Response:
    log.info("bad AdmissionReview: %s", reason)
    return web.Response(status=400, text=f"bad AdmissionReview: {reason}\n")


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].registry.render().encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@dataclass
class WebhookServer:
    """The app on `host:port` over TLS; port 0 picks a free one (see `port` after `start`)."""

    tls: ReloadingContext
    options: ReviewOptions
    metrics: WebhookMetrics
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT

    async def start(self) -> None:
        self._runner = web.AppRunner(
            make_app(self.options, self.metrics), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.tls.context)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]
        log.info("webhook listening on %s port %d (TLS 1.2+)", self.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
