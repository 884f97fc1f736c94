"""Back-off between retries, stated once for every loop that retries (pure: no clock, no sleeping).

    attempt:   0     1     2     3    ...
    wait:    base  2·base 4·base 8·base ... capped at ``cap``
    jittered: uniform in [0, that]  ("full jitter": many clients retrying one server spread out)

Users: the bridge's serial and evdev readers (``firmware_bridge/reconnect.py``), the gateway's sync to central
(``gateway/sync.py``, jittered: a campus of gateways must not return in step after central's outage) and the
demo's supervisor, and the gateway's MQTT receiver (``gateway/receiver.py``). The devices' MQTT client
reconnects through paho's own loop, configured with the same doubling (``reconnect_delay_set`` in
``onestop/mqtt.py``).

Why not ``stamina`` or ``tenacity``: they retry a function call and sleep in ``time.sleep``; every loop here
is a thread that must stop at once when told (it waits on a ``threading.Event``), and some count what
failed between tries. What they share is only the arithmetic below.
"""

from __future__ import annotations

import random

MAX_DOUBLINGS = 30  # 2**30 × any sensible base is far past any cap; bounds the arithmetic for long outages


def retry_delay(attempt: int, *, base: float, cap: float, jitter: bool = False,
                rng: random.Random | None = None) -> float:
    """The wait before retry ``attempt`` (0 for the first): ``base`` doubled per attempt up to ``cap``;
    with ``jitter``, uniform in [0, that]."""
    ceiling = min(cap, base * 2 ** min(max(attempt, 0), MAX_DOUBLINGS))
    return (rng or random).uniform(0, ceiling) if jitter else ceiling


class Backoff:
    """The waits of one retrying loop: ``next_delay`` after each failure, ``reset`` after a success."""

    def __init__(self, base: float, cap: float, *, jitter: bool = False, rng: random.Random | None = None) -> None:
        self.base, self.cap, self.jitter, self._rng = base, cap, jitter, rng
        self.failures = 0

    def next_delay(self) -> float:
        """The wait before the next try (each call counts one more failure)."""
        delay = retry_delay(self.failures, base=self.base, cap=self.cap, jitter=self.jitter, rng=self._rng)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits ``base`` again."""
        self.failures = 0
