"""The ``onestop provision`` commands through typer's runner: output, exit codes, and no secret leaks."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib

import click
import pytest
import typer.main
from typer.testing import CliRunner

import provisioning
from harness.netutil import free_port
from kiosk.settings import load as load_kiosk
from onestop.roles import TokenEntry
from provisioning.cli import app
from provisioning.registry import Registry
from tests.provisioning.conftest import current_user, free_ports

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch):
    """Tables as wide as COLUMNS says, whichever test imported the command line first (its consoles read the
    width when they are made, and another file's test may have made them narrow)."""
    from provisioning import cli

    for console in (cli.out, cli.err):
        monkeypatch.setattr(console, "width", 200)


def walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, (*path, name))


def test_every_command_option_and_argument_has_help_text():
    missing = []
    for path, command in walk(typer.main.get_command(app)):
        if not (command.help or "").strip():
            missing.append(" ".join(path) or "provision")
        for param in command.params:
            text = getattr(param, "help", None)
            if param.name != "help" and not (text or "").strip():
                missing.append(f"{' '.join(path)} {param.name}")
    assert not missing, f"without help: {missing}"


@pytest.fixture
def root(tmp_path):
    port, tls_port = free_ports(2)
    root = tmp_path / "provision"
    result = runner.invoke(app, ["init", "--site", "north-b3", "--dir", str(root), "--port", str(port),
                                 "--tls-port", str(tls_port), "--broker-user", current_user(),
                                 "--hostname", "gw-north-b3.campus.example"])
    assert result.exit_code == 0, result.output
    return root


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_init_reports_what_it_made_and_refuses_to_run_twice(root):
    output = run("init", "--site", "north-b3", "--dir", str(root), code=1)
    assert "already initialised" in output and "--force" in output
    output = run("init", "--site", "north-b3", "--dir", str(root), "--force", "--port", str(free_port()),
                 "--tls-port", str(free_port()))
    assert "initialised" in output and "sha256" in output


def test_the_technicians_workflow_never_prints_a_device_password(root, tmp_path):
    outputs = [run("space", "add", "study-24h-2f", "--capacity", "40", "--dir", str(root)),
               run("space", "list", "--dir", str(root)),
               run("device", "add", "kiosk-b3-lobby", "--kind", "kiosk", "--space", "study-24h-2f", "--cert",
                   "--dir", str(root)),
               run("device", "list", "--dir", str(root)),
               run("device", "show", "kiosk-b3-lobby", "--dir", str(root)),
               run("device", "bundle", "kiosk-b3-lobby", "--out", str(tmp_path / "bundle"), "--dir", str(root)),
               run("status", "--dir", str(root))]
    settings = load_kiosk(tmp_path / "bundle" / "kiosk-b3-lobby.toml")
    password = settings.broker.password.get_secret_value()
    assert settings.broker.host == "gw-north-b3.campus.example"
    for output in outputs:
        assert password not in output
    assert "no broker running" in outputs[2]
    assert "kiosk-b3-lobby" in outputs[3] and "awaiting bundle" in outputs[3]
    assert "certificate serial" in outputs[4]
    assert '"device":"kiosk-b3-lobby"' in outputs[5] and "▀" in outputs[5]
    assert "registry only" in outputs[6] and "unknown" in outputs[6]
    again = run("device", "bundle", "kiosk-b3-lobby", "--out", str(tmp_path / "again"), "--dir", str(root), code=1)
    assert "already delivered" in again and "device rotate" in again


def test_add_rotate_and_revoke_with_a_bundle_right_away(root, tmp_path):
    run("device", "add", "hs-b3-1", "--kind", "health-station", "--space", "skills-lab-1", "--out",
        str(tmp_path / "hs.zip"), "--dir", str(root))
    assert (tmp_path / "hs.zip").is_file()
    output = run("device", "rotate", "hs-b3-1", "--out", str(tmp_path / "hs2"), "--dir", str(root))
    assert "old password no longer works" in output and (tmp_path / "hs2" / "hs-b3-1.toml").is_file()
    output = run("device", "revoke", "hs-b3-1", "--dir", str(root))
    assert "revoked" in output and "no broker running" in output
    assert "revoked" in run("device", "list", "--dir", str(root))


