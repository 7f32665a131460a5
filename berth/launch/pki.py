"""Certificates, keys, tokens and kubeconfigs of a local declarative cluster, as k3s makes them at first start.

`ClusterPKI(state_dir)` keeps everything under `<state>/pki` (mode 0700): a CA (`ca.crt`, `ca.key`), the API
server's serving certificate (`apiserver.crt|key`: SANs 127.0.0.1, ::1, localhost and any names given), client
certificates (`<name>.crt|key`: CN = user, O = groups), the ServiceAccount signing key (`service-account.key`),
and the bearer token the API server shows the agents' log endpoints (`kubelet-token`); beside it, `tokens.csv`
(upstream's static token file) and kubeconfigs with the CA and the credential embedded.  Every key, token file
and kubeconfig is created with mode 0600 (`write_secret`: a new file opened 0600, then renamed into place).
All keys are EC P-256: quick to make and to handshake with.  Idempotent: what exists and still fits is reused
(a restart keeps the CA, every certificate and every token), so a kubeconfig handed out stays valid.
Used by `LocalCluster` (`berth up`, tests, benchmarks) and `berth kube user`.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS, LEAF_DAYS = 3650, 365
RENEW_BEFORE = datetime.timedelta(days=90)
"""A leaf certificate this close to expiry is issued anew at the next start (k3s renews at 90 days)."""
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
SERVER_USAGE = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_USAGE = ExtendedKeyUsageOID.CLIENT_AUTH


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` to `path` as a file of mode 0600 from its creation (a fresh file renamed over any old one)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (made 0700; an existing one is narrowed to 0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # a directory holds no secret itself: narrowing it after creation leaks nothing
    return path


def random_token() -> str:
    """A bearer token: 32 random bytes, URL-safe base64 (no character a header or CSV would need escaped)."""
    return secrets.token_urlsafe(32)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def subject(common_name: str, groups: tuple[str, ...] = ()) -> x509.Name:
    """CN = the user, one O per group: how upstream reads a client certificate's identity."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def alt_names(names: tuple[str, ...]) -> list[x509.GeneralName]:
    """Subject alternative names: IP addresses as such, anything else as a DNS name."""
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass
class Authority:
    """A CA: its certificate and key; `issue` signs leaf certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "berth-ca") -> "Authority":
        key, now = new_key(), _now()
        cert = (x509.CertificateBuilder().subject_name(subject(name)).issuer_name(subject(name))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    @classmethod
    def load(cls, cert_file: Path, key_file: Path) -> "Authority":
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        return cls(x509.load_pem_x509_certificate(cert_file.read_bytes()), key)

    def issue(self, common_name: str, groups: tuple[str, ...] = (), *, server_names: tuple[str, ...] = (),
              days: int = LEAF_DAYS) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A new key and its certificate: for a server when `server_names` are given (its SANs), else a client."""
        key, now = new_key(), _now()
        usage = SERVER_USAGE if server_names else CLIENT_USAGE
        builder = (x509.CertificateBuilder().subject_name(subject(common_name, groups))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False))
        if server_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names(server_names)), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    def signed(self, cert: x509.Certificate) -> bool:
        """True when `cert` was signed by this CA's key."""
        try:
            cert.verify_directly_issued_by(self.cert)
            return True
        except (ValueError, TypeError, InvalidSignature):
            return False


def still_fits(cert: x509.Certificate, ca: Authority, common_name: str, groups: tuple[str, ...],
               server_names: tuple[str, ...]) -> bool:
    """May `cert` be reused: signed by `ca`, the same identity, not near expiry, and covering `server_names`?"""
    if not ca.signed(cert) or cert.subject != subject(common_name, groups):
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    if not server_names:
        return True
    try:
        have = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return False
    return set(alt_names(server_names)) <= have


ADMIN = ("berth-admin", ("system:masters",))
"""The cluster administrator's identity: upstream's `system:masters` group passes every authorisation."""
COMPONENTS = {"kube-scheduler": ("system:kube-scheduler", ()),
              "kube-controller-manager": ("system:kube-controller-manager", ())}
"""Client certificates of the control plane's components: file name -> (user, groups), upstream's identities."""
NODES_GROUP = "system:nodes"


def node_user(node: str) -> str:
    return f"system:node:{node}"


