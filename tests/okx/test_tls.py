"""
TLS is always verified, on a real reactor and real loopback sockets.

Certificates are generated at test time: a self-signed leaf, and a private CA with a leaf
for 127.0.0.1/localhost. The production client (:meth:`OkxClient.create`) refuses both by
default; given the CA as ``ca_bundle`` it accepts the CA's leaf, and it still refuses a
leaf from that CA issued for another host name. A refused handshake never lets a request
through to the server.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.ssl import PrivateCertificate
from twisted.web.server import Site

from fmzokx.okx.errors import OkxTransportError
from fmzokx.okx.rest.client import OkxClient
from fmzokx.sim import Simulator

Key = ec.EllipticCurvePrivateKey


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str,
    key: Key,
    issuer: tuple[str, Key] | None,
    *,
    ca: bool = False,
    hosts: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate, key: Key | None = None) -> bytes:
    text = cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        text += key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return text


class Pki:
    """A private CA, leaves signed by it, and a self-signed leaf."""

    def __init__(self, directory: Path) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("fmzokx test CA", self.ca_key, None, ca=True)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(_pem(self.ca))

    def leaf(self, hosts: tuple[str, ...], *, self_signed: bool = False) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        issuer = None if self_signed else ("fmzokx test CA", self.ca_key)
        return _pem(_cert("okx test server", key, issuer, hosts=hosts), key)


async def _serve(pem: bytes) -> tuple[Any, Simulator]:
    sim = Simulator(reactor)
    options = PrivateCertificate.loadPEM(pem).options()
    port = reactor.listenSSL(  # type: ignore[attr-defined]
        0, Site(sim.resource()), options, interface="127.0.0.1"
    )
    return port, sim


async def _settle() -> None:
    waiter: Deferred[None] = Deferred()
    reactor.callLater(0.01, waiter.callback, None)  # type: ignore[attr-defined]
    await waiter


async def _call(pem: bytes, ca_bundle: str | None) -> tuple[Any, Simulator]:
    """Start a TLS server with ``pem``; GET /public/time through a production client."""
    port, sim = await _serve(pem)
    client = OkxClient.create(
        reactor, f"https://127.0.0.1:{port.getHost().port}", timeout=5.0, ca_bundle=ca_bundle
    )
    try:
        result: Any = await client.get("/api/v5/public/time")
    except OkxTransportError as error:
        result = error
    finally:
        await client.stop()
        await port.stopListening()
        await _settle()
    return result, sim


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest_twisted.ensureDeferred
async def test_self_signed_certificate_is_refused(pki: Pki) -> None:
    """A self-signed server certificate fails verification; no request reaches the server."""
    result, sim = await _call(pki.leaf(("127.0.0.1", "localhost"), self_signed=True), None)
    assert isinstance(result, OkxTransportError)
    assert result.tls is True
    assert "TLS" in str(result)
    assert not result.outcome_unknown
    assert sim.state()["requests"] == {}


@pytest_twisted.ensureDeferred
async def test_unknown_ca_is_refused_by_default(pki: Pki) -> None:
    """A certificate from a CA the platform does not trust is refused."""
    result, sim = await _call(pki.leaf(("127.0.0.1",)), None)
    assert isinstance(result, OkxTransportError) and result.tls
    assert sim.state()["requests"] == {}


@pytest_twisted.ensureDeferred
async def test_ca_bundle_makes_the_ca_trusted(pki: Pki) -> None:
    """With ``ca_bundle`` naming the CA, the same kind of certificate is accepted."""
    result, sim = await _call(pki.leaf(("127.0.0.1", "localhost")), str(pki.ca_file))
    assert not isinstance(result, Exception), result
    assert int(result.data[0]["ts"]) > 0
    assert sim.state()["requests"] == {"/api/v5/public/time": 1}


@pytest_twisted.ensureDeferred
async def test_host_name_is_verified(pki: Pki) -> None:
    """A trusted CA's certificate for another host name is still refused."""
    result, sim = await _call(pki.leaf(("okx.invalid",)), str(pki.ca_file))
    assert isinstance(result, OkxTransportError) and result.tls
    assert sim.state()["requests"] == {}


def test_ca_bundle_without_certificates_is_an_error(tmp_path: Path) -> None:
    """A ca_bundle that holds no certificate is refused at construction, not ignored."""
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="no PEM certificate"):
        OkxClient.create(reactor, "https://www.okx.com", ca_bundle=str(empty))
