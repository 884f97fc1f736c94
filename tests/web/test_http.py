"""The HTTP settings refuse, at start-up, every way of serving tokens and personal data insecurely."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from provisioning import pki
from provisioning.mosquitto_files import write_private
from web.http import HttpSettings


@pytest.fixture
def pair(tmp_path):
    ca = pki.create_ca("test-site")
    issued = pki.issue_server(ca, "test-site", ["gw.test"])
    cert, key = tmp_path / "gateway.crt", tmp_path / "gateway.key"
    write_private(cert, issued.cert_pem, mode=0o644)
    write_private(key, issued.key_pem)
    return cert, key


def test_a_certificate_and_its_key_serve_https_on_the_lan(pair):
    cert, key = pair
    settings = HttpSettings(host="0.0.0.0", port=8080, tls_cert=cert, tls_key=key)
    assert settings.url == "https://0.0.0.0:8080"


def test_tls_needs_both_the_certificate_and_the_key(pair):
    with pytest.raises(ValidationError, match="give both or neither"):
        HttpSettings(tls_cert=pair[0])


def test_a_key_others_may_read_is_refused(pair):
    cert, key = pair
    key.chmod(0o644)
    with pytest.raises(ValidationError, match=r"tls_key: .* may be read by others \(mode 0644\)"):
        HttpSettings(tls_cert=cert, tls_key=key)


def test_a_key_of_another_certificate_is_refused(pair, tmp_path):
    other = tmp_path / "other.key"
    write_private(other, pki.issue_server(pki.create_ca("test-site"), "test-site", []).key_pem)
    with pytest.raises(ValidationError, match="cannot be loaded"):
        HttpSettings(tls_cert=pair[0], tls_key=other)


def test_plain_http_is_served_on_loopback_only_unless_insecure_is_said_in_so_many_words():
    assert HttpSettings().url == "http://127.0.0.1:8080"
    assert HttpSettings(host="::1").url == "http://[::1]:8080"
    with pytest.raises(ValidationError, match="plain HTTP on 0.0.0.0"):
        HttpSettings(host="0.0.0.0")
    assert HttpSettings(host="0.0.0.0", insecure_plain_http=True).url == "http://0.0.0.0:8080"


def test_the_gateway_does_not_start_with_a_readable_key(pair, tmp_path):
    cert, key = pair
    key.chmod(0o640)
    config = tmp_path / "gateway.toml"
    config.write_text(f'site = "test-site"\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[http]\nhost = "0.0.0.0"\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    proc = subprocess.run([sys.executable, "-m", "onestop", "gateway", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "http: " in proc.stderr and "mode 0640" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()
