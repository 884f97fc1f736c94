"""Private files and directories: ours are tightened, a shared one such as /tmp never is."""

from __future__ import annotations

import os
import stat

from onestop.files import private_dir, write_private


def test_an_existing_data_directory_is_tightened(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    private_dir(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_a_file_put_straight_into_a_shared_directory_leaves_the_directory_open_to_all(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    write_private(shared / "central.key", b"secret")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777  # other users' programs still use it
    assert stat.S_IMODE((shared / "central.key").stat().st_mode) == 0o600
