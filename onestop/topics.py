"""MQTT topics of the wire contract: the only place topic strings are built or taken apart.

All topics live under ``onestop/v1/{site}/``::

    dev/{device}/evt/{type}     device -> gateway events (QoS 1)
    dev/{device}/state          retained birth / Last Will
    dev/{device}/cfg            retained device configuration from the gateway
    space/{space}/occupancy     retained live occupancy
    space/{space}/presence      retained keyed hashes of the cards inside (``onestop.presence``)
    alert/{team}                alerts for staff displays
    gateway/state               retained gateway birth / Will
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from onestop.errors import TopicError
from onestop.ids import DEVICE_RE, SITE_RE, SLUG_RE

PREFIX = "onestop/v1"
EVENT_TYPES = ("checkin", "checkout", "attendance", "screening", "reading", "heartbeat", "fault")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

TopicKind = Literal["event", "state", "cfg", "occupancy", "presence", "alert", "gateway-state"]
Branch = Literal["dev", "space", "alert", "gateway"]
BRANCHES: tuple[Branch, ...] = ("dev", "space", "alert", "gateway")  # the first level under a site


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise TopicError(f"invalid {what}: {value!r}")
    return value


def event(site: str, device: str, event_type: str) -> str:
    """``onestop/v1/{site}/dev/{device}/evt/{type}``."""
    return (
        f"{PREFIX}/{_check(site, SITE_RE, 'site')}/dev/{_check(device, DEVICE_RE, 'device id')}"
        f"/evt/{_check(event_type, _TYPE_RE, 'event type')}"
    )


def state(site: str, device: str) -> str:
    """``onestop/v1/{site}/dev/{device}/state`` (retained birth / Will)."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/dev/{_check(device, DEVICE_RE, 'device id')}/state"


def cfg(site: str, device: str) -> str:
    """``onestop/v1/{site}/dev/{device}/cfg`` (retained configuration)."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/dev/{_check(device, DEVICE_RE, 'device id')}/cfg"


def occupancy(site: str, space: str) -> str:
    """``onestop/v1/{site}/space/{space}/occupancy`` (retained)."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/space/{_check(space, SLUG_RE, 'space id')}/occupancy"


def presence(site: str, space: str) -> str:
    """``onestop/v1/{site}/space/{space}/presence`` (retained; no card number is readable in it)."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/space/{_check(space, SLUG_RE, 'space id')}/presence"


def alert(site: str, team: str) -> str:
    """``onestop/v1/{site}/alert/{team}``."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/alert/{_check(team, SLUG_RE, 'team')}"


def gateway_state(site: str) -> str:
    """``onestop/v1/{site}/gateway/state`` (retained)."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/gateway/state"


def site_tree(site: str) -> str:
    """Filter for everything under one site."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/#"


def branch_filter(branch: Branch, site: str | None = None) -> str:
    """Filter for one branch of one site's tree, or of every site's (``site`` None): ``onestop/v1/+/dev/#``."""
    if branch not in BRANCHES:
        raise TopicError(f"invalid branch: {branch!r}")
    return f"{PREFIX}/{'+' if site is None else _check(site, SITE_RE, 'site')}/{branch}/#"


def events_filter(site: str) -> str:
    """Filter the gateway subscribes to for device events."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/dev/+/evt/+"


def states_filter(site: str) -> str:
    """Filter for every device's birth / Will."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/dev/+/state"


def occupancy_filter(site: str) -> str:
    """Filter for every space's occupancy."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/space/+/occupancy"


def presence_filter(site: str) -> str:
    """Filter for every space's presence (a kiosk keeps its own space's, whichever its cfg names)."""
    return f"{PREFIX}/{_check(site, SITE_RE, 'site')}/space/+/presence"


@dataclass(frozen=True, slots=True)
class Topic:
    """A contract topic taken apart; fields not part of the kind are ``None``."""

    kind: TopicKind
    site: str
    device: str | None = None
    event_type: str | None = None
    space: str | None = None
    team: str | None = None


@functools.lru_cache(maxsize=4096)  # a building has a few hundred topics; errors are never cached
def parse(topic: str) -> Topic:
    """Take a topic string apart; raises ``TopicError`` for anything outside the contract."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "onestop" or parts[1] != "v1":
        raise TopicError(f"not an onestop/v1 topic: {topic!r}")
    site = _check(parts[2], SITE_RE, "site")
    rest = parts[3:]
    match rest:
        case ["dev", device, "evt", event_type]:
            return Topic("event", site, device=_check(device, DEVICE_RE, "device id"),
                         event_type=_check(event_type, _TYPE_RE, "event type"))
        case ["dev", device, "state"]:
            return Topic("state", site, device=_check(device, DEVICE_RE, "device id"))
        case ["dev", device, "cfg"]:
            return Topic("cfg", site, device=_check(device, DEVICE_RE, "device id"))
        case ["space", space, "occupancy"]:
            return Topic("occupancy", site, space=_check(space, SLUG_RE, "space id"))
        case ["space", space, "presence"]:
            return Topic("presence", site, space=_check(space, SLUG_RE, "space id"))
        case ["alert", team]:
            return Topic("alert", site, team=_check(team, SLUG_RE, "team"))
        case ["gateway", "state"]:
            return Topic("gateway-state", site)
    raise TopicError(f"unknown topic under site {site!r}: {topic!r}")
