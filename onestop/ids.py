"""Identifiers: UUIDv7 event ids (RFC 9562) and the id patterns of CONTRACT.md."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
DEVICE_PATTERN = r"^[a-z0-9][a-z0-9-]{2,63}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
CARD_PATTERN = r"^[0-9A-F]{4,32}$"  # hex UID (uppercase) or a keyboard-wedge digit string

SITE_RE = re.compile(SITE_PATTERN)
DEVICE_RE = re.compile(DEVICE_PATTERN)
SLUG_RE = re.compile(SLUG_PATTERN)
CARD_RE = re.compile(CARD_PATTERN)

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """A time-ordered UUID version 7; ids made in one process are strictly increasing.

    Uses RFC 9562's "method 3": the 12-bit ``rand_a`` field is a counter within the same millisecond,
    seeded randomly each new millisecond, so ids sort in creation order even in bursts.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave headroom for bursts
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _counter << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def boot_id() -> str:
    """A fresh id for one process start, sent in birth and Will so a late Will can be told apart."""
    return uuid7().hex[:16]
