"""Request bodies read as they arrive, bounded while reading (pure: fed chunks, no I/O).

A body is never buffered past its limit: ``BodyDecoder`` is fed the chunks the server receives and refuses
(413) as soon as they pass the limit (or at once when ``Content-Length`` says they will), so a 300 MB body
costs at most the limit in memory. A gzip body is then decompressed with the same limit on its output, so a
zip bomb stops there whatever its ratio. The raw body is kept in one ``bytearray`` (pydantic and ``json``
read it as is: no joined copy).

The application-wide ``max_body_size`` (Starlette's body limit, set in ``central.api``) bounds the raw bytes
of every other route the same way; the raw-body routes (ingest, alert and fleet sync) read through this.
"""

from __future__ import annotations

import zlib

from central.errors import RequestError


class BodyError(RequestError):
    """The request body cannot be read (bad encoding, too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyDecoder:
    """One request body: raw chunks taken as they arrive (bounded), then decoded once (bounded again).

    ``feed`` is cheap and runs as the bytes arrive; ``finish`` gunzips, which is CPU work for the thread pool
    (zlib releases the GIL, so gateways' batches decompress in parallel).
    """

    def __init__(self, encoding: str | None, limit: int, declared_length: int | None = None) -> None:
        if encoding not in (None, "", "identity", "gzip"):
            raise BodyError(415, "unsupported Content-Encoding (use gzip or none)")
        if declared_length is not None and declared_length > limit:
            raise BodyError(413, "body too large")  # said up front by Content-Length: read nothing
        self.limit = limit
        self.gzip = encoding == "gzip"
        self.raw = bytearray()

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk as received; 413 as soon as the body passes the limit."""
        self.raw += chunk
        if len(self.raw) > self.limit:
            raise BodyError(413, "body too large")

    def finish(self) -> bytes | bytearray:
        """The whole body, gunzipped when it came gzip-compressed: stops at the limit, so a zip bomb stops early."""
        if not self.gzip:
            return self.raw
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            body = decompressor.decompress(self.raw, self.limit + 1)
        except zlib.error as exc:
            raise BodyError(400, "body is not valid gzip") from exc
        if len(body) > self.limit or decompressor.unconsumed_tail:
            raise BodyError(413, "body too large once decompressed")
        return body
