"""The sync planner: what to send to central next, and what its answers mean. No I/O.

``gateway.sync`` is the shell around it: it reads the store, posts through an ``httpx.Client`` and does
what the planner decides.

- Batches: the most urgent, then oldest, unsynced events, bounded by count and bytes (``next_batch``),
  encoded as central's ingest body (``encode_batch``).
- Answers (``judge``): 200 takes the part; 400, 413 and 422 judge its content, so the part is split in
  halves until the records that cause them are found (``Bisection``), and those alone are set aside; 5xx,
  401, 403 and 429 judge the moment (``CentralUnreachable``: retry the round later, with back-off); anything
  else no retry changes (``CentralRefused``: count it, ask again only at the back-off's cap).
"""

from __future__ import annotations

import enum
import gzip
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.errors import CentralRefused, CentralUnreachable
from onestop.backoff import retry_delay

MAX_BACKOFF_S = 60.0
Row = tuple[str, float, bytes]  # an unsynced event: (id, received, payload)
# Answers that judge the content, not the moment: splitting the batch finds the records that cause them.
REFUSED = frozenset({400, 413, 422})
BUSY = frozenset({401, 403, 429})  # not now (a token being rotated, a rate limit): the round is retried
T = TypeVar("T")


class Verdict(enum.Enum):
    """What an answer of central means for the part it answers."""

    ACCEPTED = "accepted"
    CONTENT = "content"  # split the part, or set the one record aside
    TRANSIENT = "transient"  # retry the round later
    REFUSED = "refused"  # no retry changes it


def judge(status: int) -> Verdict:
    """The verdict of an HTTP status."""
    if status == 200:
        return Verdict.ACCEPTED
    if status in REFUSED:
        return Verdict.CONTENT
    if status >= 500 or status in BUSY:
        return Verdict.TRANSIENT
    return Verdict.REFUSED


def raise_for(status: int, what: str) -> None:
    """The typed error of a status that judges the whole round, else nothing."""
    verdict = judge(status)
    if verdict is Verdict.TRANSIENT:
        raise CentralUnreachable(f"central answered {status} to {what}")
    if verdict is Verdict.REFUSED:
        raise CentralRefused(f"central answered {status} to {what}")


@dataclass(frozen=True, slots=True)
class Accept(Generic[T]):
    """Central took these records."""

    records: list[T]


@dataclass(frozen=True, slots=True)
class SetAside(Generic[T]):
    """Central refuses this record for its content: set it aside so it never holds back the rest."""

    record: T
    reason: str


@dataclass(frozen=True, slots=True)
class Split:
    """Central refused a part of several records: its halves go next, one at a time."""

    size: int


Step = Accept[T] | SetAside[T] | Split


class Bisection(Generic[T]):
    """Which part of ``records`` to post next, and what central's answer to it means.

    A part refused for its content is split in halves, the first half settled before the second, until the
    refused records are found; every other part is accepted. An answer that judges the round raises
    (``raise_for``) and ends the bisection: the round is tried again as a whole.
    """

    def __init__(self, records: Sequence[T], what: str) -> None:
        self._parts: list[list[T]] = [list(records)] if records else []
        self._what = what

    def next(self) -> list[T] | None:
        """The part to post next (``None`` once every record is settled)."""
        return self._parts[-1] if self._parts else None

    def answer(self, status: int, body: bytes = b"") -> Step[T]:
        """Central's answer to the part ``next`` gave."""
        part = self._parts.pop()
        raise_for(status, self._what)
        if judge(status) is Verdict.ACCEPTED:
            return Accept(part)
        if len(part) == 1:
            return SetAside(part[0], refusal_reason(status, body))
        half = len(part) // 2
        self._parts += [part[half:], part[:half]]
        return Split(len(part))


def refusal_reason(status: int, body: bytes) -> str:
    """Central's reason for refusing, bounded (its ``detail`` lists locations and error types, no values)."""
    try:
        detail = json.loads(body).get("detail") if body else None
    except (ValueError, AttributeError):
        detail = None
    return (json.dumps(detail) if detail is not None else f"HTTP {status}")[:500]


def backoff_delay(attempt: int, base: float = 0.5, cap: float = MAX_BACKOFF_S,
                  rng: random.Random | None = None) -> float:
    """Full-jitter exponential back-off: uniform in [0, min(cap, base * 2**attempt)]."""
    return retry_delay(attempt, base=base, cap=cap, jitter=True, rng=rng)


def bound_by_bytes(rows: list[Row], max_bytes: int) -> list[Row]:
    """The longest prefix of ``rows`` whose payloads fit in ``max_bytes`` (always at least one row)."""
    total = 0
    for index, (_id, _received, payload) in enumerate(rows):
        total += len(payload) + 48
        if total > max_bytes and index:
            return rows[:index]
    return rows


def next_batch(rows: list[Row], in_flight: Sequence[Row], batch_max: int, max_bytes: int) -> list[Row]:
    """The next batch from the store's unsynced ``rows`` (read ``batch_max + len(in_flight)`` of them), skipping
    the batch in flight (still unsynced in the store until central confirms it)."""
    if in_flight:
        skip = {row[0] for row in in_flight}
        rows = [row for row in rows if row[0] not in skip][:batch_max]
    return bound_by_bytes(rows, max_bytes)


def encode_batch(site: str, rows: Sequence[Row]) -> bytes:
    """The ingest body, gzip-compressed; stored envelopes are spliced in as they were received."""
    # A float's repr is its JSON form (receive times are finite), and costs a fraction of json.dumps.
    items = b",".join(b'{"received":%r,"envelope":%s}' % (received, payload) for _id, received, payload in rows)
    body = b'{"site":' + json.dumps(site).encode() + b',"events":[' + items + b"]}"
    return gzip.compress(body, compresslevel=5)
