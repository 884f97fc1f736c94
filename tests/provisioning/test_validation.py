"""Validators and the CSV parser: pure functions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onestop.ids import DEVICE_PATTERN
from provisioning import validation
from provisioning.errors import InvalidIdError, InvalidInputError, ProvisioningError


@given(st.from_regex(DEVICE_PATTERN, fullmatch=True))
def test_every_id_matching_the_contract_pattern_is_accepted(value):
    assert validation.device_id(value) == value


@given(st.text(max_size=70))
def test_anything_else_is_rejected_with_an_invalid_id_error(value):
    if re.fullmatch(DEVICE_PATTERN, value):
        return
    with pytest.raises(InvalidIdError):
        validation.device_id(value)


@pytest.mark.parametrize("bad", ["ab", "-kiosk", "Kiosk-1", "kiosk_1", "kiosk 1", "k" * 65, "", "kiosk/1", "kiosk+"])
def test_device_ids_that_break_the_contract(bad):
    with pytest.raises(InvalidIdError, match="invalid device id"):
        validation.device_id(bad)


def test_errors_share_one_base():
    assert issubclass(InvalidIdError, ProvisioningError)
    with pytest.raises(ProvisioningError):
        validation.kind("printer")


def test_kinds_and_spaces():
    assert validation.kind("health-station") == "health-station"
    assert validation.space_id("study-24h-2f") == "study-24h-2f"
    with pytest.raises(InvalidIdError):
        validation.space_id("Study Room")
    with pytest.raises(InvalidInputError):
        validation.capacity(-1)


@pytest.mark.parametrize(("value", "expected"), [("gw-north-b3.campus.example", "gw-north-b3.campus.example"),
                                                 ("GW.Example.", "gw.example"), ("10.0.0.7", "10.0.0.7"),
                                                 ("::1", "::1")])
def test_host_names_and_addresses(value, expected):
    assert validation.hostname(value) == expected


@pytest.mark.parametrize("bad", ["", "bad host", "-x.example", "a..b", "x" * 64 + ".example"])
def test_bad_host_names(bad):
    with pytest.raises(InvalidInputError):
        validation.hostname(bad)


def test_csv_rows_are_parsed_with_their_line_numbers():
    text = ("\ufeffdevice,kind,space,display_name\n"
            "kiosk-b3-lobby,kiosk,study-24h-2f,Lobby\n"
            "\n"
            "hs-b3-1,health-station,skills-lab-1,\n")
    rows, problems = validation.parse_import_csv(text)
    assert problems == []
    assert [(r.line, r.device, r.kind, r.space, r.display_name) for r in rows] == [
        (2, "kiosk-b3-lobby", "kiosk", "study-24h-2f", "Lobby"),
        (4, "hs-b3-1", "health-station", "skills-lab-1", None)]


def test_csv_problems_are_all_reported_with_their_lines():
    text = ("device,kind,space\n"
            "kiosk-ok,kiosk,study\n"
            "BAD,kiosk,study\n"
            "kiosk-two,printer,study\n"
            "kiosk-ok,sensor,study\n"
            "kiosk-x,kiosk,study,extra\n")
    rows, problems = validation.parse_import_csv(text)
    assert [r.device for r in rows] == ["kiosk-ok"]
    assert problems[0].startswith("line 3: invalid device id 'BAD'")
    assert problems[1].startswith("line 4: invalid kind 'printer'")
    assert problems[2] == "line 5: device kiosk-ok repeats line 2"
    assert problems[3] == "line 6: more fields than columns"


def test_csv_with_wrong_columns_is_refused_at_the_header():
    rows, problems = validation.parse_import_csv("id,type\nkiosk-a,kiosk\n")
    assert rows == []
    assert problems == ["line 1: missing column(s) device, kind, space; unknown column(s) id, type "
                        "(expected device,kind,space[,display_name])"]


def test_every_kind_provisioning_registers_is_one_the_building_configures_and_the_gateway_authorises():
    """One ``DeviceKind``: a device provisioned as any kind can be listed in the building's configuration,
    announce itself in its birth message, and is granted topics by the gateway; other kinds are refused."""
    from gateway.authority import MAY_SEND
    from onestop.payloads import DEVICE_KINDS, DeviceState
    from onestop.site import DeviceEntry

    for kind in DEVICE_KINDS:
        assert validation.kind(kind) == kind
        assert DeviceEntry(device="dev-1", kind=validation.kind(kind)).kind == kind
        assert DeviceState(online=True, boot="b", kind=kind).kind == kind
    assert set(MAY_SEND) == set(DEVICE_KINDS)
    with pytest.raises(InvalidInputError):
        validation.kind("gateway")
