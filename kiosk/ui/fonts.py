"""The simplified-Chinese face of a CJK font collection, as a file Kivy can open.

``NotoSansCJK-Regular.ttc`` holds ten faces (JP, KR, SC, TC, HK and their Mono variants); the first is JP.
Kivy's SDL2 text provider opens only face 0 of a collection (``TTF_OpenFont``), so 所, 直, 角 and 骨 came
out in their Japanese forms. Here the face is chosen by family name ("Noto Sans CJK SC", never by index:
the order is the packager's), copied once into a standalone OpenType file in a cache directory, and that
file is what the screen registers. The copy is keyed by the source's path, size and modification time, so
an upgraded font package is copied again; older copies are removed.

A plain font file (``.otf``/``.ttf``) or a collection without an SC face is used as it is. Any failure
(no fontTools, unreadable file, read-only cache) is logged once and falls back to the original file: JP
glyph forms are readable, boxes would not be.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SIMPLIFIED_CHINESE = "Noto Sans CJK SC"
_COLLECTIONS = (".ttc", ".otc")


def cache_dir() -> Path:
    """Where extracted faces live: systemd's ``CacheDirectory=``, else ``$XDG_CACHE_HOME``, else ~/.cache.

    Never the kiosk's data directory: that holds the outbox with card numbers, and a cache may be wiped.
    """
    if os.environ.get("CACHE_DIRECTORY"):
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onestop"


def face_index(collection: Path, family: str) -> int | None:
    """The index of the face named ``family`` in a font collection (typographic family first), or None."""
    from fontTools.ttLib import TTCollection

    fonts = TTCollection(str(collection), lazy=True).fonts
    for index, font in enumerate(fonts):
        names = font["name"]
        if family in (names.getDebugName(16), names.getDebugName(1)):
            return index
    return None


def chinese_face(path: Path, cache: Path | None = None, family: str = SIMPLIFIED_CHINESE) -> Path:
    """A file whose first (only) face is ``family`` from ``path``; ``path`` itself when that is not needed."""
    if path.suffix.lower() not in _COLLECTIONS:
        return path
    try:
        return _extracted(path, cache or cache_dir(), family)
    except ImportError:
        log.warning("fontTools is not installed (pip install 'onestop-edge[kiosk]'): Chinese is drawn with the "
                    "first face of %s, which may not be simplified Chinese", path.name)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("could not take the %s face out of %s (%s: %s); drawing with its first face",
                    family, path.name, exc.__class__.__name__, exc)
    return path


def _extracted(path: Path, cache: Path, family: str) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{family}".encode()).hexdigest()[:16]
    prefix = f"{path.stem}-{family.replace(' ', '')}-"
    target = cache / f"{prefix}{key}.otf"
    if target.is_file():
        return target
    index = face_index(path, family)
    if index is None:
        log.info("%s has no %s face; using its first face", path.name, family)
        return path
    from fontTools.ttLib import TTCollection

    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(f"{prefix}*.otf"):  # a copy of an older version of the font package
        stale.unlink(missing_ok=True)
    # Written beside the target and renamed: a kiosk killed mid-copy leaves no half font to load next time.
    handle, temporary = tempfile.mkstemp(dir=cache, prefix=".font-", suffix=".otf")
    os.close(handle)
    try:
        TTCollection(str(path), lazy=True).fonts[index].save(temporary)
        os.chmod(temporary, 0o644)  # a font is not secret; readable by other users' screens on this machine
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    log.info("using the %s face of %s (copied to %s)", family, path.name, target)
    return target