class ClusterPKI:
    """The credentials of the cluster whose state lives in `state_dir` (see the module docstring for the layout)."""

    def __init__(self, state_dir: Path | str) -> None:
        self.state = Path(state_dir)
        self.dir = self.state / "pki"
        self._ca: Authority | None = None

    def file(self, name: str) -> Path:
        return self.dir / name

    @property
    def tokens_file(self) -> Path:
        return self.state / "tokens.csv"

    def exists(self) -> bool:
        return self.file("ca.crt").is_file() and self.file("ca.key").is_file()

    def authority(self, create: bool = True) -> Authority:
        """The CA, made on first use (or, with `create=False`, FileNotFoundError when there is none)."""
        if self._ca is None:
            if self.exists():
                self._ca = Authority.load(self.file("ca.crt"), self.file("ca.key"))
            elif not create:
                raise FileNotFoundError(f"no cluster CA in {self.dir} (start the cluster with `berth up` first)")
            else:
                private_dir(self.dir)
                self._ca = Authority.create()
                write_secret(self.file("ca.key"), key_pem(self._ca.key))
                write_secret(self.file("ca.crt"), cert_pem(self._ca.cert))
        return self._ca

    def pair(self, name: str, common_name: str, groups: tuple[str, ...] = (),
             server_names: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """`<name>.crt` and `<name>.key`, reused when they still fit, else issued anew by the CA."""
        ca = self.authority()
        cert_file, key_file = self.file(f"{name}.crt"), self.file(f"{name}.key")
        if cert_file.is_file() and key_file.is_file():
            if still_fits(x509.load_pem_x509_certificate(cert_file.read_bytes()), ca, common_name, groups,
                          server_names):
                return cert_file, key_file
        cert, key = ca.issue(common_name, groups, server_names=server_names)
        write_secret(key_file, key_pem(key))
        write_secret(cert_file, cert_pem(cert))
        return cert_file, key_file

    def serving(self, names: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """The API server's certificate and key, for the loopback names and `names`."""
        return self.pair("apiserver", "kube-apiserver", server_names=(*LOOPBACK_NAMES, *names))

    def secret(self, name: str, make) -> Path:
        """A secret file of the PKI made once by `make()` (bytes) and kept."""
        path = self.file(name)
        if not path.is_file():
            private_dir(self.dir)
            write_secret(path, make())
        return path

    def service_account_key(self) -> Path:
        return self.secret("service-account.key", lambda: key_pem(new_key()))

    def kubelet_token(self) -> Path:
        """The bearer token the API server presents to the agents' log endpoints (`--kubelet-token-file`)."""
        return self.secret("kubelet-token", lambda: random_token().encode())

    def tokens(self, users: dict[str, tuple[str, ...]]) -> dict[str, str]:
        """user -> bearer token for `users` (user -> groups), kept in `tokens.csv`: existing tokens are reused,
        new users get new ones, users no longer asked for are dropped."""
        known = read_tokens(self.tokens_file)
        tokens = {user: known.get(user) or random_token() for user in users}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for user, groups in users.items():
            writer.writerow([tokens[user], user, user, ",".join(groups)])
        write_secret(self.tokens_file, out.getvalue().encode())
        return tokens


def read_tokens(path: Path) -> dict[str, str]:
    """user -> token of a static token file (`token,user,uid[,"groups"]`); empty when there is none."""
    if not path.is_file():
        return {}
    rows = csv.reader(io.StringIO(path.read_text()))
    return {row[1]: row[0] for row in rows if len(row) >= 3 and row[0]}


def kubeconfig(server: str, ca_pem: bytes, *, cert_pem: bytes | None = None, key_pem: bytes | None = None,
               token: str | None = None, user: str = "berth", namespace: str = "default") -> bytes:
    """A kubeconfig for `server` with the CA and the credential (a client certificate, or a bearer token)
    embedded as base64 data, as kubectl and the official client read them."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    cluster = {"server": server} | ({"certificate-authority-data": b64(ca_pem)} if ca_pem else {})
    credential: dict = {"token": token} if token else {}
    if cert_pem and key_pem:
        credential = {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}
    config = {"apiVersion": "v1", "kind": "Config", "preferences": {},
              "clusters": [{"name": "berth", "cluster": cluster}],
              "users": [{"name": user, "user": credential}],
              "contexts": [{"name": "berth", "context": {"cluster": "berth", "user": user, "namespace": namespace}}],
              "current-context": "berth"}
    return yaml.safe_dump(config, sort_keys=False).encode()


def write_kubeconfig(path: Path, server: str, ca_file: Path | None, cert_key: tuple[Path, Path] | None = None,
                     token: str | None = None, user: str = "berth") -> Path:
    """Write a 0600 kubeconfig for `server` with the CA of `ca_file` and a client certificate or a token."""
    cert, key = (cert_key[0].read_bytes(), cert_key[1].read_bytes()) if cert_key else (None, None)
    write_secret(path, kubeconfig(server, ca_file.read_bytes() if ca_file else b"", cert_pem=cert, key_pem=key,
                                  token=token, user=user))
    return path


def user_kubeconfig(state_dir: Path, user: str, groups: tuple[str, ...], server: str, out: Path) -> Path:
    """Sign a client certificate for `user` in `groups` with the cluster's CA (which must exist) and write a
    0600 kubeconfig for `server` holding it; the key lives only in that file."""
    ca = ClusterPKI(state_dir).authority(create=False)
    cert, key = ca.issue(user, groups)
    write_secret(out, kubeconfig(server, cert_pem(ca.cert), cert_pem=cert_pem(cert), key_pem=key_pem(key),
                                 user=user))
    return out
