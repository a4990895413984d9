"""Certificates for one emulator run: a throwaway CA, the server certificate, the partner app certificates.

MSAL and the Azure SDKs refuse plain http, so every emulated host speaks TLS with a certificate signed
by a CA made for this run only. Clients trust it through ``ca-bundle.pem`` (the system CAs plus ours):
``REQUESTS_CA_BUNDLE`` overrides ``Session.verify`` in requests, so pointing it at our CA alone would
break every other TLS call of the process.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
_VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class ServerTls:
    ca_cert_path: Path
    ca_bundle_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx


@dataclass(frozen=True)
class AppCertificate:
    """A partner app certificate: PEM file (cert + key) and the thumbprints Entra matches on."""

    pem_path: Path
    thumbprint_sha1: str
    thumbprint_sha256: str
    public_key_pem: bytes
    pem: str


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _builder(subject: str, issuer: x509.Name, public_key: rsa.RSAPublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def system_ca_bundle() -> str:
    """The system CAs that go into ca-bundle.pem beside ours (certifi when the OS has none)."""
    for candidate in _SYSTEM_BUNDLES:
        if Path(candidate).is_file():
            return Path(candidate).read_text()
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return ""
    return Path(certifi.where()).read_text()


def _make_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    ca_key = _new_key()
    ca_name = _name("defender-relay emulator CA (this run only)")
    ca_cert = (
        _builder("defender-relay emulator CA (this run only)", ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_cert


def create_server_tls(state_dir: Path) -> ServerTls:
    """Make the run's CA and the loopback server certificate; write ca.pem and ca-bundle.pem."""
    ca_key, ca_cert = _make_ca()
    ca_name = ca_cert.subject
    key = _new_key()
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    cert = (
        _builder("localhost", ca_name, key.public_key())
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    paths = ServerTls(
        ca_cert_path=state_dir / "ca.pem",
        ca_bundle_path=state_dir / "ca-bundle.pem",
        cert_path=state_dir / "server-cert.pem",
        key_path=state_dir / "server-key.pem",
    )
    paths.ca_cert_path.write_text(ca_pem)
    system = system_ca_bundle()
    paths.ca_bundle_path.write_text(system.rstrip("\n") + "\n" + ca_pem if system else ca_pem)
    paths.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(paths.key_path, _key_pem(key))
    return paths


def create_app_certificate(path: Path, *, subject: str) -> AppCertificate:
    """A self-signed app credential certificate, as uploaded to an Entra app registration."""
    key = _new_key()
    cert = _builder(subject, _name(subject), key.public_key()).sign(key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    pem = cert_pem + _key_pem(key).decode()
    _write_private(path, pem.encode())
    public_key_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return AppCertificate(
        pem_path=path,
        thumbprint_sha1=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - x5t is SHA-1 by definition
        thumbprint_sha256=cert.fingerprint(hashes.SHA256()).hex().upper(),
        public_key_pem=public_key_pem,
        pem=pem,
    )
