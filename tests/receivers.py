"""Real notification receivers for tests: an HTTP webhook (Apprise ``json://``) and an SMTP server
(``aiosmtpd``), optionally with STARTTLS under a throwaway CA made with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.netutil import free_port


@dataclass
class Webhook:
    """Every JSON body POSTed to it, in order; ``status`` is what it answers (500 plays a broken target)."""

    port: int
    status: int = 200
    bodies: list[dict] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"


@contextmanager
def webhook(status: int = 200) -> Iterator[Webhook]:
    """A tiny real HTTP server on a free port, in a thread."""
    hook = Webhook(free_port(), status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.raw.append(body)
            try:
                hook.bodies.append(json.loads(body))
            except ValueError:
                hook.bodies.append({"unparsed": body.decode(errors="replace")})
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mail:
    """One message as the SMTP server received it, and whether its session was encrypted."""

    sender: str
    recipients: list[str]
    content: bytes
    tls: bool


class _Handler:
    def __init__(self, inbox: list[Mail]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, _server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.inbox.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                               session.ssl is not None))
        return "250 OK"


@dataclass
class Smtp:
    port: int
    inbox: list[Mail]

    def url(self, to: str, tls: bool = False) -> str:
        query = f"from=alerts@gateway.example.edu&to={to}"
        if tls:
            return f"mailtos://127.0.0.1:{self.port}/?mode=starttls&{query}"
        return f"mailto://127.0.0.1:{self.port}/?{query}"


@contextmanager
def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[Smtp]:
    """aiosmtpd on a free port; with ``tls`` it offers STARTTLS and refuses mail without it."""
    inbox: list[Mail] = []
    port = free_port()
    options = {"tls_context": tls, "require_starttls": True} if tls else {}
    controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Smtp(port, inbox)
    finally:
        controller.stop()


def throwaway_ca(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA and a server certificate for 127.0.0.1 signed by it: the CA's PEM path (what a client trusts)
    and a server context holding the certificate."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onestop test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return ca_path, context
