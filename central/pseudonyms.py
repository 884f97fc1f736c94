"""Keyed pseudonyms of students: what every non-health reader sees instead of a card number.

A card UID is short (a few bytes), so an unkeyed hash of it is reversed by trying every UID (two million in
three seconds). The pseudonym is therefore an HMAC-SHA256 of the card under a key that only central holds,
in a file its settings name (``pseudonym_key_file``), never in the database: a database dump or backup alone
does not link pseudonyms to cards.

Rotation: the key file holds one key per line, hex, the current key first and older keys after it. A
pseudonym starts with its key's id (``k1a2b3c.<24 hex>``, 31 characters), so a stored pseudonym says which
key made it, and a search by card (``all_of``) still finds rows written under an older key until that key's
line is removed. Rotating means: prepend a fresh key line, restart central.

The file is created at first start (32 random bytes, mode 0600, its directory 0700 if created here); an
existing file open to group or others, or malformed, stops central from starting (``KeyFileError``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from central.errors import KeyFileError
from onestop import keyed

KEY_BYTES = 32
_CONTEXT = b"onestop-student-pseudonym/"


def key_id(key: bytes) -> str:
    """A short public name of a key (not secret: it reveals nothing of the key)."""
    return "k" + hashlib.sha256(b"onestop-pseudonym-key-id/" + key).hexdigest()[:6]


class Pseudonyms:
    """Computes pseudonyms of cards under the current key, and under every known key for look-ups."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys or any(len(k) < 16 for k in keys):
            raise KeyFileError("a pseudonym key must be at least 16 bytes")
        self._keys = keys

    @property
    def current_key_id(self) -> str:
        return key_id(self._keys[0])

    def of(self, card: str) -> str:
        """The card's pseudonym under the current key (the same card always gets the same one)."""
        return _pseudonym(self._keys[0], card)

    def maybe(self, card: str | None) -> str | None:
        return None if card is None else self.of(card)

    def all_of(self, card: str) -> list[str]:
        """The card's pseudonym under every known key, current first: finds rows written before a rotation."""
        return [_pseudonym(k, card) for k in self._keys]

    def subkey(self, purpose: str, kid: str | None = None) -> tuple[str, bytes]:
        """A key for ``purpose`` derived from the current key (or from the key named ``kid``): its key id and
        bytes. ``KeyError`` when no known key has that id (its line was removed after a rotation)."""
        key = self._keys[0] if kid is None else {key_id(k): k for k in self._keys}[kid]
        return key_id(key), keyed.subkey(key, b"onestop-subkey/" + purpose.encode())

    @classmethod
    def from_file(cls, path: Path) -> Pseudonyms:
        """Load the key file, creating it (0600) with one fresh key if it does not exist."""
        if not path.exists():
            _create(path)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read the pseudonym key file {path}: {exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"the pseudonym key file {path} is open to other users: chmod 600 it")
        try:
            keys = [bytes.fromhex(line.strip()) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise KeyFileError(f"the pseudonym key file {path} must hold hex keys, one per line") from exc
        return cls(keys)


def _pseudonym(key: bytes, card: str) -> str:
    # not ``keyed.tag``: prefixed with its key id, so a look-up after a rotation knows which key made it
    return key_id(key) + "." + hmac.new(key, _CONTEXT + card.encode(), hashlib.sha256).hexdigest()[:24]


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: two workers starting at once must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")
