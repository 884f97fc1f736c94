"""What simulated devices say: realistic byte streams per driver, and the two devices that answer the host.

Pure code (randomness is an injected ``random.Random``, time is passed in), used by ``simulators`` to
write to a pseudo-terminal and by tests directly. A stream is a list of ``Step``: wait ``delay`` seconds,
then write ``data``.

With ``noise`` a stream is what a real line gives on a bad day: garbage bytes, a damaged extra copy of a
frame (damaged so the parser can tell, see ``damaged``), repeats while a card is held, a finger-out and
searching period before an oximeter settles. Noise only ever *adds* to the stream: the good frame is
always there, so a reading is never lost to noise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from firmware_bridge.encoders import (
    ACK,
    KEEP_ALIVE,
    START,
    encode_and_scale,
    encode_cms50d,
    encode_cms50d_v46,
    encode_em4100,
    encode_gatt_bp,
    encode_gatt_temp,
    encode_parallax,
    encode_pn532,
    encode_response,
    encode_tanita,
    encode_wedge,
)
from firmware_bridge.protocols.pn532 import (
    ERROR_FRAME,
    GET_FIRMWARE_VERSION,
    HOST_TO_PN532,
    IN_LIST_PASSIVE_TARGET,
    SAM_CONFIGURATION,
    Ack,
    InformationFrame,
    Nack,
    Pn532FrameParser,
)


@dataclass(frozen=True, slots=True)
class Step:
    """Wait ``delay`` seconds, then write ``data``."""

    delay: float
    data: bytes


PACKETS_PER_SECOND = 60
MEASURE_KEYS = {
    "cms50d": ({"spo2", "pulse"}, {"seconds"}),
    "cms50d-v46": ({"spo2", "pulse"}, {"seconds"}),
    "and-scale": ({"weight"}, set()),
    "tanita": ({"weight"}, {"height", "bmi", "body_fat"}),
    "gatt-bp": ({"systolic", "diastolic"}, {"pulse", "mean", "kpa"}),
    "gatt-temp": ({"temperature"}, {"fahrenheit"}),
}


def garbage(rng: random.Random, size: int = 0) -> bytes:
    """A few random bytes of line noise."""
    return rng.randbytes(size or rng.randint(1, 8))


def corrupted(frame: bytes, rng: random.Random) -> bytes:
    """``frame`` with one byte in its middle flipped."""
    damaged = bytearray(frame)
    position = rng.randrange(1, max(2, len(frame) - 1))
    damaged[position] ^= rng.randrange(1, 256)
    return bytes(damaged)


CHECKSUMMED = frozenset({"em4100", "pn532", "tanita"})
LINE_FORMATS = frozenset({"wedge", "and-scale", "gatt-bp", "gatt-temp"})


def damaged(driver: str, frame: bytes, rng: random.Random) -> bytes:
    """A copy of ``frame`` damaged the way line noise does it *and a parser can tell*.

    A flipped bit is only detectable under a checksum; without one it may read as another valid value
    (a different card, a different SpO2), so those formats get a frame cut short, and line formats a
    character that no format accepts (keeping the line end, or the cut line would merge with the next).
    """
    if driver in CHECKSUMMED:
        return corrupted(frame, rng)
    if driver in LINE_FORMATS:
        body = frame.rstrip(b"\r\n")
        position = rng.randrange(len(body))
        return body[:position] + b"#" + body[position + 1 :] + frame[len(body) :]
    return frame[: rng.randrange(1, len(frame))]


def noise_bytes(driver: str, rng: random.Random) -> bytes:
    """Line noise that cannot pass for a frame of ``driver``."""
    if driver in LINE_FORMATS:
        return b"#" + bytes(b for b in garbage(rng) if b not in (10, 13)) + b"\r\n"
    if driver == "cms50d":  # five random bytes can make a plausible packet; high bytes alone cannot
        return bytes(b | 0x80 for b in garbage(rng))
    return garbage(rng)


def _with_noise(driver: str, frame: bytes, rng: random.Random, noise: bool) -> list[bytes]:
    if not noise:
        return [frame]
    parts = [noise_bytes(driver, rng)] if rng.random() < 0.5 else []
    if rng.random() < 0.3:
        parts.append(damaged(driver, frame, rng))
    return parts + [frame]


def tap_steps(driver: str, card: str, rng: random.Random, noise: bool) -> list[Step]:
    """A card presented to a passive reader; with noise the reader repeats while the card is held."""
    encoders = {"em4100": encode_em4100, "parallax": encode_parallax, "wedge": encode_wedge}
    if driver not in encoders:
        raise TypeError(f"{driver} is not a passive card reader")
    frame = encoders[driver](card)
    repeats = rng.randint(2, 6) if noise and driver != "wedge" else 1
    steps = []
    for index in range(repeats):
        for part in _with_noise(driver, frame, rng, noise):
            steps.append(Step(0.0 if index == 0 else 0.05, part))
    return steps


def check_values(driver: str, values: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming what is missing or unknown for ``driver``'s ``measure``."""
    if driver not in MEASURE_KEYS:
        raise TypeError(f"{driver} does not measure; card readers use tap()")
    required, optional = MEASURE_KEYS[driver]
    missing, unknown = required - set(values), set(values) - required - optional
    if missing or unknown:
        allowed = ", ".join(sorted(required)) + " (optional: " + ", ".join(sorted(optional)) + ")"
        raise TypeError(
            f"{driver}.measure() takes {allowed}; missing {sorted(missing)}, unknown {sorted(unknown)}"
        )


