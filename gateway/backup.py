"""Back up and restore a building gateway's data directory (the archive format: ``onestop/backups.py``).

The data directory holds ``gateway.db`` (events, quarantine, alerts, counters, sync cursors), the last site
configuration from central (``site-config.json``) and the presence site key (``presence.key``). The database
is copied with SQLite's online backup API while the gateway runs; the other files as they are.

Keys stay out of a data backup unless the operator asks (``--include-keys``): the presence key and, where
configured, the data key (``data_key``, kept outside the data directory). Restored without its presence key,
the gateway makes a new one at start, which is a rotation (kiosks get the new key with their configuration).
WAL and SHM files, and files being written (``*.tmp``), are never copied: the backup API's copy is whole.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gateway.settings import GatewaySettings
from gateway.store import MIGRATIONS
from onestop import backups
from onestop.backups import ArchiveWriter, BackupError, Manifest, Progress

SERVICE = "gateway"
DATABASE = "gateway.db"
_SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp")
PRESENCE_KEY = "presence.key"


def _keys(settings: GatewaySettings) -> dict[str, Path]:
    """The key files this gateway uses, by their name in an archive."""
    keys = {PRESENCE_KEY: settings.data_dir / PRESENCE_KEY}
    if settings.data_key is not None:  # the data key (docs/gateway.md), outside the data directory
        keys["data.key"] = settings.data_key
    return keys


def backup(settings: GatewaySettings, dest: Path, *, include_keys: bool = False,
           progress: Progress = backups._no_progress) -> Manifest:
    """Write an archive of the gateway's data directory (and its keys only when asked) to ``dest``."""
    keys = _keys(settings)
    key_paths = {path.resolve() for path in keys.values()}
    data_dir = settings.data_dir
    if not (data_dir / DATABASE).exists():
        raise BackupError(f"{data_dir / DATABASE} does not exist: is data_dir right, has the gateway run?")
    with ArchiveWriter(SERVICE, settings.site, dest, progress) as writer:
        writer.add_sqlite(f"data/{DATABASE}", data_dir / DATABASE)
        for path in sorted(data_dir.rglob("*")):
            name = path.relative_to(data_dir).as_posix()
            if (not path.is_file() or name == DATABASE or name.endswith(_SKIPPED_SUFFIXES)
                    or path.resolve() in key_paths):
                continue
            writer.add_file(f"data/{name}", path)
        if include_keys:
            for name, path in keys.items():
                if path.exists():
                    writer.add_key(name, path)
        return writer.write()


def restore(settings: GatewaySettings, source: Path, *, force: bool = False,
            include_keys: bool = False) -> tuple[Manifest, list[Path]]:
    """Restore an archive into the configured data directory; returns its manifest and what was moved aside.

    The gateway must be stopped. The archive must be this site's, from this release or an older one.
    """
    data_dir = settings.data_dir
    with backups.open_archive(source) as (manifest, tar):
        backups.check_manifest(manifest, SERVICE, settings.site,
                               {f"data/{DATABASE}": [name for name, _ in MIGRATIONS]})
        if include_keys and not manifest.keys:
            raise BackupError("--include-keys: this archive holds no keys (it was made without --include-keys)")
        if not backups.is_empty(data_dir) and not force:
            raise BackupError(f"{data_dir} is not empty: restore into an empty data directory (stop the gateway "
                              "first), or pass --force to move what is there aside")
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent) as tmp:
            staging = Path(tmp)
            backups.extract(tar, manifest, staging)
            moved = []
            keys = _keys(settings)
            if include_keys:
                for name in manifest.keys:
                    if name == PRESENCE_KEY:  # lives in the data directory: goes with it
                        (staging / "keys" / name).rename(staging / "data" / name)
                    elif name in keys:
                        aside = backups.place_key(staging / "keys" / name, keys[name], force)
                        moved += [aside] if aside else []
                    else:
                        raise BackupError(f"the archive holds key {name!r}, which this configuration does not "
                                          "name (set data_key first)")
            (staging / "data").mkdir(exist_ok=True)
            aside = backups.place_directory(staging / "data", data_dir, force)
            moved += [aside] if aside else []
    return manifest, moved
