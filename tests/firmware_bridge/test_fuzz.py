"""1 MB of random bytes through every parser and conversation: no exception, the buffer stays bounded."""

from __future__ import annotations

import random

import pytest

from firmware_bridge.drivers import DRIVERS
from firmware_bridge.protocols.wedge import KeyLineAssembler
from firmware_bridge.readings import FrameRejected

MEGABYTE = 1 << 20


def random_chunks(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    data = rng.randbytes(MEGABYTE)
    chunks, position = [], 0
    while position < len(data):
        size = rng.choice([1, 2, 7, 64, 512, 4096])
        chunks.append(data[position : position + size])
        position += size
    return chunks


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_megabyte_of_random_bytes_never_raises_and_keeps_the_buffer_bounded(driver: str) -> None:
    parser = DRIVERS[driver].parser()
    counted = 0
    for chunk in random_chunks(seed=len(driver)):
        for event in parser.feed(chunk):
            if isinstance(event, FrameRejected):
                counted += event.size
        assert parser.buffered <= parser.max_buffer
    for event in parser.finish():
        if isinstance(event, FrameRejected):
            counted += event.size
    assert parser.buffered == 0
    assert counted > 0  # the noise was noticed, not silently dropped


@pytest.mark.parametrize("driver", sorted(name for name, d in DRIVERS.items() if d.conversational))
def test_conversations_survive_random_bytes_and_keep_talking(driver: str) -> None:
    session = DRIVERS[driver].new_session()
    now = 0.0
    written = len(session.start(now))
    for chunk in random_chunks(seed=7)[:20_000]:
        now += 0.01
        session.feed(chunk, now)
        written += len(session.poll(now))
    assert written > 0


def test_random_key_events_never_raise() -> None:
    rng = random.Random(3)
    assembler = KeyLineAssembler()
    for _ in range(100_000):
        assembler.key(rng.randrange(0, 120), rng.randrange(0, 3))
