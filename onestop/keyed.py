"""Keys derived for a purpose, and keyed tags: the one HMAC-SHA-256 construction behind both. No I/O.

A component that needs a key of its own derives it from a key it holds with a label naming the purpose
(``subkey``): one purpose's key tells nothing of another's. A value that must be found again but never
stored in clear (a card in an indexed column, the card that asked for a reply) is kept as its ``tag``.
Labels are part of what was stored: changing one orphans every tag made with it.
"""

from __future__ import annotations

import hashlib
import hmac


def subkey(key: bytes, label: bytes) -> bytes:
    """The 32-byte key for the purpose ``label``, derived from ``key``."""
    return hmac.new(key, label, hashlib.sha256).digest()


def tag(key: bytes, value: str) -> str:
    """A keyed, deterministic stand-in for ``value``: 128 bits of ``HMAC-SHA256(key, value)``, hex."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
