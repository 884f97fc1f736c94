"""``bridge drivers`` and ``bridge decode``: JSON lines on stdout, one summary line on stderr, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from firmware_bridge.cli import app
from firmware_bridge.drivers import DRIVERS
from firmware_bridge.encoders import (
    ACK,
    encode_and_scale,
    encode_cms50d,
    encode_cms50d_v46,
    encode_em4100,
    encode_gatt_bp,
    encode_gatt_temp,
    encode_no_target,
    encode_parallax,
    encode_pn532,
    encode_tanita,
)

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def damaged(frame: bytes, position: int) -> bytes:
    broken = bytearray(frame)
    broken[position] ^= 0x01
    return bytes(broken)


# Per driver: a captured stream with noise and one damaged frame, and the (kind, value) lines it must give.
CAPTURES: dict[str, tuple[bytes, list[tuple[str, object]]]] = {
    "em4100": (
        b"\xff\x17"
        + encode_em4100("62E3086CED")
        + damaged(encode_em4100("0102030405"), 5)
        + encode_em4100("0102030405"),
        [("card", "62E3086CED"), ("card", "0102030405")],
    ),
    "parallax": (
        encode_parallax("0415AB29C3") + b"\n0415AB" + encode_parallax("0415AB29C4"),
        [("card", "0415AB29C3"), ("card", "0415AB29C4")],
    ),
    "pn532": (
        ACK
        + encode_no_target()
        + ACK
        + encode_pn532("922E5832")
        + damaged(encode_pn532("04A1B2C3"), 9)
        + ACK
        + encode_pn532("04A2B3C4D5E680"),
        [("card", "922E5832"), ("card", "04A2B3C4D5E680")],
    ),
    "wedge": (
        b"0000472288\r\n??\r\n0000472289\n",
        [("card", "0000472288"), ("card", "0000472289")],
    ),
    "cms50d": (
        encode_cms50d(0, 0, finger_in=False) * 10
        + encode_cms50d(97, 72) * 30
        + b"\x85\x40"
        + encode_cms50d(96, 75) * 30,
        [("59408-5", 97.0), ("8867-4", 72.0), ("59408-5", 96.0), ("8867-4", 75.0)],
    ),
    "cms50d-v46": (
        encode_cms50d_v46(0, 0, kind=0xE1) * 5
        + encode_cms50d_v46(98, 64) * 20
        + b"\x01\xe0\x80"
        + encode_cms50d_v46(98, 66) * 20,
        [("59408-5", 98.0), ("8867-4", 64.0), ("59408-5", 98.0), ("8867-4", 66.0)],
    ),
    "and-scale": (
        encode_and_scale(70.2, header="US") * 3 + b"ST,+0007" + encode_and_scale(75.5) * 5,
        [("29463-7", 75.5)],
    ),
    "tanita": (
        encode_tanita(weight=89.2, height=180.0, bmi=27.5)
        + damaged(encode_tanita(weight=70.0), 40)
        + encode_tanita(weight=70.0),
        [("8302-2", 180.0), ("29463-7", 89.2), ("39156-5", 27.5), ("29463-7", 70.0)],
    ),
    "gatt-bp": (
        b"04 78 00 50 00 5D 00 48 00\r\n04 78 00\r\n" + encode_gatt_bp(142, 91, None, None),
        [("8480-6", 120.0), ("8462-4", 80.0), ("8867-4", 72.0), ("8480-6", 142.0), ("8462-4", 91.0)],
    ),
    "gatt-temp": (
        b"00 70 01 00 FF\nzz\n" + encode_gatt_temp(38.2, fahrenheit=True),
        [("8310-5", 36.8), ("8310-5", 38.2)],
    ),
}


def test_every_driver_has_a_capture() -> None:
    assert set(CAPTURES) == set(DRIVERS)


def decoded(output: str) -> list[tuple[str, object]]:
    lines = [json.loads(line) for line in output.splitlines()]
    out: list[tuple[str, object]] = []
    for line in lines:
        assert line["kind"] in ("card", "measurement")
        out.append(("card", line["card"]) if line["kind"] == "card" else (line["code"], line["value"]))
    return out


@pytest.mark.parametrize("driver", sorted(CAPTURES))
def test_decode_prints_each_reading_as_a_json_line_and_counts_rejections_on_stderr(driver: str) -> None:
    stream, want = CAPTURES[driver]
    result = runner.invoke(app, ["decode", "--driver", driver, "-"], input=stream)
    assert result.exit_code == 0, result.output
    assert decoded(result.stdout) == want
    summary = result.stderr.strip().splitlines()
    assert len(summary) == 1
    assert summary[0].startswith(f"{driver}: {len(stream)} bytes, {len(want)} readings")
    assert "rejected or incomplete frames (" in summary[0]  # every capture has a damaged frame


def test_measurement_lines_carry_code_value_unit_and_device_model() -> None:
    result = runner.invoke(app, ["decode", "--driver", "cms50d"], input=encode_cms50d(97, 72))
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"kind": "measurement", "code": "59408-5", "value": 97.0, "unit": "%",
         "device_model": "Contec CMS50D+", "driver": "cms50d"},
        {"kind": "measurement", "code": "8867-4", "value": 72.0, "unit": "/min",
         "device_model": "Contec CMS50D+", "driver": "cms50d"},
    ]  # fmt: skip


def test_decode_reads_a_file(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(CAPTURES["em4100"][0])
    result = runner.invoke(app, ["decode", "--driver", "em4100", str(capture)])
    assert result.exit_code == 0
    assert decoded(result.stdout) == CAPTURES["em4100"][1]


def test_status_lines_are_printed_only_when_asked() -> None:
    stream = encode_cms50d(0, 0, finger_in=False) + encode_cms50d(97, 72)
    plain = runner.invoke(app, ["decode", "--driver", "cms50d", "-"], input=stream)
    assert [json.loads(line)["kind"] for line in plain.stdout.splitlines()] == ["measurement"] * 2
    assert "1 device states" in plain.stderr
    with_status = runner.invoke(app, ["decode", "--driver", "cms50d", "--status", "-"], input=stream)
    first = json.loads(with_status.stdout.splitlines()[0])
    assert first == {"kind": "status", "status": "finger-out", "detail": "", "driver": "cms50d"}


def test_empty_input_is_fine_and_says_so() -> None:
    result = runner.invoke(app, ["decode", "--driver", "tanita"], input=b"")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip() == (
        "tanita: 0 bytes, 0 readings, 0 device states, 0 rejected or incomplete frames, 0 bytes of garbage"
    )


def test_a_missing_file_is_an_error_with_a_non_zero_exit(tmp_path: Path) -> None:
    result = runner.invoke(app, ["decode", "--driver", "em4100", str(tmp_path / "missing.bin")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot read") and "missing.bin" in result.stderr  # as every command
    assert result.stdout == ""


def test_an_unknown_driver_is_refused_with_the_list_of_valid_names() -> None:
    result = runner.invoke(app, ["decode", "--driver", "rdm9999", "-"], input=b"")
    assert result.exit_code == 2
    assert "rdm9999" in result.stderr
    for name in DRIVERS:
        assert name in result.stderr.replace("\n", " ").replace("│", " ")


def test_drivers_lists_every_driver_with_its_serial_settings() -> None:
    result = runner.invoke(app, ["drivers"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for driver in DRIVERS.values():
        assert driver.name in result.stdout and str(driver.serial) in result.stdout
    assert "19200 8O1" in result.stdout and "2400 7E1" in result.stdout


def test_the_bridge_group_has_the_contract_commands() -> None:
    # Help text for every command and option is checked for the whole tree in tests/test_cli.py.
    assert set(getattr(typer.main.get_command(app), "commands", {})) == {"drivers", "decode", "run"}


def test_decode_through_the_onestop_entry_point() -> None:
    stream, want = CAPTURES["pn532"]
    result = subprocess.run(
        [sys.executable, "-m", "onestop", "bridge", "decode", "--driver", "pn532", "-"],
        input=stream,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert decoded(result.stdout.decode()) == want
    assert len(result.stderr.decode().strip().splitlines()) == 1
