"""Personal fields sealed at rest on an edge device: AES-256-GCM per field, keyed by the device's data key.

A kiosk's or health station's outbox and presence, and the gateway's events, quarantine and alerts, hold
cards, screenings and presence; their SD card can be carried off. Every such field is stored as a *sealed
blob* (docs/decisions.md, "Encryption at rest (#16)")::

    0x01 | key id (4 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext + tag (16 bytes)

The associated data binds a blob to its row (an event id, a space and card tag): a blob copied into another
row does not open. A field that must be looked up (a card in presence, an alert's de-duplication key) is
stored as a keyed tag (HMAC-SHA-256 under a key derived from the current data key), never in clear.

The data key file (0600, in the device's configuration directory, never in its data directory) is JSON::

    {"current": "<key id hex>", "keys": {"<key id hex>": "<32 bytes, base64>", ...}}

``rotate_key_file`` adds a new current key and keeps the previous one: on its next start the service reseals
every row still under an older key (``Sealer.stale``), then only the new key is in use; the rotation after
that drops the old key from the file.

Not the contract (``onestop/``, which imports no cryptography): both the device runtime (``device``) and the
gateway import this package, which imports only ``onestop`` (pyproject's layers contract).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from onestop import keyed
from onestop.errors import CorruptDataError
from onestop.files import write_private

VERSION = b"\x01"
KEY_ID_BYTES = 4
NONCE_BYTES = 12
HEADER_BYTES = 1 + KEY_ID_BYTES
OVERHEAD = HEADER_BYTES + NONCE_BYTES + 16
KEY_BYTES = 32
MAX_KEYS = 2  # the current key and the one before it


class DataKeyError(CorruptDataError):
    """The data key is missing, unreadable, too open, or does not open the data: the service refuses to start
    (with the exit status systemd does not restart on: a restart would find the same key).

    ``path`` is the key file.
    """

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"data key {path}:", problem, "The service does not start without its own data key "
                         "(docs/privacy.md, \"Keys\")")


class Sealer:
    """Seals and opens fields with a device's data keys; tags values that must be looked up."""

    def __init__(self, keys: dict[bytes, bytes], current: bytes, source: object = "data key") -> None:
        if current not in keys:
            raise DataKeyError(source, f"the current key {current.hex()} is not among its keys")
        self.source = source
        self.current = current
        self._header = VERSION + current
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # on use: `--help` stays light

        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self._tag_key = keyed.subkey(keys[current], b"onestop tag key v1")

    @property
    def header(self) -> bytes:
        """The first bytes of every blob sealed now (what ``stale`` compares against)."""
        return self._header

    def seal(self, plain: bytes, ad: bytes) -> bytes:
        """``plain`` sealed under the current key, bound to ``ad`` (the row it belongs to)."""
        nonce = os.urandom(NONCE_BYTES)
        return self._header + nonce + self._aead[self.current].encrypt(nonce, plain, ad)

    def open(self, blob: bytes, ad: bytes) -> bytes:
        """The clear bytes of ``blob``; ``DataKeyError`` if no key of ours sealed it or it was altered."""
        blob = bytes(blob)
        if len(blob) < OVERHEAD or blob[:1] != VERSION:
            raise DataKeyError(self.source, "a stored field is not sealed (written before encryption at rest, "
                                            "or damaged)")
        kid = blob[1:HEADER_BYTES]
        aead = self._aead.get(kid)
        if aead is None:
            raise DataKeyError(self.source, f"data sealed with key {kid.hex()}, which this key file does not hold "
                                            "(the wrong key file, or a key dropped too soon)")
        from cryptography.exceptions import InvalidTag

        try:
            return aead.decrypt(blob[HEADER_BYTES:HEADER_BYTES + NONCE_BYTES], blob[HEADER_BYTES + NONCE_BYTES:], ad)
        except InvalidTag:
            raise DataKeyError(self.source, f"a field sealed with key {kid.hex()} does not open: the key file "
                                            "holds another key under that id, or the field was altered") from None

    def stale(self, blob: bytes | str | None) -> bool:
        """Whether ``blob`` must be resealed: stored in clear (an older release) or under an older key."""
        if isinstance(blob, str):
            return True
        return blob is not None and bytes(blob[:HEADER_BYTES]) != self._header

    def open_any(self, blob: bytes | str, ad: bytes) -> bytes:
        """``open`` for a blob that may predate sealing (``stale`` and not sealed at all): returned as it is."""
        blob = blob.encode() if isinstance(blob, str) else bytes(blob)
        if blob[:1] != VERSION or len(blob) < OVERHEAD:
            return blob
        return self.open(blob, ad)

    def tag(self, value: str) -> str:
        """A keyed, deterministic stand-in for ``value`` in an indexed column (hex, 128 bits)."""
        return keyed.tag(self._tag_key, value)


