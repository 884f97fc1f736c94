"""Files on an edge device readable by its service's user only: files 0600, directories 0700, whatever the umask.

A kiosk, health station or gateway keeps card numbers, screenings and presence on an SD card; another user on
the device (or a process running as one) must not read them. The umask is process-wide and may be anything
(systemd's default is 0022), so modes are set explicitly after creation rather than trusted to it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) mode 0700; an existing ``path`` is tightened to 0700 too.

    Parents that already exist are left as they are: they are not ours (``/var/lib``, a test's temporary
    directory); parents created here are ours and made 0700. A shared directory (sticky bit, as ``/tmp``) is
    never ours either, even when a file is put straight into it: tightening it would lock every other user out.
    """
    missing = []
    for directory in (path, *path.parents):
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)
    if not path.stat().st_mode & stat.S_ISVTX:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty if absent, and make it (whether new or old) mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600 from the first byte."""
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
