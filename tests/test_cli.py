"""The command line: every command documents itself, and configuration errors are reported clearly."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import typer.main
from typer.testing import CliRunner

from onestop import __version__ as onestop_version
from onestop.cli import app

runner = CliRunner()


def walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, (*path, name))


def test_every_command_and_option_has_help_text():
    root = typer.main.get_command(app)
    missing = []
    for path, command in walk(root):
        if not (command.help or "").strip():
            missing.append(" ".join(path) or "onestop")
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip() and param.name != "help":
                missing.append(f"{' '.join(path)} --{param.name}")
    assert not missing, f"commands or options without help: {missing}"


def test_contract_command_groups_exist():
    root = typer.main.get_command(app)
    ctx = click.Context(root)
    assert {"demo", "gateway", "central", "kiosk", "bridge", "provision"} <= set(root.list_commands(ctx))
    for group in ("gateway", "central", "kiosk"):
        assert "run" in root.get_command(ctx, group).list_commands(ctx)
    assert "init" in root.get_command(ctx, "provision").list_commands(ctx)


def test_a_running_gateway_does_not_load_the_provisioning_tool():
    """Component groups are imported when used: a long-running service stays lean."""
    code = ("import sys; from typer.testing import CliRunner; from onestop.cli import app; "
            "CliRunner().invoke(app, ['gateway', 'run', '--help']); "
            "print(sorted(m for m in ('provisioning.cli', 'cryptography', 'firmware_bridge.cli') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_bad_config_file_lists_every_problem_and_exits_2(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('site = "NOT VALID"\n[http]\nport = -1\n')
    proc = subprocess.run([sys.executable, "-m", "onestop", "gateway", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "site:" in proc.stderr and "http.port:" in proc.stderr
    assert "Traceback" not in proc.stderr


def onestop(*args: str, env: dict[str, str] | None = None, block: str | None = None) -> subprocess.CompletedProcess:
    """The real command line in a subprocess; ``block`` makes one third-party module impossible to import
    (as on a machine installed without the extra that brings it)."""
    code = ("import sys\n" + (f"sys.modules[{block!r}] = None\n" if block else "") +
            f"sys.argv = ['onestop', *{list(args)!r}]\nfrom onestop.cli import main\nmain()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_a_configuration_error_keeps_the_text_rich_would_read_as_markup(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('site = "NOT VALID"\n')
    proc = onestop("gateway", "run", "--config", str(cfg))
    assert proc.returncode == 2
    assert "'^[a-z0-9][a-z0-9-]{0,31}$'" in proc.stderr


def test_a_bad_environment_override_is_blamed_on_the_variable_not_the_file(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('site = "north-b3"\n')
    proc = onestop("gateway", "run", "--config", str(cfg), env={"ONESTOP_GATEWAY__HTTP__PORT": "-1",
                                                                  "ONESTOP_GATEWAY__SITE__NAME": "x"})
    assert proc.returncode == 2, proc.stderr
    assert "http.port:" in proc.stderr
    assert "(set by the environment variable ONESTOP_GATEWAY__HTTP__PORT)" in proc.stderr
    assert "set by the environment variable ONESTOP_GATEWAY__SITE__NAME" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_problem_in_the_file_is_not_blamed_on_an_unrelated_variable(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('site = "north-b3"\n[http]\nport = -1\n')
    proc = onestop("gateway", "run", "--config", str(cfg), env={"ONESTOP_GATEWAY__TIMEZONE": "Asia/Shanghai"})
    assert proc.returncode == 2 and "http.port:" in proc.stderr
    assert "environment variable" not in proc.stderr.split("http.port:")[1].splitlines()[0]


def test_a_missing_extra_says_which_to_install_without_a_traceback(tmp_path):
    kiosk = tmp_path / "kiosk.toml"
    kiosk.write_text(f'site = "north-b3"\ndevice = "kiosk-b3-lobby"\nspace = "lobby"\ndata_dir = "{tmp_path}"\n'
                     '[reader]\ndriver = "none"\n')
    central = tmp_path / "central.toml"
    central.write_text("")
    for args, module, extra in ((["kiosk", "run", "--config", str(kiosk)], "kivy", "kiosk"),
                                (["central", "run", "--config", str(central)], "sqlalchemy", "central")):
        proc = onestop(*args, block=module)
        assert proc.returncode != 0
        assert f"pip install 'onestop-edge[{extra}]'" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2, proc.stderr


def test_onestop_version_prints_the_version():
    proc = onestop("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"onestop-edge {onestop_version}"