def _read(path: Path) -> tuple[dict[bytes, bytes], bytes]:
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise DataKeyError(path, "missing: the device's bundle (or `onestop gateway data-key new`) writes it; "
                                 "without it the data cannot be read, and the service will not start") from None
    except OSError as exc:
        raise DataKeyError(path, f"cannot be read ({exc.strerror})") from None
    if mode & 0o077:
        raise DataKeyError(path, f"mode {mode:04o} lets other users read it: chmod 600 {path}")
    try:
        doc = json.loads(path.read_text())
        keys = {bytes.fromhex(kid): base64.b64decode(key, validate=True) for kid, key in doc["keys"].items()}
        current = bytes.fromhex(doc["current"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataKeyError(path, f"is not a data key file ({type(exc).__name__})") from None
    if not keys or any(len(k) != KEY_ID_BYTES for k in keys) or any(len(v) != KEY_BYTES for v in keys.values()):
        raise DataKeyError(path, f"is not a data key file (keys are {KEY_BYTES} bytes with {KEY_ID_BYTES}-byte ids)")
    return keys, current


def load(path: str | Path) -> Sealer:
    """The sealer of the key file at ``path`` (``DataKeyError`` if missing, open to others, or malformed)."""
    keys, current = _read(Path(path))
    return Sealer(keys, current, Path(path))


def open_data_key(path: Path | None, data_dir: Path) -> Sealer:
    """The sealer a service runs with: its configured ``data_key`` file, which must not lie in ``data_dir``
    (a copy of the data directory must not carry the key that opens it)."""
    if path is None:
        raise DataKeyError("(none configured)", "set data_key to the key file the bundle or "
                                                "`onestop gateway data-key new` wrote")
    if Path(path).resolve().is_relative_to(Path(data_dir).resolve()):
        raise DataKeyError(path, f"lies inside the data directory {data_dir}: whoever copies the data would "
                                 "carry its key; keep it in the configuration directory")
    return load(path)


def _write(path: Path, keys: dict[bytes, bytes], current: bytes) -> None:
    doc = {"current": current.hex(), "keys": {k.hex(): base64.b64encode(v).decode() for k, v in keys.items()}}
    owner = path.stat() if path.exists() else None
    write_private(path, (json.dumps(doc, indent=1) + "\n").encode())
    if owner is not None and os.geteuid() == 0:  # root rotating the service user's key: it stays theirs
        os.chown(path, owner.st_uid, owner.st_gid)


def new_key() -> tuple[bytes, bytes]:
    """A fresh (key id, key)."""
    return secrets.token_bytes(KEY_ID_BYTES), secrets.token_bytes(KEY_BYTES)


def key_file_text() -> bytes:
    """The contents of a new key file (for a bundle written elsewhere)."""
    kid, key = new_key()
    doc = {"current": kid.hex(), "keys": {kid.hex(): base64.b64encode(key).decode()}}
    return (json.dumps(doc, indent=1) + "\n").encode()


def create_key_file(path: str | Path) -> str:
    """Write a new key file at ``path`` (0600; refuses to replace one); returns the key id."""
    path = Path(path)
    if path.exists():
        raise DataKeyError(path, "already exists; a data key is never overwritten (rotate it instead)")
    kid, key = new_key()
    _write(path, {kid: key}, kid)
    return kid.hex()


def rotate_key_file(path: str | Path) -> str:
    """Add a new current key to the file, keeping the one before it (older ones are dropped: the service has
    resealed their data on its start after the previous rotation). Returns the new key id."""
    path = Path(path)
    keys, current = _read(path)
    kid, key = new_key()
    _write(path, {current: keys[current], kid: key}, kid)
    return kid.hex()
