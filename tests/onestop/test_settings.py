import pytest

from gateway.settings import load as load_gateway
from onestop.errors import ConfigError


def test_every_problem_is_listed_at_once_with_its_path(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('site = "Bad Site"\nunknown_key = 1\n[http]\nport = 99999\n[ingest]\nbatch_max = 0\n')
    with pytest.raises(ConfigError) as info:
        load_gateway(cfg)
    text = str(info.value)
    for path in ("site", "unknown_key", "http.port", "ingest.batch_max"):
        assert f"{path}:" in text
    assert len(info.value.problems) == 4


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('site = "north-b3"\n[http]\nport = 8080\n')
    monkeypatch.setenv("ONESTOP_GATEWAY__HTTP__PORT", "9191")
    assert load_gateway(cfg).http.port == 9191


def test_missing_and_malformed_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_gateway(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("site = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_gateway(bad)
