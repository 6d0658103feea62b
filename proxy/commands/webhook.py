"""`tracecar webhook`: the mutating admission webhook; `tracecar webhook certs`: its certificates."""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import signal
import ssl
import sys
from pathlib import Path

from proxy.commands import init

HELP = "run the mutating admission webhook that injects the sidecar into new pods"
_DESCRIPTION = """\
Serve AdmissionReview v1 on POST /mutate over HTTPS (TLS 1.2+), with /healthz and /metrics on the
same port. Pods that reach it (the MutatingWebhookConfiguration's namespaceSelector does namespace
opt-in) get the sidecar unless they opt out with tracecar.io/inject: "false" or their namespace is
excluded. The certificate and key are re-read when their files change, without a restart. A failure
inside the injector admits the pod without the sidecar and says so in the response's warnings."""
_CERTS_DESCRIPTION = """\
Create a CA and a serving certificate for <service>.<namespace>.svc (for clusters without
cert-manager): writes ca.crt, tls.crt and tls.key to --out and prints the base64 caBundle for the
MutatingWebhookConfiguration."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("webhook", help=HELP, description=_DESCRIPTION)
    add = parser.add_argument
    add(
        "--cert",
        type=Path,
        default=Path("/etc/tracecar/tls/tls.crt"),
        help="PEM certificate chain (default %(default)s)",
    )
    add(
        "--key",
        type=Path,
        default=Path("/etc/tracecar/tls/tls.key"),
        help="PEM private key (default %(default)s)",
    )
    add("--host", default="0.0.0.0", help="address to listen on (default %(default)s)")
    add("--port", type=init._port, default=8443, help="HTTPS port (default %(default)s)")
    add("--image", help="sidecar image (default: the image tracecar inject uses)")
    add(
        "--native-sidecar",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="inject the proxy as a native sidecar (Kubernetes 1.29+); the pod annotation wins",
    )
    add(
        "--exclude-namespace",
        action="append",
        default=[],
        metavar="NAME",
        help="never inject pods of this namespace (repeatable; kube-system, kube-public and "
        "kube-node-lease always are)",
    )
    add("--cert-check-interval", type=float, default=1.0, help="seconds between checks of the files")
    add("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(run=run)
    certs = parser.add_subparsers(dest="webhook_command", metavar="[certs]")
    certs_parser = certs.add_parser(
        "certs", help="create a CA and serving certificate", description=_CERTS_DESCRIPTION
    )
    add_cert = certs_parser.add_argument
    add_cert("--service", required=True, help="the webhook's Service name")
    add_cert("--namespace", required=True, help="the Service's namespace")
    add_cert("--out", type=Path, required=True, help="directory for ca.crt, tls.crt, tls.key")
    add_cert("--days", type=int, default=365, help="serving certificate validity (default %(default)s)")
    certs_parser.set_defaults(run=run_certs)


def run_certs(args: argparse.Namespace) -> int:
    from injector import certs  # noqa: PLC0415 - cryptography is only needed here

    if args.days < 1:
        print("tracecar webhook certs: --days must be at least 1", file=sys.stderr)
        return 1
    try:
        written = certs.write(certs.generate(args.service, args.namespace, days=args.days), args.out)
    except OSError as exc:
        print(f"tracecar webhook certs: {exc}", file=sys.stderr)
        return 1
    for path in written.values():
        print(f"wrote {path}", file=sys.stderr)
    print(base64.b64encode(written["ca.crt"].read_bytes()).decode())
    return 0


def run(args: argparse.Namespace) -> int:
    import uvloop  # noqa: PLC0415

    from injector.admission import ReviewOptions  # noqa: PLC0415
    from injector.certs import ReloadingContext  # noqa: PLC0415
    from injector.patch import InjectOptions  # noqa: PLC0415
    from injector.webhook import WebhookMetrics, WebhookServer  # noqa: PLC0415

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics = WebhookMetrics()
    try:
        tls = ReloadingContext(
            args.cert, args.key, check_interval=args.cert_check_interval, on_reload=metrics.reloaded
        )
    except (OSError, ssl.SSLError) as exc:
        print(f"tracecar webhook: cannot load {args.cert} / {args.key}: {exc}", file=sys.stderr)
        return 1
    inject = InjectOptions(native_sidecar=args.native_sidecar)
    if args.image:
        inject = InjectOptions(image=args.image, native_sidecar=args.native_sidecar)
    options = ReviewOptions(inject=inject, excluded_namespaces=frozenset(args.exclude_namespace))
    server = WebhookServer(tls, options, metrics, host=args.host, port=args.port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await server.serve_until(stop)

    try:
        uvloop.run(main())
    except OSError as exc:
        print(f"tracecar webhook: {exc}", file=sys.stderr)
        return 1
    return 0
