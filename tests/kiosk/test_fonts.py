"""The simplified-Chinese face is taken out of the CJK collection once, kept in a cache, renewed when the font
package changes, and a failure falls back to the collection itself (how it looks: tests/kiosk/test_ui.py)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from kiosk.ui.fonts import SIMPLIFIED_CHINESE, chinese_face, face_index

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
pytestmark = pytest.mark.skipif(not NOTO_CJK.is_file(), reason="fonts-noto-cjk is not installed")


def test_the_sc_face_is_found_by_family_name_not_by_position():
    index = face_index(NOTO_CJK, SIMPLIFIED_CHINESE)
    assert index is not None and index != 0  # face 0 is JP: the bug
    assert face_index(NOTO_CJK, "No Such Family") is None


def test_the_sc_face_is_copied_once_into_the_cache_readable_and_alone(tmp_path):
    face = chinese_face(NOTO_CJK, tmp_path / "cache")
    assert face.parent == tmp_path / "cache" and face.suffix == ".otf"
    assert TTFont(face)["name"].getDebugName(1) == SIMPLIFIED_CHINESE
    assert face.stat().st_mode & 0o777 == 0o644
    made = face.stat().st_mtime_ns
    assert chinese_face(NOTO_CJK, tmp_path / "cache") == face and face.stat().st_mtime_ns == made
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [face.name]  # no temporary files left


def test_a_changed_font_package_is_copied_again_and_the_old_copy_removed(tmp_path):
    source = tmp_path / "fonts" / NOTO_CJK.name
    source.parent.mkdir()
    shutil.copyfile(NOTO_CJK, source)
    first = chinese_face(source, tmp_path / "cache")
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))  # an upgrade
    second = chinese_face(source, tmp_path / "cache")
    assert second != first and second.is_file() and not first.exists()


def test_a_plain_font_file_is_used_as_it_is(tmp_path):
    plain = tmp_path / "Some-Regular.otf"
    plain.write_bytes(b"")
    assert chinese_face(plain, tmp_path / "cache") == plain
    assert not (tmp_path / "cache").exists()


def test_an_unwritable_cache_falls_back_to_the_collection_with_a_warning(tmp_path, caplog):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING, logger="kiosk.ui.fonts"):
        assert chinese_face(NOTO_CJK, blocked / "cache") == NOTO_CJK
    assert "drawing with its first face" in caplog.text
