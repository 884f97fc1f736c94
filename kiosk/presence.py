"""Who is inside, as this kiosk knows it, kept on disk so a restart does not turn goodbyes into welcomes.

The controller decides from its in-memory ``inside`` map; this store mirrors it. It is written after the
outbox (the event is the promise; presence is a cache of decisions already recorded), with
``synchronous=NORMAL``: a power cut may lose the last change, which costs at worst one check-in recorded
twice, something the gateway already tolerates. Card numbers are personal data; this file lives beside the
outbox, which holds them too, in the kiosk's private data directory.

Beside it the store keeps the last good copy of the gateway's presence for the space (with the key that
reads it) and this kiosk's own taps the copy does not include yet, so that after a restart with the broker
down the kiosk still decides from what every kiosk of the space had recorded (see ``kiosk.controller``).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from kiosk.controller import OwnTap, Stay
from onestop.sqlite import open_database

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
]


class PresenceStore:
    """The cards inside each space this kiosk has served, with their check-in time and booking."""

    def __init__(self, path: str | Path) -> None:
        self._conn = open_database(path, MIGRATIONS, synchronous="NORMAL").conn
        self._lock = threading.Lock()

    def load(self, space: str) -> dict[str, Stay]:
        """Everyone inside ``space``."""
        with self._lock:
            rows = self._conn.execute("SELECT card, since, reservation FROM presence WHERE space = ?",
                                      (space,)).fetchall()
        return {card: Stay(datetime.fromtimestamp(since, UTC), reservation) for card, since, reservation in rows}

    def record(self, space: str, forgotten: list[str], tap: OwnTap | None, stay: Stay | None) -> None:
        """One tap's changes, in one transaction: the stays ``forgotten`` as too old; the check-in or check-out
        ``tap`` kept until a presence copy includes it; its card in (with its ``stay``) or, without one, out."""
        if not forgotten and tap is None:
            return
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("DELETE FROM presence WHERE space = ? AND card = ?",
                                       [(space, c) for c in forgotten])
                if tap is not None:
                    self._conn.execute("INSERT OR REPLACE INTO own_taps (space, seq, type, card, at) "
                                       "VALUES (?, ?, ?, ?, ?)",
                                       (space, tap.seq, tap.event_type, tap.card, tap.at.timestamp()))
                    if stay is not None:
                        self._conn.execute("INSERT OR REPLACE INTO presence (space, card, since, reservation) "
                                           "VALUES (?, ?, ?, ?)",
                                           (space, tap.card, stay.since.timestamp(), stay.reservation))
                    else:
                        self._conn.execute("DELETE FROM presence WHERE space = ? AND card = ?", (space, tap.card))
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
                                       [(space, c) for c in cards])

    def save_authority(self, space: str, key: str, body: str) -> None:
        """Keep the gateway's latest presence copy (JSON) for ``space`` and the hex key that reads it."""
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO authority (space, key, body) VALUES (?, ?, ?)",
                               (space, key, body))

    def load_authority(self, space: str) -> tuple[str, str] | None:
        """The last presence copy kept for ``space``: (hex key, JSON body), if any."""
        with self._lock:
            row = self._conn.execute("SELECT key, body FROM authority WHERE space = ?", (space,)).fetchone()
        return (row[0], row[1]) if row else None

    def prune_own(self, space: str, upto: int) -> None:
        """Forget own taps up to ``upto``: the gateway's copy includes them."""
        with self._lock:
            self._conn.execute("DELETE FROM own_taps WHERE space = ? AND seq <= ?", (space, upto))

    def load_own(self, space: str) -> list[OwnTap]:
        """This kiosk's taps at ``space`` not yet included in a presence copy, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT seq, type, card, at FROM own_taps WHERE space = ? ORDER BY seq",
                                      (space,)).fetchall()
        return [OwnTap(seq, kind, card, datetime.fromtimestamp(at, UTC)) for seq, kind, card, at in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
