"""The webhook over real HTTPS on loopback, with certificates made by `injector.certs`.

Only the Kubernetes API server is missing: its requests are the captured AdmissionReviews in
fixtures/, sent as it sends them (POST, JSON, one keep-alive TLS connection, SNI `<svc>.<ns>.svc`).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from injector import certs
from injector.admission import ReviewOptions
from injector.certs import ReloadingContext
from injector.webhook import MAX_BODY_BYTES, WebhookMetrics, WebhookServer
from tests.webhook.reviews import apply, expected_pod, pod_create

SERVICE, NAMESPACE = "tracecar-webhook", "tracecar"
SERVER_NAME = f"{SERVICE}.{NAMESPACE}.svc"


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout=30)

    uvloop.run(bounded())


def client_context(ca: Path, **versions: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    for attribute, version in versions.items():
        setattr(context, attribute, version)
    return context


@asynccontextmanager
async def serving(directory: Path, metrics: WebhookMetrics | None = None) -> AsyncIterator[str]:
    """A webhook on a free loopback port whose files are in `directory`; yields its base URL."""
    metrics = metrics or WebhookMetrics()
    tls = ReloadingContext(
        directory / "tls.crt", directory / "tls.key", check_interval=0, on_reload=metrics.reloaded
    )
    server = WebhookServer(tls, ReviewOptions(), metrics, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield f"https://127.0.0.1:{server.port}"
    finally:
        await server.stop()


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    certs.write(certs.generate(SERVICE, NAMESPACE), tmp_path)
    return tmp_path


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers, server_hostname=SERVER_NAME) as response:
        return response.status, await response.text()


def session_for(ca: Path, **versions: ssl.TLSVersion) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context(ca, **versions)))


def test_admission_review_round_trip(tls_dir: Path) -> None:
    doc = pod_create()
    metrics = WebhookMetrics()

    async def scenario() -> None:
        async with serving(tls_dir, metrics) as base, session_for(tls_dir / "ca.crt") as session:
            async with session.post(f"{base}/mutate", json=doc, server_hostname=SERVER_NAME) as response:
                assert response.status == 200
                assert response.content_type == "application/json"
                answer = await response.json()
            assert answer["apiVersion"] == "admission.k8s.io/v1"
            assert answer["kind"] == "AdmissionReview"
            assert answer["response"]["uid"] == doc["request"]["uid"]
            assert answer["response"]["allowed"] is True
            assert apply(doc, answer["response"]) == expected_pod(doc)

            async with session.get(f"{base}/healthz", server_hostname=SERVER_NAME) as response:
                assert (response.status, await response.text()) == (200, "ok\n")
            async with session.get(f"{base}/metrics", server_hostname=SERVER_NAME) as response:
                assert response.status == 200
                families = {f.name: f for f in text_string_to_metric_families(await response.text())}
        samples = {(s.name, s.labels.get("outcome")): s.value for f in families.values() for s in f.samples}
        assert samples[("tracecar_webhook_reviews_total", "injected")] == 1
        assert samples[("tracecar_webhook_reviews_total", "error")] == 0
        assert samples[("tracecar_webhook_review_duration_seconds_count", None)] == 1

    run(scenario)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not json", "not JSON"),
        (b'{"apiVersion": "v1", "kind": "Pod"}', "expected apiVersion admission.k8s.io/v1"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}', "request.uid"),
        (b"x" * (MAX_BODY_BYTES + 1), f"larger than {MAX_BODY_BYTES} bytes"),
    ],
)
def test_malformed_or_oversized_input_is_answered_400(tls_dir: Path, body: bytes, reason: str) -> None:
    metrics = WebhookMetrics()

    async def scenario() -> None:
        async with serving(tls_dir, metrics) as base, session_for(tls_dir / "ca.crt") as session:
            status, text = await post(session, f"{base}/mutate", body)
            assert status == 400
            assert reason in text
            assert "Traceback" not in text
            # The connection and the server are still fine afterwards.
            status, _ = await post(session, f"{base}/mutate", pod_create_bytes())
            assert status == 200

    run(scenario)
    assert metrics.reviews.labels("bad_request").get() == 1
    assert metrics.reviews.labels("injected").get() == 1


def pod_create_bytes() -> bytes:
    return json.dumps(pod_create()).encode()


def test_certificate_rotation_is_picked_up_without_restart(tls_dir: Path) -> None:
    old_ca = tls_dir / "old-ca.crt"
    old_ca.write_bytes((tls_dir / "ca.crt").read_bytes())
    metrics = WebhookMetrics()

    async def scenario() -> None:
        async with serving(tls_dir, metrics) as base:

            async def healthz(ca: Path) -> int:
                async with (
                    session_for(ca) as session,
                    session.get(f"{base}/healthz", server_hostname=SERVER_NAME) as response,
                ):
                    return response.status

            assert await healthz(old_ca) == 200
            # As a Secret volume update or cert-manager renewal does: new files, same paths.
            certs.write(certs.generate(SERVICE, NAMESPACE), tls_dir)
            new_ca = tls_dir / "ca.crt"
            assert await healthz(new_ca) == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await healthz(old_ca)
            # A broken pair (key of another certificate) is refused; the last good one stays.
            (tls_dir / "tls.key").write_bytes(certs.generate(SERVICE, NAMESPACE).key)
            assert await healthz(new_ca) == 200

    run(scenario)
    assert metrics.reloads.labels("ok").get() == 1
    assert metrics.reloads.labels("failed").get() == 1


def test_reload_is_rate_limited_by_check_interval(tls_dir: Path) -> None:
    now = [0.0]
    tls = ReloadingContext(tls_dir / "tls.crt", tls_dir / "tls.key", check_interval=5, clock=lambda: now[0])
    certs.write(certs.generate(SERVICE, NAMESPACE), tls_dir)
    now[0] = 4.0
    assert tls.maybe_reload() is False
    now[0] = 5.0
    assert tls.maybe_reload() is True
    now[0] = 10.0
    assert tls.maybe_reload() is False  # unchanged since


def test_tls_below_1_2_is_refused(tls_dir: Path) -> None:
    ca = tls_dir / "ca.crt"

    async def scenario() -> None:
        async with serving(tls_dir) as base:
            for maximum in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                async with (
                    session_for(ca, maximum_version=maximum) as session,
                    session.get(f"{base}/healthz", server_hostname=SERVER_NAME) as response,
                ):
                    assert response.status == 200
            port = base.rsplit(":", 1)[1]
            for flag in ("-tls1", "-tls1_1"):
                refused = await asyncio.to_thread(openssl_handshake, port, flag)
                assert refused.returncode != 0, refused.stdout
            accepted = await asyncio.to_thread(openssl_handshake, port, "-tls1_2")
            assert accepted.returncode == 0, accepted.stdout
            assert "Protocol  : TLSv1.2" in accepted.stdout

    run(scenario)
    tls = ReloadingContext(tls_dir / "tls.crt", tls_dir / "tls.key")
    assert tls.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.current.minimum_version == ssl.TLSVersion.TLSv1_2


def openssl_handshake(port: str, flag: str) -> subprocess.CompletedProcess[str]:
    """A handshake by another TLS implementation's client (OpenSSL's), at one protocol version."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", flag, "-cipher", "ALL:@SECLEVEL=0"]
    return subprocess.run(argv, input="", capture_output=True, text=True, timeout=10, check=False)


