"""The site CA and the certificates it signs."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from provisioning import pki


def test_the_server_certificate_is_signed_by_the_ca_and_names_every_host():
    ca = pki.create_ca("north-b3")
    server = pki.issue_server(ca, "north-b3", ["gw-north-b3.campus.example", "10.1.2.3", "localhost"])
    server.cert.verify_directly_issued_by(ca.cert)
    san = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "gw-north-b3.campus.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                         ipaddress.ip_address("10.1.2.3")]
    usage = server.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_the_ca_may_sign_leaves_only():
    ca = pki.create_ca("north-b3")
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0


def test_a_device_certificate_names_the_device_and_is_for_clients():
    ca = pki.create_ca("north-b3")
    client = pki.issue_client(ca, "north-b3", "kiosk-b3-lobby")
    client.cert.verify_directly_issued_by(ca.cert)
    assert client.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "kiosk-b3-lobby"
    usage = client.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client.not_after <= ca.cert.not_valid_after_utc


def test_the_ca_round_trips_through_pem_and_has_a_stable_fingerprint():
    ca = pki.create_ca("north-b3")
    again = pki.load_ca(ca.cert_pem, ca.key_pem)
    assert again.cert == ca.cert
    assert pki.fingerprint(ca.cert_pem) == pki.fingerprint(again.cert_pem)
    assert len(pki.fingerprint(ca.cert_pem)) == 64