def test_clear_errors_for_bad_input(root, tmp_path):
    assert "invalid device id" in run("device", "add", "K", "--kind", "kiosk", "--space", "s", "--dir", str(root),
                                      code=1)
    assert "invalid value for '--kind'" in run("device", "add", "kiosk-a", "--kind", "printer", "--space", "s",
                                               "--dir", str(root), code=2).lower()
    assert "no device nobody-here" in run("device", "show", "nobody-here", "--dir", str(root), code=1)
    assert "provision init" in run("device", "list", "--dir", str(tmp_path / "nowhere"), code=1)
    assert "unknown space" in run("space", "add", "study", "--dir", str(root)) + run(
        "device", "add", "kiosk-a", "--kind", "kiosk", "--space", "lab", "--dir", str(root), code=1)


def test_a_broker_that_cannot_be_told_is_an_error_after_the_change(root):
    (root / "broker" / "mosquitto.pid").write_text("999999999\n")
    output = run("device", "add", "kiosk-a", "--kind", "kiosk", "--space", "s", "--dir", str(root), code=1)
    assert "device kiosk-a added" in output and "not running" in output and "broker was not told" in output
    assert "kiosk-a" in run("device", "list", "--dir", str(root))


def test_import_all_or_nothing_through_the_command(root, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("device,kind,space\nkiosk-a,kiosk,study\nkiosk-b,robot,study\nkiosk-a,kiosk,study\n")
    output = run("device", "import", str(bad), "--dir", str(root), code=1)
    assert "nothing imported, 2 problem(s)" in output and "line 3" in output and "line 4" in output
    good = tmp_path / "good.csv"
    good.write_text("device,kind,space,display_name\n" + "".join(f"kiosk-{i},kiosk,study,Kiosk {i}\n"
                                                                  for i in range(1, 6)))
    output = run("device", "import", str(good), "--dir", str(root))
    assert "5 devices added" in output
    registry = Registry.open(root / "registry.db")
    assert [d.display_name for d in registry.devices()] == [f"Kiosk {i}" for i in range(1, 6)]
    registry.close()


def test_gateway_register_prints_the_token_once_with_central_entry(root):
    output = run("gateway", "register", "--site", "north-b3", "--dir", str(root))
    central_part = output[output.index("[[tokens]]"):]
    entry = TokenEntry.model_validate(tomllib.loads(central_part)["tokens"][0])
    token = tomllib.loads(output[output.index("[central]"):output.index("# central")])["central"]["token"]
    assert entry.role.value == "gateway" and entry.name == "gateway-north-b3" and entry.site == "north-b3"
    assert entry.sha256 == hashlib.sha256(token.encode()).hexdigest()
    registry = Registry.open(root / "registry.db")
    assert ("token-add", "gateway-north-b3") in [(a[1], a[2]) for a in registry.audit_log()]
    assert token not in (root / "registry.db").read_bytes().decode("latin-1")
    registry.close()
    assert "registry of site north-b3" in run("gateway", "register", "--site", "south-a1", "--dir", str(root),
                                              code=1)


def test_status_warns_when_the_gateway_is_unreachable(root):
    run("device", "add", "kiosk-a", "--kind", "kiosk", "--space", "s", "--dir", str(root))
    output = run("status", "--dir", str(root), "--gateway-url", f"http://127.0.0.1:{free_port()}", "--token", "t")
    assert "unreachable" in output and "registry only" in output and "kiosk-a" in output


def test_the_group_is_mounted_on_the_onestop_command():
    proc = subprocess.run([sys.executable, "-m", "onestop", "provision", "device", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "rotate" in proc.stdout and "bundle" in proc.stdout


def test_reload_re_renders_the_broker_files_from_the_registry(root):
    run("device", "add", "kiosk-a", "--kind", "kiosk", "--space", "s", "--dir", str(root))
    passwd = root / "broker" / "passwd"
    rendered = passwd.read_text()
    passwd.write_text("hand-edited:nonsense\n")
    output = run("reload", "--dir", str(root))
    assert "broker files rewritten" in output and "no broker running" in output
    assert passwd.read_text() == rendered


def test_gateway_cert_names_the_hosts_browsers_dial_and_is_recorded(root, tmp_path):
    from cryptography import x509

    output = run("gateway", "cert", "--host", "gw-north-b3.campus.example", "--ip", "10.0.3.2", "--dir", str(root),
                 "--out", str(tmp_path / "tls"))
    tls = tomllib.loads(output[output.index("[http]"):output.index("browsers")])["http"]
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "gateway.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "gw-north-b3.campus.example"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.0.3.2"]
    assert tls["tls_key"] == str(tmp_path / "tls" / "gateway.key")
    assert (tmp_path / "tls" / "ca.crt").read_bytes() == (root / "ca" / "ca.crt").read_bytes()
    registry = Registry.open(root / "registry.db")
    assert "gateway-cert" in [a[1] for a in registry.audit_log()]
    registry.close()
    assert "at least one --host or --ip" in run("gateway", "cert", "--dir", str(root), code=1)
    assert "invalid IP address" in run("gateway", "cert", "--ip", "gw.example", "--dir", str(root), code=1)
    assert "no such user" in run("gateway", "cert", "--host", "gw", "--owner", "no-such-user-here", "--dir",
                                 str(root), code=1)


def test_another_sites_gateway_user_is_refused_as_a_device_id_or_display(root, tmp_path):
    for taken in ("south-a1-gateway", "south-a1-provisioner", "north-b3-observer"):
        output = run("device", "add", taken, "--kind", "kiosk", "--space", "s", "--dir", str(root), code=1)
        assert f"invalid device id '{taken}'" in output and "reserved" in output
        assert "reserved" in run("display", "add", taken, "--team", "clinic", "--dir", str(root), code=1)
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text("device,kind,space\nkiosk-a,kiosk,s\nsouth-a1-gateway,kiosk,s\n")
    assert "line 3" in run("device", "import", str(csv_file), "--dir", str(root), code=1)
    assert "gateway" not in run("device", "list", "--dir", str(root))
    run("device", "add", "gateway-lobby-kiosk", "--kind", "kiosk", "--space", "s", "--dir", str(root))


@pytest.mark.parametrize("damage", [b"", b"SQLite format 2\x00 overwritten by something else" * 50],
                         ids=["zero-length", "garbage-header"])
def test_a_damaged_registry_is_named_and_left_untouched(root, damage):
    registry = root / "registry.db"
    registry.write_bytes(damage)
    output = run("device", "list", "--dir", str(root), code=65)
    assert "registry.db" in output and "backup" in output
    assert registry.read_bytes() == damage  # nothing written into it


def test_a_damaged_ca_key_is_named(root):
    (root / "ca" / "ca.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    output = run("gateway", "cert", "--host", "gw.example", "--dir", str(root), code=65)
    assert "ca.key" in output and "backup" in output


def test_a_missing_optional_library_is_named_with_its_extra_like_every_onestop_command(root, tmp_path, monkeypatch):
    """One error reporter: provisioning exits as the other commands do (3 and the ``pip install`` line for a
    missing extra, never a traceback), not with its own codes."""
    monkeypatch.setitem(sys.modules, "qrcode", None)  # as on a machine installed without the extra
    monkeypatch.delitem(sys.modules, "provisioning.bundle", raising=False)
    monkeypatch.delattr(provisioning, "bundle", raising=False)
    run("space", "add", "study", "--dir", str(root))
    output = run("device", "add", "kiosk-q", "--kind", "kiosk", "--space", "study", "--out", str(tmp_path / "q"),
                 "--dir", str(root), code=3)
    assert "pip install 'onestop-edge[provisioning]'" in output
