"""Who is inside a space, published so that no card number can be read from it.

The gateway publishes each space's presence (``space/{space}/presence``, retained) as keyed hashes:
``HMAC-SHA256(space key, card)`` truncated to ``TAG_BYTES``, concatenated in sorted order and base64-encoded.
The space key is derived from the gateway's site key (a random secret in its data directory) and the space
id, and is given only to that space's kiosks, in their own retained ``cfg`` (which only they may read). A
kiosk hashes the card it reads and looks the tag up; any other reader of the topic (another space's kiosk,
a sensor node, a health station) learns a count and opaque tags, nothing it could tie to a card.

Eight bytes per card keep a crowded space well inside one MQTT packet (``MAX_TAGS`` × 8 bytes, base64)
and make a false match between two cards of one space about 2**-64 per pair: negligible.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from onestop import keyed
from onestop.errors import ConfigError
from onestop.files import private_dir

TAG_BYTES = 8
KEY_BYTES = 32
MAX_TAGS = 5000  # 5,000 cards: 53,336 base64 characters, under the broker's 64 KiB packet limit


def space_key(site_key: bytes, space: str) -> bytes:
    """The key of one space's presence, derived so that one space's kiosks cannot read another's."""
    return keyed.subkey(site_key, b"onestop-presence/" + space.encode())


def key_id(key: bytes) -> str:
    """A short public name of a key: tells a kiosk whether a presence message was made with its key."""
    return hashlib.sha256(b"onestop-key-id/" + key).hexdigest()[:12]


def tag(key: bytes, card: str) -> bytes:
    """The tag of ``card`` under ``key``."""
    # raw and 8 bytes, not ``keyed.tag``: thousands go into one presence message, and a clash only admits
    # a card to a room's count, never to a record
    return hmac.new(key, card.encode(), hashlib.sha256).digest()[:TAG_BYTES]


def encode(tags: Iterable[bytes]) -> str:
    """Tags as one base64 string (sorted, so the text says nothing about the order people came in)."""
    return base64.b64encode(b"".join(sorted(tags))).decode("ascii")


def decode(text: str) -> frozenset[bytes]:
    """The tags of an ``encode`` string; raises ``ValueError`` when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("presence tags are not base64") from exc
    if len(raw) % TAG_BYTES:
        raise ValueError("presence tags are not a whole number of tags")
    return frozenset(raw[i:i + TAG_BYTES] for i in range(0, len(raw), TAG_BYTES))


def load_site_key(path: Path) -> bytes:
    """The gateway's site key, created (mode 0600) on first use; raises ``ConfigError`` if unreadable.

    Removing the file and restarting the gateway rotates every space's key (see docs/decisions.md).
    """
    if not path.exists():
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), [f"not a presence key ({exc.__class__.__name__}); remove it to make a "
                                      "new one (kiosks get it with their configuration)"]) from exc
    if len(key) != KEY_BYTES:
        raise ConfigError(str(path), [f"a presence key has {KEY_BYTES} bytes (64 hex digits); remove the file "
                                      "to make a new one"])
    return key