def measure_steps(driver: str, values: dict[str, Any], rng: random.Random, noise: bool) -> list[Step]:
    """A measurement as the device would send it (``check_values`` first)."""
    check_values(driver, values)
    if driver in ("cms50d", "cms50d-v46"):
        return _oximeter(driver, values, rng, noise)
    if driver == "and-scale":
        return _scale(values["weight"], rng, noise)
    if driver == "tanita":
        weight, height = values["weight"], values.get("height")
        bmi = values.get("bmi")
        if bmi is None and height:
            bmi = round(weight / (height / 100) ** 2, 1)
        frame = encode_tanita(weight=weight, height=height, bmi=bmi, body_fat=values.get("body_fat"))
        return [Step(0.0, part) for part in _with_noise("tanita", frame, rng, noise)]
    if driver == "gatt-bp":
        line = encode_gatt_bp(
            values["systolic"],
            values["diastolic"],
            values.get("mean"),
            values.get("pulse"),
            kpa=values.get("kpa", False),
        )
    else:
        line = encode_gatt_temp(values["temperature"], fahrenheit=values.get("fahrenheit", False))
    return [Step(0.0, part) for part in _with_noise(driver, line, rng, noise)]


def _oximeter(driver: str, values: dict[str, Any], rng: random.Random, noise: bool) -> list[Step]:
    spo2, pulse, seconds = int(values["spo2"]), int(values["pulse"]), float(values.get("seconds", 1.0))
    if driver == "cms50d":

        def packet(state: str, pleth: int) -> bytes:
            return encode_cms50d(
                spo2 if state == "valid" else 127,
                pulse if state == "valid" else 255,
                finger_in=state != "finger-out",
                searching=state == "searching",
                pleth=pleth,
                beep=pleth > 120,
            )
    else:

        def packet(state: str, pleth: int) -> bytes:
            kind = {"valid": 0xE0, "searching": 0xE1, "finger-out": 0xE2}[state]
            return encode_cms50d_v46(
                spo2 if state == "valid" else 0, pulse if state == "valid" else 0, kind=kind, pleth=pleth
            )

    plan = [("finger-out", 0.1), ("searching", 0.25)] if noise else [("searching", 0.05)]
    plan += [("valid", seconds), ("finger-out", 0.1)]
    steps: list[Step] = []
    tick = 0
    for state, duration in plan:
        for _ in range(max(1, round(duration * PACKETS_PER_SECOND / 3))):
            batch = b""
            for _ in range(3):  # 60 packets a second, written 3 at a time every 50 ms
                data = packet(state, (tick * 9) % 128)
                if noise and rng.random() < 0.02:
                    data = damaged(driver, data, rng) + data
                batch += data
                tick += 1
            steps.append(Step(0.05 if steps else 0.0, batch))
    return steps


