"""Throwaway PKI (EC P-256, made with `cryptography`) and a server on a loopback socket for the web tests."""

from __future__ import annotations

import contextlib
import datetime
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from berth.web import server


def _name(cn: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(parts)


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path.with_suffix(".crt"), path.with_suffix(".key")


def _issue(subject: x509.Name, issuer: x509.Name, public, signer, *, ca: bool, usage, sans=()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_pki(folder: Path) -> dict[str, Path]:
    """A CA, a serving certificate for 127.0.0.1/localhost, and a client certificate CN=alice O=team."""
    import ipaddress

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("web-test-ca")
    ca = _issue(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True, usage=None)
    files = dict(zip(("ca", "ca_key"), _write(folder / "ca", ca, ca_key)))
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = _issue(_name("server"), ca_name, server_key.public_key(), ca_key, ca=False,
                  usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)
    files["cert"], files["key"] = _write(folder / "server", cert, server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(_name("alice", "team"), ca_name, client_key.public_key(), ca_key, ca=False,
                  usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    files["client_cert"], files["client_key"] = _write(folder / "client", cert, client_key)
    return files


@contextlib.contextmanager
def running(app, **kwargs) -> Iterator[int]:
    """Serve `app` through `berth.web.server(app, **kwargs)` on a thread; yields the loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    srv = server(app, "127.0.0.1", sock.getsockname()[1], log_config=None, lifespan="off",
                 timeout_graceful_shutdown=1, **kwargs)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.started, "the server did not start"
    try:
        yield sock.getsockname()[1]
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()
