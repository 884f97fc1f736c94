"""Back up and restore a site's provisioning directory (the archive format: ``onestop/backups.py``).

Unlike a service's data backup, this one is *meant* to hold keys: the site CA key, the device registry
(password hashes, the gateway's tokens' digests), the gateway's and this tool's MQTT credentials and the
broker's server key. Losing the CA key means re-issuing every certificate of the site; leaking it lets anyone
mint them. So the archive is written 0600, can be encrypted with a passphrase (``--encrypt``: scrypt and
AES-256-GCM from ``cryptography``), and belongs offline (docs/provisioning.md).

The registry is copied with SQLite's online backup API; the broker's persistence, log and pid file are left
out (Mosquitto rebuilds them; retained state comes back from the devices and the gateway).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from onestop import backups
from onestop.backups import ArchiveWriter, BackupError, Manifest, Progress
from onestop.files import write_private
from provisioning.registry import MIGRATIONS
from provisioning.site import Site, SitePaths

SERVICE = "provisioning"
_SKIPPED = ("broker/data/", "broker/mosquitto.log", "broker/mosquitto.pid")
_SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp")
MAGIC = b"ONESTOP-BACKUP-ENCRYPTED-1\n"
_SALT, _NONCE = 16, 12
_SCRYPT = {"length": 32, "n": 2**15, "r": 8, "p": 1}  # ~32 MiB and ~0.1 s per try: slows guessing, not restores


def _key(passphrase: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, **_SCRYPT).derive(passphrase.encode())


def encrypt(data: bytes, passphrase: str) -> bytes:
    """``MAGIC || salt || nonce || AES-256-GCM(data)``, the header authenticated too."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(_SALT), os.urandom(_NONCE)
    header = MAGIC + salt + nonce
    return header + AESGCM(_key(passphrase, salt)).encrypt(nonce, data, header)


def decrypt(blob: bytes, passphrase: str) -> bytes:
    """The archive inside ``encrypt``'s output; ``BackupError`` for a wrong passphrase or an altered file."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = blob[:len(MAGIC) + _SALT + _NONCE]
    salt, nonce = header[len(MAGIC):len(MAGIC) + _SALT], header[len(MAGIC) + _SALT:]
    try:
        return AESGCM(_key(passphrase, salt)).decrypt(nonce, blob[len(header):], header)
    except InvalidTag as exc:
        raise BackupError("cannot decrypt the archive: wrong passphrase, or the file was altered") from exc


def is_encrypted(path: Path) -> bool:
    with path.open("rb") as source:
        return source.read(len(MAGIC)) == MAGIC


def backup(root: Path, dest: Path, *, passphrase: str | None = None,
           progress: Progress = backups._no_progress) -> Manifest:
    """Write an archive of the provisioning directory ``root`` (CA key included) to ``dest``, 0600."""
    with Site.open(root) as site:
        name = site.name
    paths = SitePaths(root)
    target = dest if passphrase is None else dest.with_name(dest.name + ".plain.tmp")
    try:
        with ArchiveWriter(SERVICE, name, target, progress) as writer:
            writer.add_sqlite("data/registry.db", paths.registry)
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root).as_posix()
                if (not path.is_file() or relative == "registry.db" or relative.startswith(_SKIPPED)
                        or relative.endswith(_SKIPPED_SUFFIXES)):
                    continue
                writer.add_file(f"data/{relative}", path)
            writer.manifest.keys = [p for p in ("ca/ca.key", "broker/server.key") if (root / p).exists()]
            manifest = writer.write()
        if passphrase is not None:
            write_private(dest, encrypt(target.read_bytes(), passphrase))
    finally:
        if passphrase is not None:
            target.unlink(missing_ok=True)
    return manifest


def restore(source: Path, root: Path, *, passphrase: str | None = None, force: bool = False) -> tuple[Manifest,
                                                                                                     list[Path]]:
    """Restore an archive into the provisioning directory ``root`` (empty unless ``force``)."""
    root = root.resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{root.name}.restore-", dir=root.parent) as tmp:
        staging = Path(tmp)
        plain = source
        if is_encrypted(source):
            if passphrase is None:
                raise BackupError(f"{source} is encrypted: give its passphrase (ONESTOP_BACKUP_PASSPHRASE or "
                                  "the prompt)")
            plain = staging / "archive.tar"
            write_private(plain, decrypt(source.read_bytes(), passphrase))
        with backups.open_archive(plain) as (manifest, tar):
            backups.check_manifest(manifest, SERVICE, None, {"data/registry.db": [m.key for m in MIGRATIONS]})
            if not backups.is_empty(root) and not force:
                raise BackupError(f"{root} is not empty: restore into an empty directory, or pass --force to move "
                                  "what is there aside")
            backups.extract(tar, manifest, staging / "extracted")
        data = staging / "extracted" / "data"
        data.mkdir(parents=True, exist_ok=True)
        for directory in [data, *(p for p in data.rglob("*") if p.is_dir())]:
            os.chmod(directory, 0o700)
        aside = backups.place_directory(data, root, force)
    with Site.open(root) as site:  # the broker's files must be the broker user's again (root restores them)
        if (owner := site.broker_owner()) is not None and site.paths.broker.exists():
            for path in [site.paths.broker, *site.paths.broker.rglob("*")]:
                os.chown(path, *owner)
        site.write_broker_files()
    return manifest, [aside] if aside else []
