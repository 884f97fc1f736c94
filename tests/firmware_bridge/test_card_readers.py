"""EM4100, Parallax, PN532 frames and keyboard-wedge lines: the reference examples and the edge cases."""

from __future__ import annotations

import pytest

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.em4100 import Em4100Parser, encode_em4100
from firmware_bridge.protocols.parallax import ParallaxParser, encode_parallax
from firmware_bridge.protocols.pn532 import (
    ACK,
    ERROR_FRAME,
    NACK,
    Ack,
    ErrorFrame,
    InformationFrame,
    Nack,
    Pn532FrameParser,
    Pn532Parser,
    encode_command,
    encode_no_target,
    encode_pn532,
    encode_response,
)
from firmware_bridge.protocols.wedge import KEY_ENTER, KeyLineAssembler, WedgeParser, encode_wedge, key_codes
from firmware_bridge.readings import CardRead, DeviceStatus, FrameRejected

from .formats import bytewise, feed

EM4100_EXAMPLE = bytes.fromhex("02 36 32 45 33 30 38 36 43 45 44 30 38 03")
PN532_EXAMPLE = bytes.fromhex("00 00 FF 0C F4 D5 4B 01 01 00 04 08 04 92 2E 58 32 84 00")


def test_em4100_reference_example_gives_the_ten_hex_digits() -> None:
    assert feed(Em4100Parser(), [EM4100_EXAMPLE]) == [CardRead("62E3086CED")]
    assert encode_em4100("62E3086CED") == EM4100_EXAMPLE


def test_em4100_repeated_frames_while_card_is_held_each_give_a_read() -> None:
    assert feed(Em4100Parser(), bytewise(EM4100_EXAMPLE * 3)) == [CardRead("62E3086CED")] * 3


def test_em4100_bad_checksum_is_rejected() -> None:
    frame = bytearray(EM4100_EXAMPLE)
    frame[12] = ord("9")
    assert feed(Em4100Parser(), [bytes(frame)]) == [FrameRejected("bad-checksum", 14)]


def test_em4100_frame_cut_by_a_new_start_byte_is_incomplete_and_the_new_frame_is_read() -> None:
    events = feed(Em4100Parser(), [EM4100_EXAMPLE[:6] + EM4100_EXAMPLE])
    assert events == [FrameRejected("incomplete", 6), CardRead("62E3086CED")]


def test_em4100_lowercase_hex_is_not_accepted() -> None:
    assert not [e for e in feed(Em4100Parser(), [EM4100_EXAMPLE.lower()]) if isinstance(e, CardRead)]


def test_em4100_stream_ending_inside_a_frame_reports_it_incomplete() -> None:
    assert feed(Em4100Parser(), [b"xy" + EM4100_EXAMPLE[:9]]) == [
        FrameRejected("garbage", 2),
        FrameRejected("incomplete", 9),
    ]


def test_em4100_encoder_refuses_a_card_of_the_wrong_size() -> None:
    with pytest.raises(EncodeError):
        encode_em4100("922E5832")


def test_parallax_frame_gives_the_card_and_a_missing_end_byte_is_malformed() -> None:
    frame = encode_parallax("0415ab29c3")
    assert frame == b"\n0415AB29C3\r"
    assert feed(ParallaxParser(), [frame]) == [CardRead("0415AB29C3")]
    assert feed(ParallaxParser(), [frame[:-1] + b"X" + frame]) == [
        FrameRejected("malformed", 11),
        FrameRejected("garbage", 1),
        CardRead("0415AB29C3"),
    ]


def test_pn532_reference_example_gives_the_uid_by_its_length_byte() -> None:
    assert feed(Pn532Parser(), [PN532_EXAMPLE]) == [CardRead("922E5832")]
    assert encode_pn532("922e5832") == PN532_EXAMPLE


def test_pn532_seven_byte_uid_is_read_whole() -> None:
    frame = encode_pn532("04A2B3C4D5E680", sens_res=b"\x00\x44", sel_res=0x00)
    assert feed(Pn532Parser(), bytewise(frame)) == [CardRead("04A2B3C4D5E680")]


