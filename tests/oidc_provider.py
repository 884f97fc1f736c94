"""A real OpenID Connect provider for tests: the certified ``oidc-provider`` from npm (``tests/oidc/``, installed
by ``scripts/setup dev``), run by node on a free loopback port with one static client and test accounts.

    with oidc_provider(redirect_uris, ACCOUNTS, tmp_dir) as idp:
        OidcSettings(issuer=idp.issuer, client_id=idp.client_id, client_secret_file=idp.secret_file, ...)

Its sign-in form is the package's development form: any password, the login one of ``accounts``' keys.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "oidc"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class TestProvider:
    issuer: str
    client_id: str
    secret_file: Path


@contextmanager
def oidc_provider(redirect_uris: list[str], accounts: dict[str, dict], directory: Path,
                  client_id: str = "onestop-test") -> Iterator[TestProvider]:
    """Run the provider until the block ends."""
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the test OpenID provider is not installed: run scripts/setup dev (npm ci in tests/oidc)")
    secret = "test-client-secret-" + os.urandom(8).hex()
    secret_file = directory / "oidc-client-secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    config = directory / "oidc-provider.json"
    config.write_text(json.dumps({"client_id": client_id, "client_secret": secret, "redirect_uris": redirect_uris,
                                  "accounts": accounts}))
    log = (directory / "oidc-provider.log").open("wb")
    process = subprocess.Popen(["node", str(HERE / "provider.mjs"), str(config)], cwd=HERE,
                               stdout=subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
        line = process.stdout.readline().decode() if ready else ""
        if not line.startswith("issuer "):
            pytest.fail(f"the test OpenID provider did not start: {(directory / 'oidc-provider.log').read_text()}")
        yield TestProvider(line.split()[1], client_id, secret_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
