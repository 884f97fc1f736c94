"""Request bodies are bounded while they are read: the decoder fed in chunks, then a real central process
sent bodies far over its limit, its memory read from ``/proc``."""

from __future__ import annotations

import gzip
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from central.bodies import BodyDecoder, BodyError
from harness.localsite import LocalSite, ServiceProcess
from harness.netutil import free_port

LIMIT = 1024 * 1024
CHUNK = 64 * 1024


def feed_all(decoder: BodyDecoder, data: bytes, size: int) -> bytes | bytearray:
    for start in range(0, len(data), size):
        decoder.feed(data[start:start + size])
    return decoder.finish()


@pytest.mark.parametrize("size", [1, 7, 4096, 10**6])
def test_a_body_fed_in_any_chunks_decodes_to_the_same_bytes(size):
    body = json.dumps({"site": "north-b3", "events": list(range(2000))}).encode()
    assert feed_all(BodyDecoder(None, LIMIT), body, size) == body
    assert feed_all(BodyDecoder("gzip", LIMIT), gzip.compress(body), size) == body


def test_a_plain_body_is_refused_as_soon_as_it_passes_the_limit():
    decoder = BodyDecoder(None, LIMIT)
    decoder.feed(b"x" * LIMIT)
    with pytest.raises(BodyError) as refused:
        decoder.feed(b"x")
    assert refused.value.status == 413 and len(decoder.raw) == LIMIT + 1


def test_a_gzip_bomb_stops_at_the_limit_of_decompressed_bytes():
    bomb = gzip.compress(b"\0" * (50 * LIMIT))  # 50 MB from about 50 KB
    decoder = BodyDecoder("gzip", LIMIT)
    with pytest.raises(BodyError) as refused:
        feed_all(decoder, bomb, 4096)
    assert refused.value.status == 413


def test_declared_length_encoding_and_gzip_are_checked():
    with pytest.raises(BodyError) as declared:
        BodyDecoder(None, LIMIT, declared_length=LIMIT + 1)
    with pytest.raises(BodyError) as encoding:
        BodyDecoder("br", LIMIT)
    not_gzip_body = BodyDecoder("gzip", LIMIT)
    not_gzip_body.feed(b"\x1f\x8bnope")
    with pytest.raises(BodyError) as not_gzip:
        not_gzip_body.finish()
    assert (declared.value.status, encoding.value.status, not_gzip.value.status) == (413, 415, 400)


# -- a real central process ---------------------------------------------------------------------------------

@pytest.fixture
def central_1mb(tmp_path: Path) -> Iterator[tuple[LocalSite, ServiceProcess]]:
    """Central in its own process with ``max_batch_bytes`` at 1 MiB."""
    site = LocalSite(tmp_path / "site", "test-site", broker_port=free_port(), gateway_port=free_port(),
                     central_port=free_port(), kiosks=[])
    site.write()
    proc = ServiceProcess("central", ["central", "run", "--config", str(site.path("central.toml"))],
                          f"{site.central_url}/healthz", site.path("logs/central.log"),
                          env={"ONESTOP_CENTRAL__MAX_BATCH_BYTES": str(LIMIT)})
    proc.start()
    yield site, proc
    proc.stop()


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def chunks(total: int) -> Iterator[bytes]:
    piece = b'{"site": "test-site", "events": [' + b" " * (CHUNK - 33)
    yield piece
    sent = len(piece)
    while sent < total:
        yield b" " * CHUNK
        sent += CHUNK


@pytest.mark.parametrize("route", ["/api/v1/ingest", "/api/v1/alerts/sync", "/api/v1/fleet/sync",
                                   "/api/v1/gateways/test-site/config"])
def test_a_huge_chunked_body_is_refused_without_being_buffered(central_1mb, route):
    site, proc = central_1mb
    assert proc.pid is not None
    total = 64 * LIMIT
    Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = status_kb(proc.pid, "VmRSS")
    role = "admin" if route.endswith("/config") else "gateway"
    method = "PUT" if route.endswith("/config") else "POST"
    # A generator body goes out with Transfer-Encoding: chunked and no Content-Length.
    answer = httpx.request(method, f"{site.central_url}{route}", content=chunks(total), timeout=60,
                           headers={"Authorization": f"Bearer {site.tokens[role]}",
                                    "Content-Type": "application/json"})
    grew_kb = status_kb(proc.pid, "VmHWM") - before
    assert answer.status_code == 413
    assert grew_kb * 1024 < total / 8, f"central's peak memory grew by {grew_kb} kB for a {total >> 20} MB body"
    assert httpx.get(f"{site.central_url}/healthz", timeout=5).status_code == 200


def test_a_declared_huge_body_is_refused_before_it_is_sent(central_1mb):
    site, _ = central_1mb
    with socket.create_connection(("127.0.0.1", site.central_port), timeout=10) as conn:
        conn.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: central\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + site.tokens["gateway"].encode() + b"\r\n"
                     b"Content-Length: 300000000000\r\n\r\n")
        head = conn.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head[:100]


def test_a_gzip_bomb_over_a_real_connection_is_refused(central_1mb):
    site, _ = central_1mb
    bomb = gzip.compress(b'{"site": "test-site", "events": [' + b" " * (200 * LIMIT))
    answer = httpx.post(f"{site.central_url}/api/v1/ingest", content=iter([bomb]), timeout=30,
                        headers={"Authorization": f"Bearer {site.tokens['gateway']}", "Content-Encoding": "gzip"})
    assert answer.status_code == 413 and os.path.exists(site.path("logs/central.log"))
