"""Request bodies read as they arrive, bounded while reading (pure: fed chunks, no I/O).

A body is never buffered whole before its size is known to be acceptable: ``BodyDecoder`` is fed the
chunks the server receives, gunzips them on the fly when ``Content-Encoding: gzip``, and refuses (413) as
soon as the bytes received or the bytes decompressed pass the limit. So a 300 MB plain body costs at most
the limit in memory, and a gzip bomb stops at the limit of decompressed output, whatever its compressed
size. The decoded body is kept in one ``bytearray`` (pydantic and ``json`` read it as is, no extra copy).

The application-wide ``max_body_size`` (Starlette's body limit, set in ``central.api``) bounds the raw bytes
of every other route the same way; the raw-body routes (ingest, alert and fleet sync) read through this.
"""

from __future__ import annotations

import zlib

from central.errors import RequestError

# How much decompressed output one call may produce: a small chunk of a bomb cannot allocate the limit at once.
MAX_STEP = 1024 * 1024


class BodyError(RequestError):
    """The request body cannot be read (bad encoding, too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyDecoder:
    """Decodes one request body fed in chunks; ``BodyError`` as soon as it breaks a bound."""

    def __init__(self, encoding: str | None, limit: int, declared_length: int | None = None) -> None:
        if encoding not in (None, "", "identity", "gzip"):
            raise BodyError(415, "unsupported Content-Encoding (use gzip or none)")
        if declared_length is not None and declared_length > limit:
            raise BodyError(413, "body too large")  # said up front by Content-Length: read nothing
        self.limit = limit
        self.received = 0
        self.body = bytearray()
        self._gunzip = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk as received."""
        self.received += len(chunk)
        if self.received > self.limit:
            raise BodyError(413, "body too large")
        if self._gunzip is None:
            self.body += chunk
            return
        pending = chunk
        while pending:
            try:
                out = self._gunzip.decompress(pending, MAX_STEP)
            except zlib.error as exc:
                raise BodyError(400, "body is not valid gzip") from exc
            self.body += out
            if len(self.body) > self.limit:
                raise BodyError(413, "body too large once decompressed")
            pending = self._gunzip.unconsumed_tail
            if self._gunzip.eof:
                return  # trailing bytes after the gzip member are ignored, as zlib does

    def finish(self) -> bytearray:
        """The whole decoded body."""
        return self.body

