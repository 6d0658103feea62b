"""The webhook's TLS: a CA and serving certificate for clusters without cert-manager, and a server
context that picks up rotated certificate files without a restart.

Rotation: every handshake's SNI callback (OpenSSL calls it for every ClientHello, with or without a
server name) checks the files at most every `check_interval` seconds; when they changed, a complete
new context is built and swapped in for that handshake and the ones after. A pair that fails to load
(half written, key not matching) is logged and the previous one stays in use.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("tracecar.webhook")

CA_DAYS = 3650
SERVING_DAYS = 365
_Stamp = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class Bundle:
    """PEM bytes: the CA certificate (the webhook configuration's caBundle), the serving pair."""

    ca_cert: bytes
    cert: bytes
    key: bytes


def dns_names(service: str, namespace: str) -> list[str]:
    """The names the API server may use for the Service (it calls `<service>.<namespace>.svc`)."""
    base = f"{service}.{namespace}"
    return [service, base, f"{base}.svc", f"{base}.svc.cluster.local"]


def generate(service: str, namespace: str, *, days: int = SERVING_DAYS, ca_days: int = CA_DAYS) -> Bundle:
    """A new CA and a serving certificate signed by it for the Service's DNS names (ECDSA P-256)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tracecar webhook CA {namespace}")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now, ca_days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = dns_names(service, namespace)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[2])])
    cert = (
        _builder(subject, ca_name, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem = serialization.Encoding.PEM
    return Bundle(ca_cert=ca.public_bytes(pem), cert=cert.public_bytes(pem), key=key_pem)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate clock skew between nodes
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def write(bundle: Bundle, directory: Path) -> dict[str, Path]:
    """ca.crt, tls.crt and tls.key (mode 0600), each replaced atomically, as a Secret mounts them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"ca.crt": bundle.ca_cert, "tls.crt": bundle.cert, "tls.key": bundle.key}
    written = {}
    for name, data in paths.items():
        path = directory / name
        temporary = directory / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if name == "tls.key" else 0o644)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
        written[name] = path
    return written


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2 and newer only; raises OSError or ssl.SSLError if the pair does not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class ReloadingContext:
    """A listening context whose certificate follows the files. Use `.context` for the server."""

    def __init__(
        self,
        cert: Path,
        key: Path,
        *,
        check_interval: float = 1.0,
        on_reload: Callable[[bool], None] = lambda ok: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cert, self.key = cert, key
        self.check_interval = check_interval
        self._on_reload = on_reload
        self._clock = clock
        self._stamp = self._read_stamp()
        self.current = server_context(cert, key)
        self.context = server_context(cert, key)
        self.context.sni_callback = self._select
        self._checked = clock()

    def _read_stamp(self) -> _Stamp:
        stats = (os.stat(path) for path in (self.cert, self.key))  # follows a Secret volume's symlinks
        return tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)

    def _select(self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        self.maybe_reload()
        connection.context = self.current

    def maybe_reload(self) -> bool:
        """Reload if the files changed since the last load; True if a new pair is now in use."""
        now = self._clock()
        if now - self._checked < self.check_interval:
            return False
        self._checked = now
        try:
            stamp = self._read_stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp  # a broken pair is retried only once the files change again
            self.current = server_context(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            log.warning("certificate %s / key %s changed but did not load (%s); keeping the previous one",
                        self.cert, self.key, exc)  # fmt: skip
            self._on_reload(False)
            return False
        log.info("certificate reloaded from %s", self.cert)
        self._on_reload(True)
        return True
