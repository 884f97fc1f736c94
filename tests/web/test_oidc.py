"""The pure parts of sign-in (``web.oidc``): the role a person's groups give, session expiry, the [oidc]
settings. The flow itself is tested end to end against a real provider (tests/central/test_sign_in.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from onestop.roles import Role
from web.oidc import OidcSettings, Person, SessionExpiredError, SignedIn, SignInRefusedError, role_for

MAP = {"it-admins": Role.ADMIN, "estates": Role.FACILITIES, "clinic-team": Role.CLINIC,
       "counselling-team": Role.COUNSELLING, "all-staff": Role.STAFF}


@pytest.mark.parametrize(("groups", "role"), [
    (["counselling-team", "students"], Role.COUNSELLING),
    (["all-staff", "estates"], Role.FACILITIES),  # non-health: the first in the declared order
    (["all-staff", "it-admins", "estates"], Role.ADMIN),
])
def test_the_groups_give_one_role(groups, role):
    assert role_for(groups, MAP) is role


@pytest.mark.parametrize(("groups", "reason"), [
    ([], "none of the groups"),
    (["students", "Clinic-Team"], "none of the groups"),  # group names are matched exactly
    (["clinic-team", "counselling-team"], "clinic, counselling"),
    (["all-staff", "clinic-team"], "clinic, staff"),
])
def test_no_mapped_group_or_a_health_role_mixed_with_another_is_refused(groups, reason):
    with pytest.raises(SignInRefusedError, match=reason):
        role_for(groups, MAP)


def test_a_session_ends_at_its_lifetime_however_busy_and_after_its_idle_timeout():
    start = SignedIn(Person("s-1", "Sam", "sam@uni.example"), Role.CLINIC, since=1000.0, seen=1000.0)
    busy = start
    for t in range(1100, 1900, 100):
        busy = busy.check(float(t), lifetime=900, idle=300)
    with pytest.raises(SessionExpiredError, match="expired"):
        busy.check(1901.0, lifetime=900, idle=300)
    with pytest.raises(SessionExpiredError, match="without use"):
        start.check(1301.0, lifetime=900, idle=300)
    assert SignedIn.load(start.dump()) == start
    assert SignedIn.load({"person": "tampered"}) is None


def settings(tmp_path, **changes):
    secret = tmp_path / "secret"
    if not secret.exists():
        secret.write_text("s3cret\n")
        secret.chmod(0o600)
    values = {"issuer": "https://idp.uni.example/realms/campus", "client_id": "onestop",
              "client_secret_file": secret, "redirect_base_url": "https://central.uni.example",
              "groups": {"clinic-team": "clinic"}, **changes}
    return OidcSettings.model_validate(values)


def test_settings_accept_a_campus_provider_and_say_cookies_are_secure(tmp_path):
    oidc = settings(tmp_path)
    assert oidc.secure_cookies and oidc.origin == "https://central.uni.example"
    assert not settings(tmp_path, redirect_base_url="http://127.0.0.1:8000").secure_cookies


@pytest.mark.parametrize(("changes", "problem"), [
    ({"issuer": "http://idp.uni.example"}, "must be https"),
    ({"redirect_base_url": "https://central.uni.example/?x=1"}, "without query"),
    ({"groups": {"servers": "gateway"}}, "for machines"),
    ({"groups": {}}, "at least 1"),
    ({"session_lifetime": 600, "idle_timeout": 900}, "idle_timeout is longer"),
    ({"client_secret": "inline"}, "Extra inputs are not permitted"),
])
def test_settings_refuse_what_would_be_unsafe_or_ambiguous(tmp_path, changes, problem):
    with pytest.raises(ValidationError, match=problem):
        settings(tmp_path, **changes)


def test_a_client_secret_file_others_may_read_or_that_is_missing_is_refused(tmp_path):
    loose = tmp_path / "loose"
    loose.write_text("s3cret")
    loose.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        settings(tmp_path, client_secret_file=loose)
    with pytest.raises(ValidationError, match="cannot read"):
        settings(tmp_path, client_secret_file=tmp_path / "missing")
