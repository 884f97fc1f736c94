"""Who is inside, as this kiosk knows it, kept on disk so a restart does not turn goodbyes into welcomes.

The controller decides from its in-memory ``inside`` map; this store mirrors it. It is written after the
outbox (the event is the promise; presence is a cache of decisions already recorded), with
``synchronous=NORMAL``: a power cut may lose the last change, which costs at worst one check-in recorded
twice, something the gateway already tolerates. Card numbers are personal data; this file lives beside the
outbox, which holds them too, in the kiosk's private data directory.

Presence is per kiosk: two toggle kiosks at one door do not see each other's taps (the ACL lets a device
read only its own cfg and the occupancy counts). Such spaces should use the gateway's occupancy and, ideally,
one kiosk for the way in and one for the way out; see docs/kiosk.md.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from kiosk.controller import Stay
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

    def enter(self, space: str, card: str, stay: Stay) -> None:
        """Record a check-in."""
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO presence (space, card, since, reservation) "
                               "VALUES (?, ?, ?, ?)", (space, card, stay.since.timestamp(), stay.reservation))

    def leave(self, space: str, cards: list[str]) -> None:
        """Record check-outs (or stays forgotten as too old)."""
        if cards:
            with self._lock:
                self._conn.executemany("DELETE FROM presence WHERE space = ? AND card = ?",
                                       [(space, c) for c in cards])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
