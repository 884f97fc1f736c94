"""The PN532 conversation: wake-up, configuration, polling, ACK/NACK/error frames and time-outs."""

from __future__ import annotations

from firmware_bridge.protocols.pn532 import (
    ACK,
    ERROR_FRAME,
    NACK,
    WAKE_UP,
    encode_command,
    encode_no_target,
    encode_pn532,
    encode_response,
)
from firmware_bridge.protocols.pn532_session import Phase, Pn532Session
from firmware_bridge.readings import CardRead, DeviceStatus, FrameRejected

SAM = bytes.fromhex("00 00 FF 05 FB D4 14 01 14 01 02 00")
SAM_RESPONSE = bytes.fromhex("00 00 FF 02 FE D5 15 16 00")
GET_FIRMWARE = bytes.fromhex("00 00 FF 02 FE D4 02 2A 00")
FIRMWARE_RESPONSE = encode_response(0x03, bytes([0x32, 0x01, 0x06, 0x07]))
LIST = bytes.fromhex("00 00 FF 04 FC D4 4A 01 00 E1 00")
CARD = encode_pn532("922E5832")


def configured_session(now: float = 0.0) -> Pn532Session:
    """A session that went through wake-up, SAMConfiguration and GetFirmwareVersion."""
    session = Pn532Session()
    assert session.start(now) == WAKE_UP + SAM
    assert session.feed(ACK + SAM_RESPONSE, now) == []
    assert session.poll(now) == GET_FIRMWARE
    assert session.feed(ACK + FIRMWARE_RESPONSE, now) == [DeviceStatus("ready", "PN532 firmware 1.6")]
    return session


def test_the_session_wakes_the_reader_configures_it_then_polls_for_cards() -> None:
    session = configured_session()
    assert encode_command(0x14, bytes([0x01, 0x14, 0x01])) == SAM
    assert session.poll(0.0) == LIST
    assert session.phase is Phase.AWAIT_ACK


def test_a_card_in_the_response_is_read_and_polling_continues_after_the_interval() -> None:
    session = configured_session()
    session.poll(0.0)
    assert session.feed(ACK, 0.01) == []
    assert session.feed(CARD, 0.3) == [CardRead("922E5832")]
    assert session.poll(0.31) == b""  # poll interval 0.05 s not yet over
    assert session.poll(0.36) == LIST


def test_a_response_arriving_byte_by_byte_is_assembled() -> None:
    session = configured_session()
    session.poll(0.0)
    events = []
    for byte in ACK + CARD:
        events += session.feed(bytes([byte]), 0.1)
    assert events == [CardRead("922E5832")]


def test_no_card_within_the_list_timeout_aborts_with_an_ack_and_asks_again() -> None:
    session = configured_session()
    session.poll(0.0)
    session.feed(ACK, 0.01)
    assert session.poll(0.5) == b""
    assert session.poll(1.02) == ACK  # abort the pending InListPassiveTarget
    assert session.poll(1.08) == LIST
    assert session.feed(ACK + encode_no_target(), 1.1) == []


def test_a_nack_from_the_reader_makes_the_session_resend_the_command() -> None:
    session = configured_session()
    session.poll(0.0)
    session.feed(NACK, 0.01)
    assert session.poll(0.02) == LIST


def test_a_damaged_response_is_answered_with_a_nack_so_the_reader_resends_it() -> None:
    session = configured_session()
    session.poll(0.0)
    session.feed(ACK, 0.01)
    damaged = bytearray(CARD)
    damaged[-3] ^= 0x01
    events = session.feed(bytes(damaged), 0.1)
    assert [e.reason for e in events if isinstance(e, FrameRejected)] == ["bad-checksum"]
    assert session.poll(0.1) == NACK
    assert session.feed(CARD, 0.12) == [CardRead("922E5832")]


def test_an_error_frame_is_reported_and_the_command_is_tried_again() -> None:
    session = configured_session()
    session.poll(0.0)
    session.feed(ACK, 0.01)
    assert session.feed(ERROR_FRAME, 0.02) == [DeviceStatus("reader-error", "PN532 application error frame")]
    assert session.poll(0.03) == b""
    assert session.poll(0.08) == LIST


def test_a_lost_ack_does_not_lose_the_response() -> None:
    session = configured_session()
    session.poll(0.0)
    assert session.feed(CARD, 0.05) == [CardRead("922E5832")]


def test_missing_acks_are_retried_then_reported_once_and_the_reader_is_woken_again() -> None:
    session = Pn532Session(ack_timeout=0.25, max_retries=3, rewake_delay=1.0)
    session.start(0.0)
    writes = [session.poll(t / 100) for t in range(1, 200)]
    sent = [w for w in writes if w]
    assert sent[:3] == [WAKE_UP + SAM] * 3  # three retries, 0.25 s apart
    events = session.feed(b"", 2.0)
    assert events == [DeviceStatus("not-responding", "PN532 did not answer; waking it up again")]
    assert not session.configured
    # the next wake-up (after rewake_delay) is answered: the reader is back
    more = [session.poll(2.0 + t / 100) for t in range(1, 100)]
    assert WAKE_UP + SAM in more
    session.feed(ACK + SAM_RESPONSE, 3.0)
    assert session.poll(3.0) == GET_FIRMWARE
    assert session.feed(ACK + FIRMWARE_RESPONSE, 3.0) == [DeviceStatus("ready", "PN532 firmware 1.6")]


def test_a_response_hidden_behind_a_false_start_is_found_when_the_line_goes_quiet() -> None:
    session = configured_session()
    session.poll(0.0)
    session.feed(ACK, 0.01)
    # "00 FF 7F 81" looks like the header of a 127-byte frame and swallows the real response
    events = session.feed(b"\x00\xff\x7f\x81" + CARD, 0.1)
    assert events == []
    session.poll(1.1)  # list time-out: the parser gives up on the false frame
    assert CardRead("922E5832") in session.feed(b"", 1.1)
