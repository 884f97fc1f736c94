"""A throwaway PostgreSQL cluster for tests, benchmarks and demos: ``initdb`` + ``pg_ctl`` in a temporary
directory, on a free loopback port, removed on ``stop``.

It never touches a system PostgreSQL. Run as root, it runs the server as the ``postgres`` user (initdb
refuses root) in a directory owned by that user. Durability is traded for speed unless ``durable=True``:
``fsync=off`` is fine for data that is thrown away.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from central.errors import CentralError
from harness.netutil import free_port


class PostgresUnavailableError(CentralError):
    """No PostgreSQL server binaries on this machine, or the cluster did not start."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(out.stdout.strip())
        except subprocess.CalledProcessError:
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb") or "").parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailableError("PostgreSQL server binaries not found (install the postgresql package; "
                                   "scripts/setup dev does)")


class TempPostgres:
    """One cluster; ``url(dbname)`` gives SQLAlchemy URLs, ``create_database`` makes fresh databases."""

    def __init__(self, durable: bool = False) -> None:
        self.bindir = find_bindir()
        self.port = free_port()
        self.durable = durable
        self._as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="onestop-pg-"))
        self.data = self.root / "data"
        self.user = "postgres" if self._as_root else os.environ.get("USER", "postgres")

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> TempPostgres:
        """initdb and start the server; returns once it accepts connections."""
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        init = self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "--no-sync",
                         "--encoding=UTF8", "--locale=C")
        if init.returncode != 0:
            raise PostgresUnavailableError(f"initdb failed: {init.stderr.strip()[-500:]}")
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.root}",
                   "-c max_connections=200", "-c shared_buffers=128MB"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                            "-t", "60", "-o", " ".join(options), "start")
        atexit.register(self.stop)  # an interrupted test run or benchmark leaves no server behind
        if started.returncode != 0:
            server_log = self.root / "server.log"
            log = server_log.read_text(errors="replace")[-800:] if server_log.exists() else ""
            raise PostgresUnavailableError(f"pg_ctl start failed: {started.stderr.strip()[-400:]} {log}")
        return self

    def url(self, dbname: str = "postgres") -> str:
        """A SQLAlchemy URL for ``dbname`` on this cluster."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database made by ``create_database`` (connections to it are ended first)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete its files."""
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        for _ in range(20):
            try:
                shutil.rmtree(self.root)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
