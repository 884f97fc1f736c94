"""Who is inside, as this kiosk knows it, kept on disk so a restart does not turn goodbyes into welcomes.

The controller decides from its in-memory ``inside`` map; this store mirrors it. It is written after the
outbox (the event is the promise; presence is a cache of decisions already recorded), with
``synchronous=NORMAL``: a power cut may lose the last change, which costs at worst one check-in recorded
twice, something the gateway already tolerates. Card numbers are personal data; this file lives beside the
outbox, which holds them too, in the kiosk's private data directory.

Beside it the store keeps the last good copy of the gateway's presence for the space (with the key that
reads it) and this kiosk's own taps the copy does not include yet, so that after a restart with the broker
down the kiosk still decides from what every kiosk of the space had recorded (see ``kiosk.controller``).

With a ``sealer`` (``KioskRuntime`` always gives one) no card leaves memory in clear: the ``card`` columns
hold a keyed tag (``Sealer.tag``: rows are still found and replaced by card), and ``sealed`` holds the card
and booking sealed to their row; the gateway's copy and its key are sealed too. Rows from an older release,
or sealed under a rotated-out key, are resealed on open.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.controller import FEEDBACK_INTERVAL, OwnTap, Stay
from onestop.sqlite import checkpoint, open_database
from sealing import Sealer

MIGRATIONS = [
    ("0001-presence", """
        CREATE TABLE presence (
            space TEXT NOT NULL,
            card TEXT NOT NULL,
            since REAL NOT NULL,
            reservation TEXT,
            PRIMARY KEY (space, card)
        );
    """),
    ("0002-authority", """
        CREATE TABLE authority (
            space TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE own_taps (
            space TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            card TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (space, seq)
        );
    """),
    # With a sealer: presence.card and own_taps.card are keyed tags, the clear values sealed here.
    ("0003-sealed", """
        ALTER TABLE presence ADD COLUMN sealed BLOB;
        ALTER TABLE own_taps ADD COLUMN sealed BLOB;
    """),
    # When a card was last asked the feedback question: a keyed tag of the card, never the card itself.
    ("0004-feedback-asked", """
        CREATE TABLE feedback_asked (
            tag TEXT PRIMARY KEY,
            at REAL NOT NULL
        );
    """),
]


class PresenceStore:
    """The cards inside each space this kiosk has served, with their check-in time and booking."""

    def __init__(self, path: str | Path, sealer: Sealer | None = None) -> None:
        self._conn = open_database(path, MIGRATIONS, synchronous="NORMAL").conn
        self._lock = threading.Lock()
        self._sealer = sealer
        if sealer is not None:
            self._reseal(sealer)

    # -- sealing -------------------------------------------------------------------------------------
    def _card(self, card: str) -> str:
        return self._sealer.tag(card) if self._sealer else card

    def _seal(self, value: object, *ad: object) -> object:
        if self._sealer is None:
            return value
        return self._sealer.seal(json.dumps(value).encode(), "|".join(map(str, ad)).encode())

    def _open(self, blob: bytes, *ad: object) -> list[Any]:
        assert self._sealer is not None
        opened: list[Any] = json.loads(self._sealer.open(blob, "|".join(map(str, ad)).encode()))
        return opened

    def _reseal(self, sealer: Sealer) -> None:
        """Seal the rows an older release wrote in clear (``sealed`` is NULL) and those under an older key."""
        conn = self._conn
        presence = [(space, card, since, reservation, sealed) for space, card, since, reservation, sealed
                    in conn.execute("SELECT space, card, since, reservation, sealed FROM presence")
                    if sealed is None or sealer.stale(sealed)]
        taps = [row for row in conn.execute("SELECT space, seq, type, card, at, sealed FROM own_taps")
                if row[5] is None or sealer.stale(row[5])]
        authority = [row for row in conn.execute("SELECT space, key, body FROM authority")
                     if isinstance(row[1], str) or sealer.stale(row[1])]
        if not (presence or taps or authority):
            return
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for space, card, since, reservation, sealed in presence:
                    clear = (card, reservation) if sealed is None else tuple(self._open(sealed, space, card))
                    conn.execute("DELETE FROM presence WHERE space = ? AND card = ?", (space, card))
                    conn.execute("INSERT OR REPLACE INTO presence (space, card, since, reservation, sealed) "
                                 "VALUES (?, ?, ?, NULL, ?)",
                                 (space, sealer.tag(clear[0]), since, self._seal(list(clear), space,
                                                                                  sealer.tag(clear[0]))))
                for space, seq, _kind, card, _at, sealed in taps:
                    clear_card = card if sealed is None else self._open(sealed, space, seq)[0]
                    conn.execute("UPDATE own_taps SET card = ?, sealed = ? WHERE space = ? AND seq = ?",
                                 (sealer.tag(clear_card), self._seal([clear_card], space, seq), space, seq))
                for space, key, body in authority:
                    copy = [key, body] if isinstance(key, str) else self._open(key, space)
                    conn.execute("UPDATE authority SET key = ?, body = ? WHERE space = ?",
                                 (self._seal(copy, space), b"", space))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            checkpoint(conn)  # the clear page images leave the WAL

    # -- presence ------------------------------------------------------------------------------------
    def load(self, space: str) -> dict[str, Stay]:
        """Everyone inside ``space``."""
        with self._lock:
            rows = self._conn.execute("SELECT card, since, reservation, sealed FROM presence WHERE space = ?",
                                      (space,)).fetchall()
        if self._sealer is None:
            return {card: Stay(datetime.fromtimestamp(since, UTC), reservation) for card, since, reservation, _ in rows}
        out = {}
        for tag, since, _, sealed in rows:
            card, reservation = self._open(sealed, space, tag)
            out[card] = Stay(datetime.fromtimestamp(since, UTC), reservation)
        return out

    def record(self, space: str, forgotten: list[str], tap: OwnTap | None, stay: Stay | None) -> None:
        """One tap's changes, in one transaction: the stays ``forgotten`` as too old; the check-in or check-out
        ``tap`` kept until a presence copy includes it; its card in (with its ``stay``) or, without one, out."""
        if not forgotten and tap is None:
            return
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("DELETE FROM presence WHERE space = ? AND card = ?",
                                       [(space, self._card(c)) for c in forgotten])
                if tap is not None:
                    tag = self._card(tap.card)
                    self._conn.execute("INSERT OR REPLACE INTO own_taps (space, seq, type, card, at, sealed) "
                                       "VALUES (?, ?, ?, ?, ?, ?)",
                                       (space, tap.seq, tap.event_type, tag, tap.at.timestamp(),
                                        self._seal([tap.card], space, tap.seq) if self._sealer else None))
                    if stay is not None:
                        row = ((space, tag, stay.since.timestamp(), None,
                                self._seal([tap.card, stay.reservation], space, tag)) if self._sealer
                               else (space, tap.card, stay.since.timestamp(), stay.reservation, None))
                        self._conn.execute("INSERT OR REPLACE INTO presence (space, card, since, reservation, "
                                           "sealed) VALUES (?, ?, ?, ?, ?)", row)
                    else:
                        self._conn.execute("DELETE FROM presence WHERE space = ? AND card = ?", (space, tag))
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def leave(self, space: str, cards: list[str]) -> None:
        """Forget these cards' stays (the gateway's presence copy says they are not inside)."""
        if cards:
            with self._lock:
                self._conn.executemany("DELETE FROM presence WHERE space = ? AND card = ?",
                                       [(space, self._card(c)) for c in cards])

    def save_authority(self, space: str, key: str, body: str) -> None:
        """Keep the gateway's latest presence copy (JSON) for ``space`` and the hex key that reads it."""
        row = (space, self._seal([key, body], space), b"") if self._sealer else (space, key, body)
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO authority (space, key, body) VALUES (?, ?, ?)", row)

    def load_authority(self, space: str) -> tuple[str, str] | None:
        """The last presence copy kept for ``space``: (hex key, JSON body), if any."""
        with self._lock:
            row = self._conn.execute("SELECT key, body FROM authority WHERE space = ?", (space,)).fetchone()
        if row is None:
            return None
        if self._sealer is None:
            return (row[0], row[1])
        key, body = self._open(row[0], space)
        return (key, body)

    def prune_own(self, space: str, upto: int) -> None:
        """Forget own taps up to ``upto``: the gateway's copy includes them."""
        with self._lock:
            self._conn.execute("DELETE FROM own_taps WHERE space = ? AND seq <= ?", (space, upto))

    def load_own(self, space: str) -> list[OwnTap]:
        """This kiosk's taps at ``space`` not yet included in a presence copy, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT seq, type, card, at, sealed FROM own_taps WHERE space = ? ORDER BY seq",
                                      (space,)).fetchall()
        return [OwnTap(seq, kind, self._open(sealed, space, seq)[0] if self._sealer else card,
                       datetime.fromtimestamp(at, UTC)) for seq, kind, card, at, sealed in rows]

    # -- feedback asked ------------------------------------------------------------------------------
    def _feedback_tag(self, card: str) -> str:
        # Its own domain, so it matches no presence row; without a sealer (tests only) a plain hash.
        value = f"feedback|{card}"
        return self._sealer.tag(value) if self._sealer else hashlib.sha256(value.encode()).hexdigest()[:32]

    def feedback_asked_at(self, card: str) -> datetime | None:
        """When ``card`` was last asked the feedback question (kept ``FEEDBACK_INTERVAL``), or ``None``."""
        with self._lock:
            row = self._conn.execute("SELECT at FROM feedback_asked WHERE tag = ?",
                                     (self._feedback_tag(card),)).fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row else None

    def feedback_asked(self, card: str, at: datetime) -> None:
        """Remember that ``card`` was asked at ``at``; forget records older than ``FEEDBACK_INTERVAL``."""
        with self._lock:
            self._conn.execute("DELETE FROM feedback_asked WHERE at < ?",
                               ((at - FEEDBACK_INTERVAL).timestamp(),))
            self._conn.execute("INSERT OR REPLACE INTO feedback_asked (tag, at) VALUES (?, ?)",
                               (self._feedback_tag(card), at.timestamp()))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

