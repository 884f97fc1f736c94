"""The site's certificate authority: the CA itself, the broker's server certificate, device certificates.

Everything is EC P-256 with ECDSA-SHA256: small keys and fast handshakes on a Raspberry Pi, and supported by
every OpenSSL Mosquitto and Python are built with. Pure functions over ``cryptography`` objects; the
caller decides where PEM bytes are written (private keys only ever with mode 0600).

Lifetimes: the CA ten years (re-issuing it means re-bundling every device); server and device certificates
two years (``device rotate`` re-issues a device's certificate together with its password).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 730
_BACKDATE = dt.timedelta(minutes=5)  # a device whose clock is a little behind still accepts a fresh cert


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def serial_hex(self) -> str:
        return format(self.cert.serial_number, "x")

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, site: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "onestop-edge"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, site),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def create_ca(site: str, *, days: int = CA_DAYS) -> Issued:
    """A self-signed CA for one site; it may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"onestop {site} site CA", site)
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def _leaf(ca: Issued, subject: x509.Name, usage: x509.ObjectIdentifier,
          san: list[x509.GeneralName] | None, days: int) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(ca.cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - _BACKDATE)
               .not_valid_after(min(now + dt.timedelta(days=days), ca.cert.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def subject_alt_names(hostnames: list[str]) -> list[x509.GeneralName]:
    """``localhost`` and ``127.0.0.1`` always, then each host name (DNS) or address (IP), without repeats."""
    names: list[x509.GeneralName] = []
    for host in ["localhost", "127.0.0.1", *hostnames]:
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            entry = x509.DNSName(host.lower())
        if entry not in names:
            names.append(entry)
    return names


def issue_server(ca: Issued, site: str, hostnames: list[str], *, days: int = LEAF_DAYS) -> Issued:
    """A server's certificate (the broker's, the gateway's HTTPS); clients check the host they dial against
    its SANs."""
    common = hostnames[0] if hostnames else "localhost"
    return _leaf(ca, _name(common, site), ExtendedKeyUsageOID.SERVER_AUTH, subject_alt_names(hostnames), days)


def san_names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a server certificate is valid for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in san]


def issue_client(ca: Issued, site: str, device: str, *, days: int = LEAF_DAYS) -> Issued:
    """A device's client certificate; its common name is the device id."""
    return _leaf(ca, _name(device, site), ExtendedKeyUsageOID.CLIENT_AUTH, None, days)


def load_ca(cert_pem: bytes, key_pem: bytes) -> Issued:
    """The CA read back from its PEM files."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the site CA key is not an EC key")
    return Issued(x509.load_pem_x509_certificate(cert_pem), key)


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 fingerprint of a PEM certificate (hex, as ``openssl x509 -fingerprint -sha256`` without colons)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
