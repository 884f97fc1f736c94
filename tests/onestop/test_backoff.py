"""The one back-off every retrying loop uses: doubling from a base, capped, optionally fully jittered."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from onestop.backoff import Backoff, retry_delay


def test_waits_double_from_the_base_up_to_the_cap_and_start_again_after_a_success():
    backoff = Backoff(0.2, 1.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next_delay() == 0.2


@given(st.integers(min_value=0, max_value=10**9))
def test_a_jittered_wait_stays_within_the_doubled_ceiling_even_after_a_very_long_outage(attempt):
    delay = retry_delay(attempt, base=0.5, cap=60.0, jitter=True, rng=random.Random(attempt))
    assert 0 <= delay <= min(60.0, 0.5 * 2 ** min(attempt, 30))


def test_jitter_spreads_clients_that_failed_together():
    waits = {retry_delay(6, base=0.5, cap=60.0, jitter=True, rng=random.Random(seed)) for seed in range(20)}
    assert len(waits) == 20 and max(waits) <= 32.0


def test_the_gateway_sync_and_the_bridge_readers_use_it():
    from firmware_bridge import reconnect
    from gateway import sync

    assert reconnect.Backoff is Backoff
    assert sync.backoff_delay(40, rng=random.Random(1)) == retry_delay(40, base=0.5, cap=sync.MAX_BACKOFF_S,
                                                                      jitter=True, rng=random.Random(1))
