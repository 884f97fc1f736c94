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
import string
from dataclasses import dataclass
from typing import Literal

from onestop.errors import TopicError
from onestop.ids import DEVICE_RE, SITE_RE, SLUG_RE

PREFIX = "onestop/v1"
EVENT_TYPES = ("checkin", "checkout", "attendance", "screening", "reading", "heartbeat", "fault", "request",
               "feedback")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

TopicKind = Literal["event", "state", "cfg", "occupancy", "presence", "alert", "gateway-state"]
Branch = Literal["dev", "space", "alert", "gateway"]
BRANCHES: tuple[Branch, ...] = ("dev", "space", "alert", "gateway")  # the first level under a site


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise TopicError(f"invalid {what}: {value!r}")
    return value


# Each topic's shape, stated once, with AsyncAPI's ``{name}`` placeholders. The builders below fill them in
# (every value checked, so nothing escapes the tree); ``wildcard`` turns them into subscription filters and
# the broker's ACL patterns (provisioning/mosquitto_files.py); the AsyncAPI document uses them as channel
# addresses (harness/asyncapi.py).
EVENT = PREFIX + "/{site}/dev/{device}/evt/{type}"
STATE = PREFIX + "/{site}/dev/{device}/state"
CFG = PREFIX + "/{site}/dev/{device}/cfg"
OCCUPANCY = PREFIX + "/{site}/space/{space}/occupancy"
PRESENCE = PREFIX + "/{site}/space/{space}/presence"
ALERT = PREFIX + "/{site}/alert/{team}"
GATEWAY_STATE = PREFIX + "/{site}/gateway/state"
SITE_TREE = PREFIX + "/{site}/#"
BRANCH_TREE = PREFIX + "/{site}/{branch}/#"
TEMPLATES = (EVENT, STATE, CFG, OCCUPANCY, PRESENCE, ALERT, GATEWAY_STATE)  # one per topic kind


def placeholders(template: str) -> tuple[str, ...]:
    """The placeholder names of a template, in order: ``("site", "device", "type")`` for ``EVENT``."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


def wildcard(template: str, **fixed: str) -> str:
    """``template`` with the ``fixed`` placeholders filled in as given and every other one ``+``.

    ``wildcard(EVENT, device="%u")`` is ``onestop/v1/+/dev/%u/evt/+``, Mosquitto's pattern for a device's own
    events. The fixed values are taken as they are: the callers pass checked ids or ACL substitutions.
    """
    names = placeholders(template)
    if unknown := set(fixed) - set(names):
        raise TopicError(f"{template} has no placeholder {', '.join(sorted(unknown))}")
    return template.format(**{name: fixed.get(name, "+") for name in names})


def event(site: str, device: str, event_type: str) -> str:
    """``onestop/v1/{site}/dev/{device}/evt/{type}``."""
    return EVENT.format(site=_check(site, SITE_RE, "site"), device=_check(device, DEVICE_RE, "device id"),
                        type=_check(event_type, _TYPE_RE, "event type"))


def state(site: str, device: str) -> str:
    """``onestop/v1/{site}/dev/{device}/state`` (retained birth / Will)."""
    return STATE.format(site=_check(site, SITE_RE, "site"), device=_check(device, DEVICE_RE, "device id"))


def cfg(site: str, device: str) -> str:
    """``onestop/v1/{site}/dev/{device}/cfg`` (retained configuration)."""
    return CFG.format(site=_check(site, SITE_RE, "site"), device=_check(device, DEVICE_RE, "device id"))


def occupancy(site: str, space: str) -> str:
    """``onestop/v1/{site}/space/{space}/occupancy`` (retained)."""
    return OCCUPANCY.format(site=_check(site, SITE_RE, "site"), space=_check(space, SLUG_RE, "space id"))


def presence(site: str, space: str) -> str:
    """``onestop/v1/{site}/space/{space}/presence`` (retained; no card number is readable in it)."""
    return PRESENCE.format(site=_check(site, SITE_RE, "site"), space=_check(space, SLUG_RE, "space id"))


def alert(site: str, team: str) -> str:
    """``onestop/v1/{site}/alert/{team}``."""
    return ALERT.format(site=_check(site, SITE_RE, "site"), team=_check(team, SLUG_RE, "team"))


def gateway_state(site: str) -> str:
    """``onestop/v1/{site}/gateway/state`` (retained)."""
    return GATEWAY_STATE.format(site=_check(site, SITE_RE, "site"))


def site_tree(site: str) -> str:
    """Filter for everything under one site."""
    return SITE_TREE.format(site=_check(site, SITE_RE, "site"))


def branch_filter(branch: Branch, site: str | None = None) -> str:
    """Filter for one branch of one site's tree, or of every site's (``site`` None): ``onestop/v1/+/dev/#``."""
    if branch not in BRANCHES:
        raise TopicError(f"invalid branch: {branch!r}")
    if site is None:
        return wildcard(BRANCH_TREE, branch=branch)
    return BRANCH_TREE.format(site=_check(site, SITE_RE, "site"), branch=branch)


def events_filter(site: str) -> str:
    """Filter the gateway subscribes to for device events."""
    return wildcard(EVENT, site=_check(site, SITE_RE, "site"))


def states_filter(site: str) -> str:
    """Filter for every device's birth / Will."""
    return wildcard(STATE, site=_check(site, SITE_RE, "site"))


def occupancy_filter(site: str) -> str:
    """Filter for every space's occupancy."""
    return wildcard(OCCUPANCY, site=_check(site, SITE_RE, "site"))


def presence_filter(site: str) -> str:
    """Filter for every space's presence (a kiosk keeps its own space's, whichever its cfg names)."""
    return wildcard(PRESENCE, site=_check(site, SITE_RE, "site"))


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