def _scale(weight: float, rng: random.Random, noise: bool) -> list[Step]:
    settling = [weight * f for f in (0.6, 0.9, 0.98)]
    if noise:
        settling = [w + rng.uniform(-0.5, 0.5) for w in settling] + [weight + 0.05]
    steps = [Step(0.1, encode_and_scale(max(w, 0.0), header="US")) for w in settling]
    line = encode_and_scale(weight)
    for index in range(3):  # stream mode: the stable line again and again
        for part in _with_noise("and-scale", line, rng, noise and index == 0):
            steps.append(Step(0.1, part))
    return steps


class Pn532Emulator:
    """A PN532 as seen from the host: ACKs commands, answers them, holds InListPassiveTarget until a card.

    ``receive(data)`` takes what the host wrote and returns what the PN532 writes back; ``present(card)``
    puts a card on the reader for ``polls`` InListPassiveTarget answers; ``answered`` counts the cards that
    got their first answer. With ``noise``, some responses are corrupted once (the host's NACK gets the
    good copy).
    """

    def __init__(self, rng: random.Random, noise: bool = False) -> None:
        self._frames = Pn532FrameParser()
        self._rng = rng
        self._noise = noise
        self._cards: list[list[Any]] = []  # [card, polls left, answered yet]
        self._listing = False
        self._last = b""
        self.answered = 0
        self.presented = 0

    def present(self, card: str, polls: int = 1) -> bytes:
        """Put ``card`` on the reader; returns bytes to write now if a poll was waiting for it."""
        encode_pn532(card)  # refuse an impossible UID now, in the caller's thread
        self._cards.append([card, polls, False])
        self.presented += 1
        return self._answer_list() if self._listing else b""

    def receive(self, data: bytes) -> bytes:
        """Bytes from the host; returns the bytes the PN532 answers with."""
        out = b""
        for item in self._frames.feed(data):
            if isinstance(item, Ack):
                self._listing = False  # the host aborted the pending command
            elif isinstance(item, Nack):
                out += self._last
            elif isinstance(item, InformationFrame) and item.tfi == HOST_TO_PN532:
                out += ACK + self._command(item)
        return out

    def _command(self, frame: InformationFrame) -> bytes:
        if frame.code == SAM_CONFIGURATION:
            return self._respond(encode_response(SAM_CONFIGURATION + 1))
        if frame.code == GET_FIRMWARE_VERSION:
            return self._respond(encode_response(GET_FIRMWARE_VERSION + 1, bytes([0x32, 0x01, 0x06, 0x07])))
        if frame.code == IN_LIST_PASSIVE_TARGET:
            self._listing = True
            return self._answer_list() if self._cards else b""
        return ERROR_FRAME

    def _answer_list(self) -> bytes:
        self._listing = False
        entry = self._cards[0]
        entry[1] -= 1
        if not entry[2]:
            entry[2] = True
            self.answered += 1
        if entry[1] <= 0:
            self._cards.pop(0)
        return self._respond(encode_pn532(entry[0]))

    def _respond(self, response: bytes) -> bytes:
        self._last = response
        if self._noise and self._rng.random() < 0.2:
            return corrupted(response, self._rng)
        return response


class ContecV46Emulator:
    """Tracks the host's start and keep-alive commands: the device streams only while they keep coming."""

    def __init__(self, silence_limit: float = 15.0) -> None:
        self._buffer = b""
        self._last_command: float | None = None
        self._silence_limit = silence_limit

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the host."""
        self._buffer = (self._buffer + data)[-64:]
        if START in self._buffer or (KEEP_ALIVE in self._buffer and self._last_command is not None):
            self._last_command = now
            self._buffer = b""

    def streaming(self, now: float) -> bool:
        """True while the device would stream (started, and not left without a keep-alive too long)."""
        return self._last_command is not None and now - self._last_command < self._silence_limit
