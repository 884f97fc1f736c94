"""The command line: every command documents itself, and configuration errors are reported clearly."""

from __future__ import annotations

import subprocess
import sys

import click
import typer.main
from typer.testing import CliRunner

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
