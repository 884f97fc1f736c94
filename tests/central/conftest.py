"""Fixtures for the central service: every store-backed test runs on SQLite and on PostgreSQL.

PostgreSQL is a throwaway cluster (``initdb`` + ``pg_ctl`` on a free port in a temporary directory), one per
test session, with a fresh database per test; the system PostgreSQL is never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from central.api import create_app
from central.settings import CentralSettings, ExamPeriod
from central.store import CentralStore
from harness.pgtemp import TempPostgres
from onestop.roles import Role, new_token
from tests.helpers import served

SITES = ("north-b3", "south-a1")


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres]:
    """One throwaway PostgreSQL cluster for the whole session."""
    cluster = TempPostgres().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'central.db'}"
        return
    cluster: TempPostgres = request.getfixturevalue("postgres")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def store(database_url: str) -> Iterator[CentralStore]:
    """A migrated central store."""
    central = CentralStore(database_url)
    yield central
    central.close()


class Tokens(dict[str, str]):
    """Bearer tokens by name: one per role (``admin``, ``staff``, ...), plus gateway tokens bound to sites
    (``gateway:north-b3``: bound to north-b3 by the entry's ``site``) and an unbound one (``gateway``, which
    only a test rig admits)."""

    def header(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self[name]}"}


@pytest.fixture(scope="session")
def token_entries() -> tuple[Tokens, list]:
    tokens, entries = Tokens(), []
    names = [(r.value, r) for r in Role] + [(f"gateway:{site}", Role.GATEWAY) for site in SITES]
    for name, role in names:
        site = name.partition(":")[2] or None
        token, entry = new_token(f"test-{name.replace(':', '-')}", role, site=site)
        tokens[name] = token
        entries.append(entry)
    return tokens, entries


@pytest.fixture
def tokens(token_entries: tuple[Tokens, list]) -> Tokens:
    return token_entries[0]


@pytest.fixture
def settings(token_entries: tuple[Tokens, list], database_url: str, tmp_path: Path) -> CentralSettings:
    return CentralSettings(database_url=database_url, tokens=token_entries[1], test_rig=True,
                           pseudonym_key_file=tmp_path / "keys" / "pseudonym.key",
                           timezone="Europe/London",
                           exam_periods=[ExamPeriod(start="2026-03-16", end="2026-03-20")])


@pytest.fixture
def client(settings: CentralSettings, store: CentralStore) -> Iterator[httpx.Client]:
    """The app served over real HTTP on a free port, on the parametrised database."""
    with served(create_app(settings, store)) as http:
        yield http


@pytest.fixture
def as_role(client: httpx.Client, tokens: Tokens) -> Callable[[str], httpx.Client]:
    """``as_role("admin").get(...)``: the client with that token's header set."""

    def with_token(name: str) -> httpx.Client:
        client.headers["Authorization"] = f"Bearer {tokens[name]}"
        return client

    return with_token