def test_pn532_ack_nack_no_target_and_host_commands_are_not_readings() -> None:
    command = encode_command(0x4A, b"\x01\x00")
    assert command == bytes.fromhex("00 00 FF 04 FC D4 4A 01 00 E1 00")
    stream = ACK + NACK + encode_no_target() + command + encode_response(0x15)
    assert feed(Pn532Parser(), [stream]) == []


def test_pn532_error_frame_is_a_reader_error_status() -> None:
    assert feed(Pn532Parser(), [ERROR_FRAME]) == [
        DeviceStatus("reader-error", "PN532 application error frame")
    ]


def test_pn532_frame_parser_names_every_frame_kind() -> None:
    stream = ACK + NACK + ERROR_FRAME + bytes.fromhex("00 00 FF 02 FE D5 15 16 00")
    assert feed(Pn532FrameParser(), [stream]) == [
        Ack(),
        Nack(),
        ErrorFrame(),
        InformationFrame(0xD5, 0x15, b""),
    ]


def test_pn532_extended_frame_is_understood() -> None:
    body = bytes([0xD5, 0x4B]) + bytes([1, 1, 0, 4, 8, 4]) + bytes.fromhex("922E5832")
    frame = b"\x00\x00\xff\xff\xff" + bytes([0, len(body), (-len(body)) & 0xFF]) + body
    frame += bytes([(-sum(body)) & 0xFF, 0])
    assert feed(Pn532Parser(), [frame]) == [CardRead("922E5832")]


def test_pn532_good_frame_inside_a_damaged_one_is_found() -> None:
    # A frame whose tail was lost on the line: its length swallows the start of the next frame.
    damaged = PN532_EXAMPLE[:10]
    events = feed(Pn532Parser(), [damaged + PN532_EXAMPLE])
    assert [e for e in events if isinstance(e, CardRead)] == [CardRead("922E5832")]


def test_pn532_bad_uid_length_is_malformed_not_a_card() -> None:
    response = encode_response(0x4B, bytes([1, 1, 0, 4, 8, 5]) + bytes(5))
    events = feed(Pn532Parser(), [response])
    assert [type(e) for e in events] == [FrameRejected]


def test_pn532_encoder_refuses_impossible_uids() -> None:
    with pytest.raises(EncodeError):
        encode_pn532("0102")
    with pytest.raises(EncodeError):
        encode_pn532("not hex")


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_wedge_line_with_any_line_ending_gives_the_digits_as_typed(ending: bytes) -> None:
    assert feed(WedgeParser(), [b"0000472288" + ending + b"\r\n"]) == [CardRead("0000472288")]


def test_wedge_rejects_junk_lines_and_overlong_lines() -> None:
    stream = b"12a!\r\n" + b"9" * 40 + b"\r\n" + b"123\n" + encode_wedge("0000472288")
    assert feed(WedgeParser(), [stream]) == [
        FrameRejected("malformed", 4),
        FrameRejected("overlong", 40),
        FrameRejected("malformed", 3),
        CardRead("0000472288"),
    ]


def test_wedge_unterminated_last_line_is_incomplete() -> None:
    assert feed(WedgeParser(), [b"00004"]) == [FrameRejected("incomplete", 5)]


def test_key_assembler_turns_key_presses_into_the_typed_card() -> None:
    assembler = KeyLineAssembler()
    results = []
    for code in key_codes("0000472288"):
        results += [assembler.key(code, 1), assembler.key(code, 0)]  # each key goes down then up
    assert [r for r in results if r is not None] == [CardRead("0000472288")]


def test_key_assembler_rejects_a_line_with_a_stray_key_and_ignores_auto_repeat() -> None:
    assembler = KeyLineAssembler()
    for code in (2, 3, 30, 4, 5):  # 30 is KEY_A
        assembler.key(code, 1)
    assert assembler.key(KEY_ENTER, 1) == FrameRejected("malformed", 5)
    for code in key_codes("1234")[:-1]:
        assembler.key(code, 1)
        assembler.key(code, 2)  # auto-repeat must not double the digit
    assert assembler.key(KEY_ENTER, 1) == CardRead("1234")
    assert assembler.key(KEY_ENTER, 1) is None  # Enter on its own