def test_certs_are_valid_for_the_service_names(tls_dir: Path) -> None:
    """The API server verifies `<service>.<namespace>.svc` against the caBundle: a real handshake."""
    assert oct(os.stat(tls_dir / "tls.key").st_mode & 0o777) == "0o600"

    async def scenario() -> None:
        async with serving(tls_dir) as base, session_for(tls_dir / "ca.crt") as session:
            for name in certs.dns_names(SERVICE, NAMESPACE):
                async with session.get(f"{base}/healthz", server_hostname=name) as response:
                    assert response.status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(f"{base}/healthz", server_hostname="other.tracecar.svc")

    run(scenario)


def test_internal_error_over_https_admits_the_pod_with_a_warning(tls_dir: Path) -> None:
    """A pod the injector chokes on (metadata is a list) is allowed unpatched: never a 500."""
    doc = pod_create()
    doc["request"]["object"]["metadata"] = ["not", "an", "object"]
    metrics = WebhookMetrics()

    async def scenario() -> None:
        async with serving(tls_dir, metrics) as base, session_for(tls_dir / "ca.crt") as session:
            status, text = await post(session, f"{base}/mutate", json.dumps(doc).encode())
            assert status == 200
            response = json.loads(text)["response"]
            assert response["uid"] == doc["request"]["uid"]
            assert response["allowed"] is True
            assert "patch" not in response
            assert "injection failed" in response["warnings"][0]

    run(scenario)
    assert metrics.reviews.labels("error").get() == 1
