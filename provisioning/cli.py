"""``onestop provision``: the technicians' commands (see docs/provisioning.md for the workflow).

Each command is a thin shell over ``provisioning.site`` / ``bundle`` / ``status``: parse options, call one
operation, print the result. Errors derived from ``ProvisioningError`` become one red line and exit 1.
Secrets are printed only where the workflow needs them once (the gateway API token, a staff display's
password); device passwords are never printed, they go into the device's bundle only.

Bundles (qrcode, the kiosk's settings model) and tokens (FastAPI via ``onestop.roles``) are
imported inside their commands: every ``onestop`` invocation imports this module, and should stay quick.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from onestop import topics
from onestop.payloads import DeviceKind
from onestop.reporting import reported
from provisioning import pki, status, validation
from provisioning.broker_reload import ReloadOutcome
from provisioning.device_state import gateway_broker_settings, mark_offline
from provisioning.errors import BrokerReloadError, GatewayQueryError, InvalidInputError
from provisioning.registry import Device
from provisioning.site import InitOptions, Site, SitePaths, init_site
from provisioning.validation import site_id

app = typer.Typer(help="Technicians' tools: device registry, broker credentials and ACL, site CA and "
                       "certificates, device bundles with QR codes.", no_args_is_help=True)
device_app = typer.Typer(help="Register, inspect, rotate, revoke and bundle devices.", no_args_is_help=True)
space_app = typer.Typer(help="The site's spaces (once any is declared, devices must use a declared one).",
                        no_args_is_help=True)
gateway_app = typer.Typer(help="The building gateway's credentials for the central service.",
                          no_args_is_help=True)
display_app = typer.Typer(help="Staff displays: broker accounts that read their teams' alert topics only.",
                          no_args_is_help=True)
app.add_typer(device_app, name="device")
app.add_typer(display_app, name="display")
app.add_typer(space_app, name="space")
app.add_typer(gateway_app, name="gateway")

# soft_wrap: long paths, fingerprints and the QR payload stay on one line, whole, so they can be copied.
# markup off: paths and messages are printed as they are; colour comes only from ``_note`` and Text cells.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def _note(label: str, message: str, style: str = "yellow") -> None:
    err.print(Text.assemble((label, style), " ", message))

DEFAULT_DIR = Path("/var/lib/onestop/provision")
DirOption = Annotated[Path, typer.Option("--dir", envvar="ONESTOP_PROVISION_DIR", file_okay=False,
                                         help="The site's provisioning directory (registry, CA, broker files).")]
PidOption = Annotated[int | None, typer.Option("--broker-pid", min=2,
                                               help="Signal this Mosquitto pid instead of the one in the pid "
                                                    "file the generated configuration names.")]
DeviceArg = Annotated[str, typer.Argument(help="Device id (also its MQTT user name and client id).",
                                          show_default=False)]
OutOption = Annotated[Path | None, typer.Option("--out", help="Write the device's bundle here right away: a "
                                                              "directory, or a file name ending in .zip.")]
ReaderOption = Annotated[str | None, typer.Option("--reader", help="A kiosk's card reader driver (`onestop bridge "
                                                   "drivers`; default em4100), or none for a kiosk without one.")]
ReaderPortOption = Annotated[str | None, typer.Option(help="The card reader's serial port (default "
                                                           "/dev/onestop-reader, the udev rule's name).")]
SensorOption = Annotated[list[str] | None, typer.Option("--sensor", help="A sensor node's sensor as DRIVER=PORT, "
                                                        "e.g. and-scale=/dev/ttyUSB0 (repeatable).")]
F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    """Report errors as every ``onestop`` command does (``onestop.reporting``): one line, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reported():
            return command(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def _reload(site: Site, broker_pid: int | None) -> ReloadOutcome:
    try:
        outcome = site.reload(broker_pid)
    except BrokerReloadError:
        _note("warning:", "the registry and the broker's files are updated, but the broker was not told")
        raise
    out.print(outcome.message)
    return outcome


def _mark_offline(site: Site, device: str, reason: str) -> None:
    # Mosquitto publishes no Will for a session it ends on reload; see provisioning/device_state.py.
    out.print(mark_offline(gateway_broker_settings(site.paths.provisioner_credentials), site.name, device, reason))


def _bundle(site: Site, device: str, target: Path, reader: str | None, reader_port: str | None,
            sensors: list[str] | None, broker_host: str | None = None, install_dir: Path | None = None,
            data_dir: Path | None = None, qr: bool = True) -> None:
    from provisioning import bundle as bundles

    hardware = bundles.Hardware(reader, reader_port, tuple(sensors or ()))
    made = bundles.issue(site, device, target, broker_host, install_dir, data_dir, hardware)
    out.print(f"bundle for {device} written to {target} ({', '.join(f.name for f in made.files)})")
    out.print(made.hardware_summary)
    out.print("it holds the device's password: move it to the device, then delete it here")
    if qr:
        text = [f for f in made.files if f.name == "pairing.json"][0].data.decode().strip()
        typer.echo(bundles.qr_terminal(text))
        out.print(f"QR (also pairing.png): {text}")


# -- init -----------------------------------------------------------------------------------------------
@app.command()
@_reports_errors
def init(site: Annotated[str, typer.Option(help="Site slug, e.g. north-b3.", show_default=False)],
         directory: DirOption = DEFAULT_DIR,
         hostname: Annotated[list[str] | None, typer.Option(
             help="Name or address devices use to reach the broker (repeatable; the first goes into bundles). "
                  "localhost and 127.0.0.1 are always in the certificate.")] = None,
         port: Annotated[int, typer.Option(help="Plain MQTT listener (loopback, for the gateway).")] = 1883,
         tls_port: Annotated[int, typer.Option(help="TLS MQTT listener for devices.")] = 8883,
         bind: Annotated[str, typer.Option(help="Address of the plain listener.")] = "127.0.0.1",
         tls_bind: Annotated[str | None, typer.Option(help="Address of the TLS listener (default: all).")] = None,
         broker_user: Annotated[str, typer.Option(help="User Mosquitto runs as; it must own the broker's "
                                                       "files.")] = "mosquitto",
         require_client_cert: Annotated[bool, typer.Option(help="TLS clients must also present a "
                                                                "certificate from the site CA.")] = False,
         force: Annotated[bool, typer.Option(help="Move an existing registry and CA aside and start over "
                                                  "(every existing bundle stops working).")] = False) -> None:
    """Create the registry, site CA, broker certificate, gateway credentials and Mosquitto files."""
    options = InitOptions(site, hostname or [], port, tls_port, bind, tls_bind, broker_user, require_client_cert)
    with init_site(directory, options, force=force) as made:
        layout = made.layout
        out.print(f"site {made.name} initialised in {directory}")
        fingerprint = pki.fingerprint(made.paths.ca_cert.read_bytes())
        out.print(f"  CA certificate   {made.paths.ca_cert} (sha256 {fingerprint})")
        out.print(f"  Mosquitto config {layout.conf} (plain {layout.bind}:{layout.port}, TLS :{layout.tls_port})")
        out.print(f"  gateway MQTT     {made.paths.gateway_credentials} (user {made.gateway_user})")
        if not hostname:
            _note("warning:", "no --hostname given: bundles will point devices at localhost unless "
                      "`device bundle --broker-host` says otherwise")
        if made.broker_owner() is None and layout.run_as:
            _note("note:", f"files are not owned by {layout.run_as!r} (not root, or no such user); "
                      "see deploy/mosquitto/README.md")


# -- spaces ---------------------------------------------------------------------------------------------
@space_app.command("add")
@_reports_errors
def space_add(space: Annotated[str, typer.Argument(help="Space id, e.g. study-24h-2f.", show_default=False)],
              capacity: Annotated[int | None, typer.Option(help="How many people fit.")] = None,
              display_name: Annotated[str | None, typer.Option(help="Name shown to people.")] = None,
              directory: DirOption = DEFAULT_DIR) -> None:
    """Declare a space; once any space exists, devices may only be placed in declared ones."""
    with Site.open(directory) as site:
        added = site.add_space(space, capacity, display_name)
        out.print(f"space {added.id} added (capacity {added.capacity if added.capacity is not None else '-'})")


@space_app.command("list")
@_reports_errors
def space_list(directory: DirOption = DEFAULT_DIR) -> None:
    """List the declared spaces."""
    with Site.open(directory) as site:
        table = Table("space", "capacity", "name", title=f"spaces of {site.name}")
        for space in site.registry.spaces():
            table.add_row(space.id, "-" if space.capacity is None else str(space.capacity), space.display_name or "")
        out.print(table)


# -- devices --------------------------------------------------------------------------------------------
def _device_table(title: str, *columns: str) -> Table:
    table = Table(title=title)
    table.add_column("device", no_wrap=True)  # an id is never cut short: it is what the technician types
    for column in columns:
        table.add_column(column, overflow="fold", min_width=min(len(column), 10))
    return table


def _secret_state(device: Device) -> str:
    if not device.active:
        return "-"
    return "awaiting bundle" if device.secret_pending else f"delivered {device.bundled}"


@device_app.command("add")
@_reports_errors
def device_add(device: DeviceArg,
               kind: Annotated[DeviceKind, typer.Option(help="What the device is.", show_default=False)],
               space: Annotated[str, typer.Option(help="Space the device serves.", show_default=False)],
               display_name: Annotated[str | None, typer.Option(help="Name shown on the device.")] = None,
               cert: Annotated[bool, typer.Option(help="Also issue a client certificate from the site CA.")] = False,
               bundle_out: OutOption = None, reader: ReaderOption = None, reader_port: ReaderPortOption = None,
               sensor: SensorOption = None,
               directory: DirOption = DEFAULT_DIR, broker_pid: PidOption = None) -> None:
    """Register a device with a fresh random password (never shown: it goes into the bundle)."""
    with Site.open(directory) as site:
        added = site.add_device(device, kind, space, display_name, cert)
        out.print(f"device {added.id} added ({added.kind} in {added.space}"
                  f"{', certificate ' + (added.cert_serial or '') if added.cert_pem else ''})")
        _reload(site, broker_pid)
        if bundle_out:
            _bundle(site, added.id, bundle_out, reader, reader_port, sensor)
        else:
            out.print(f"next: onestop provision device bundle {added.id} --out DIR|FILE.zip")


@device_app.command("list")
@_reports_errors
def device_list(directory: DirOption = DEFAULT_DIR) -> None:
    """List every device, revoked ones included."""
    with Site.open(directory) as site:
        table = _device_table(f"devices of {site.name}", "kind", "space", "status", "credentials",
                              "certificate until")
        for device in site.registry.devices():
            table.add_row(device.id, device.kind, device.space,
                          device.status if device.active else Text(f"revoked {device.revoked}", "red"),
                          _secret_state(device), device.cert_not_after or "-")
        out.print(table)


@device_app.command("show")
@_reports_errors
def device_show(device: DeviceArg, directory: DirOption = DEFAULT_DIR) -> None:
    """Everything the registry knows about one device (no secrets)."""
    with Site.open(directory) as site:
        found = site.registry.device(device)
        table = Table.grid(padding=(0, 2))
        for label, value in [("device", found.id), ("site", site.name), ("kind", found.kind),
                             ("space", found.space), ("display name", found.display_name or "-"),
                             ("status", found.status), ("created", found.created),
                             ("credentials issued", found.credentials_issued),
                             ("credentials", _secret_state(found)), ("revoked", found.revoked or "-"),
                             ("certificate serial", found.cert_serial or "-"),
                             ("certificate until", found.cert_not_after or "-")]:
            table.add_row(label, value)
        out.print(table)


@device_app.command("rotate")
@_reports_errors
def device_rotate(device: DeviceArg,
                  cert: Annotated[bool | None, typer.Option("--cert/--no-cert", help="Issue (or drop) a client "
                                                            "certificate; default: as before.")] = None,
                  bundle_out: OutOption = None, reader: ReaderOption = None, reader_port: ReaderPortOption = None,
                  sensor: SensorOption = None,
                  directory: DirOption = DEFAULT_DIR, broker_pid: PidOption = None) -> None:
    """Issue a new password (and certificate); the old ones stop working at once."""
    with Site.open(directory) as site:
        site.rotate(device, cert)
        out.print(f"new credentials for {device}; the old password no longer works")
        if _reload(site, broker_pid).signalled:
            _mark_offline(site, device, "rotated")
        if bundle_out:
            _bundle(site, device, bundle_out, reader, reader_port, sensor)
        else:
            out.print(f"next: onestop provision device bundle {device} --out DIR|FILE.zip")


@device_app.command("revoke")
@_reports_errors
def device_revoke(device: DeviceArg, directory: DirOption = DEFAULT_DIR, broker_pid: PidOption = None) -> None:
    """Remove a device's broker access for good: new connections are refused, a live one is dropped."""
    with Site.open(directory) as site:
        site.revoke(device)
        out.print(f"device {device} revoked")
        if _reload(site, broker_pid).signalled:
            _mark_offline(site, device, "revoked")


@device_app.command("bundle")
@_reports_errors
def device_bundle(device: DeviceArg,
                  bundle_out: Annotated[Path, typer.Option("--out", help="A new directory, or a file name ending "
                                                           "in .zip.", show_default=False)],
                  broker_host: Annotated[str | None, typer.Option(help="Host the device dials (default: the "
                                                                  "first --hostname given to init).")] = None,
                  install_dir: Annotated[Path | None, typer.Option(help="Where the files will be on the device "
                                         "(default: --out for a directory, /etc/onestop/DEVICE for a zip).")] = None,
                  data_dir: Annotated[Path | None, typer.Option(help="Where the device keeps its outbox "
                                      "(default: OUT/data, or /var/lib/onestop/DEVICE for a zip).")] = None,
                  qr: Annotated[bool, typer.Option(help="Draw the pairing QR code in the terminal.")] = True,
                  reader: ReaderOption = None, reader_port: ReaderPortOption = None, sensor: SensorOption = None,
                  directory: DirOption = DEFAULT_DIR) -> None:
    """Write the device's config, CA certificate and credentials, with a pairing QR code (once per password)."""
    with Site.open(directory) as site:
        _bundle(site, device, bundle_out, reader, reader_port, sensor, broker_host, install_dir, data_dir, qr)


@device_app.command("import")
@_reports_errors
def device_import(file: Annotated[Path, typer.Argument(help="CSV with columns device,kind,space[,display_name].",
                                                       exists=True, dir_okay=False, show_default=False)],
                  cert: Annotated[bool, typer.Option(help="Also issue a client certificate to each.")] = False,
                  directory: DirOption = DEFAULT_DIR, broker_pid: PidOption = None) -> None:
    """Add many devices from a CSV: every row is checked first; any bad row and nothing is added."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {file}: {exc}") from exc
    rows = max(sum(1 for line in text.splitlines() if line.strip()) - 1, 1)
    with Site.open(directory) as site:
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      console=err) as progress:
            task = progress.add_task("", total=rows)

            def step(device: str) -> None:
                progress.update(task, advance=1, description=device)
            added = site.import_devices(text, str(file), cert=cert, on_row=step)
            progress.update(task, total=len(added), completed=len(added), description="")
        out.print(f"{len(added)} devices added from {file}")
        _reload(site, broker_pid)


@app.command("reload")
@_reports_errors
def reload_command(directory: DirOption = DEFAULT_DIR, broker_pid: PidOption = None) -> None:
    """Re-render the broker's password file, ACL and configuration from the registry and reload the broker."""
    with Site.open(directory) as site:
        site.write_broker_files()
        out.print(f"broker files rewritten in {site.paths.broker}")
        _reload(site, broker_pid)


# -- staff displays -------------------------------------------------------------------------------------
DisplayArg = Annotated[str, typer.Argument(help="The display's MQTT user name (and client id), e.g. "
                                                "clinic-desk-1.", show_default=False)]


@display_app.command("add")
@_reports_errors
def display_add(name: DisplayArg,
                team: Annotated[list[str], typer.Option(help="A team whose alerts it shows (repeatable): clinic, "
                                                        "counselling, facilities, technicians.",
                                                        show_default=False)],
                directory: DirOption = DEFAULT_DIR, broker_pid: PidOption = None) -> None:
    """Create a staff display's broker account (password shown once): it may read its teams' alert topics,
    nothing else, and publish nothing."""
    with Site.open(directory) as site:
        password = site.add_display(name, team)
        readable = ", ".join(topics.alert(site.name, t) for t in site.registry.displays()[name])
        out.print(f"display {name} added; it may read {readable} and nothing else")
        typer.echo("# the display's MQTT credentials; the password is shown only now, nowhere keeps it:")
        typer.echo(f'username = "{name}"\npassword = "{password}"')
        _reload(site, broker_pid)


@display_app.command("list")
@_reports_errors
def display_list(directory: DirOption = DEFAULT_DIR) -> None:
    """List the staff displays and the teams whose alerts each reads."""
    with Site.open(directory) as site:
        table = Table("display", "teams", title=f"staff displays of {site.name}")
        for name, teams in site.registry.displays().items():
            table.add_row(name, ", ".join(teams))
        out.print(table)


@display_app.command("remove")
@_reports_errors
def display_remove(name: DisplayArg, directory: DirOption = DEFAULT_DIR, broker_pid: PidOption = None) -> None:
    """Remove a staff display's broker account: new connections are refused, a live one is dropped."""
    with Site.open(directory) as site:
        site.remove_display(name)
        out.print(f"display {name} removed")
        _reload(site, broker_pid)


# -- gateway --------------------------------------------------------------------------------------------
@gateway_app.command("register")
@_reports_errors
def gateway_register(site: Annotated[str, typer.Option(help="Site slug of the gateway.", show_default=False)],
                     name: Annotated[str | None, typer.Option(help="Token name in central's audit log "
                                                              "(default gateway-SITE).")] = None,
                     days: Annotated[int | None, typer.Option(min=1, max=3650, help="Days the token is valid "
                                                              "(default: no expiry); rotate it with `onestop "
                                                              "central token rotate`.")] = None,
                     directory: DirOption = DEFAULT_DIR) -> None:
    """Create the gateway's API token for the central service (shown once) and central's config entry,
    which binds the token to SITE."""
    from datetime import UTC, datetime, timedelta

    from onestop.roles import Role, entry_toml, new_token

    site_id(site)
    token_name = name or f"gateway-{site}"
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    token, entry = new_token(token_name, Role.GATEWAY, site=site, expires=expires)
    if SitePaths(directory).registry.is_file():
        with Site.open(directory) as opened:
            if opened.name != site:
                raise InvalidInputError(f"{directory} is the registry of site {opened.name}, not {site}")
            opened.registry.add_token(entry.name, entry.role.value, entry.sha256)
    else:
        _note("note:", f"no registry in {directory}; the token is not recorded there")
    typer.echo("# for gateway.toml; the token is shown only now, nowhere keeps it:")
    typer.echo(f'[central]\ntoken = "{token}"\n')
    typer.echo("# central's configuration (the token acts for this site only):")
    typer.echo(entry_toml(entry))


@gateway_app.command("cert")
@_reports_errors
def gateway_cert(host: Annotated[list[str] | None, typer.Option(
                     help="DNS name staff browsers use for the gateway (repeatable; the first is the common "
                          "name). localhost and 127.0.0.1 are always in the certificate.")] = None,
                 ip: Annotated[list[str] | None, typer.Option(help="IP address browsers may use (repeatable).")
                               ] = None,
                 cert_out: Annotated[Path | None, typer.Option("--out", file_okay=False, help="Directory for "
                                     "gateway.crt, gateway.key and ca.crt (default: DIR/gateway-tls).")] = None,
                 owner: Annotated[str | None, typer.Option(help="User the gateway runs as, made owner of the "
                                                           "files (needs root), e.g. onestop.")] = None,
                 directory: DirOption = DEFAULT_DIR) -> None:
    """Issue the gateway's HTTPS certificate from the site CA (the key is written with mode 0600)."""
    addresses = [validation.ip_address(a) for a in ip or []]
    if not host and not addresses:
        raise InvalidInputError("give at least one --host or --ip: the name or address staff browsers dial")
    uid_gid = validation.user_ids(owner) if owner else None
    with Site.open(directory) as site:
        made = site.issue_gateway_certificate([*(host or []), *addresses],
                                              (cert_out or directory / "gateway-tls").resolve(), uid_gid)
        out.print(f"gateway certificate for {', '.join(made.names)} until {made.issued.not_after.date()} "
                  f"(serial {made.issued.serial_hex})")
        typer.echo("# for gateway.toml:")
        typer.echo(f'[http]\nhost = "0.0.0.0"\nport = 8080\ntls_cert = "{made.cert}"\ntls_key = "{made.key}"\n')
        out.print(f"browsers and tools verify it against the site CA: {made.ca_cert} "
                  f"(sha256 {pki.fingerprint(made.ca_cert.read_bytes())})")


# -- status ---------------------------------------------------------------------------------------------
# -- backup ---------------------------------------------------------------------------------------------
PASSPHRASE_ENV = "ONESTOP_BACKUP_PASSPHRASE"


def _passphrase(confirm: bool) -> str:
    import os

    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    return str(typer.prompt("backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True))


@app.command("backup")
@_reports_errors
def backup_command(dest: Annotated[Path, typer.Argument(help="The archive file to write (0600).", dir_okay=False,
                                                        show_default=False)],
                   directory: DirOption = DEFAULT_DIR,
                   encrypt: Annotated[bool, typer.Option("--encrypt", help="Encrypt with a passphrase (asked for, "
                                                         f"or ${PASSPHRASE_ENV}).")] = False) -> None:
    """Back up the provisioning directory: the registry, the site CA key and every credential file. Keep the
    archive offline: whoever holds it can mint the site's certificates."""
    from onestop.backup_cli import progress_bar, summary
    from provisioning.backup import backup

    passphrase = _passphrase(confirm=True) if encrypt else None
    with progress_bar() as progress:
        manifest = backup(directory, dest, passphrase=passphrase, progress=progress)
    summary(manifest, dest)
    if not encrypt:
        _note("warning:", "the archive is not encrypted (--encrypt): store it offline, on encrypted media")


@app.command("restore")
@_reports_errors
def restore_command(source: Annotated[Path, typer.Argument(help="The archive to restore from.", exists=True,
                                                           dir_okay=False, show_default=False)],
                    directory: DirOption = DEFAULT_DIR,
                    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty directory (moved "
                                                        "aside, not deleted).")] = False) -> None:
    """Restore a provisioning directory from a backup (the broker's files are rendered again)."""
    from onestop.backup_cli import restored
    from provisioning.backup import is_encrypted, restore

    passphrase = _passphrase(confirm=False) if is_encrypted(source) else None
    manifest, moved = restore(source, directory, passphrase=passphrase, force=force)
    restored(manifest, moved, str(directory))


@app.command("status")
@_reports_errors
def status_command(gateway_url: Annotated[str | None, typer.Option(envvar="ONESTOP_GATEWAY_URL",
                                                                   help="Gateway base URL, e.g. "
                                                                        "https://gw-north-b3:8443 (verified "
                                                                        "against the site CA).")] = None,
                   token: Annotated[str | None, typer.Option(envvar="ONESTOP_GATEWAY_TOKEN",
                                                             help="Bearer token with role technician or admin.")
                                    ] = None,
                   directory: DirOption = DEFAULT_DIR) -> None:
    """The registry joined with what the gateway has seen: never seen / online / offline, firmware."""
    with Site.open(directory) as site:
        devices = site.registry.devices()
        name, ca_file = site.name, site.paths.ca_cert
    seen = None
    if gateway_url is None:
        _note("note:", "no --gateway-url: showing the registry only")
    else:
        try:
            seen = status.fetch_gateway_devices(gateway_url, token or "", ca_file=ca_file)
        except GatewayQueryError as exc:
            _note("warning:", f"{exc}; showing the registry only")
    out.print(status_table(name, status.join_status(devices, seen)))


_STYLE = {status.Connection.ONLINE: "green", status.Connection.OFFLINE: "red",
          status.Connection.NEVER_SEEN: "yellow", status.Connection.UNKNOWN: "dim"}


def status_table(site: str, rows: list[status.StatusRow]) -> Table:
    """The status rows as a rich table."""
    table = _device_table(f"devices of {site}", "kind", "space", "registry", "connection", "firmware", "last seen",
                          "outbox")
    for row in rows:
        registry = Text(row.registry, "bold red" if row.suspicious else "")
        table.add_row(row.device, row.kind, row.space, registry,
                      Text(row.connection.value, _STYLE[row.connection]), row.fw or "-",
                      row.last_seen.isoformat(timespec="seconds") if row.last_seen else "-",
                      "-" if row.outbox is None else str(row.outbox))
    return table

