"""Which cards a kiosk refuses, decided offline, with no card number on any MQTT topic (#18).

Central keeps the card directory (``central.directory``): cardholders, their cards, a status (``active``,
``lost``, ``blocked``, ``graduated``) and groups (``clinical-y3``). A space may admit only some groups
(``onestop.site.SpaceConfig.groups``). What a building needs of it travels as keyed hashes:

1. central derives one **site card key** per site from its own secret and computes, for that site, the tags
   ``HMAC-SHA256(site card key, card)[:8]`` (``onestop.presence.tag``) of every refused card (by status) and of
   the active cards of each group a space of the site restricts to: ``SiteCards``, fetched by the gateway over
   HTTPS (``GET /api/v1/gateways/{site}/cards``, ETag) and kept as its last good copy;
2. the gateway gives each kiosk, in its own retained ``cfg`` (which only that kiosk may read), the key, the
   refused tags and, when its space is restricted, the tags of the groups it admits: ``KioskCards``;
3. the kiosk hashes the card it reads and decides from its last good copy (``KioskCards.verdict``), also
   with the gateway or the WAN down.

A reader of a kiosk's ``cfg`` without the key learns only counts of opaque tags. With the key (a stolen
kiosk) tags can be tried against every card number; that is the threat model's accepted cost of deciding
offline, limited to one site's lists (another site's key differs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from onestop import keyed
from onestop import presence as tags
from onestop.events import Slug

CardStatus = Literal["active", "lost", "blocked", "graduated"]
RefusedStatus = Literal["lost", "blocked", "graduated"]
REFUSED: tuple[RefusedStatus, ...] = ("lost", "blocked", "graduated")  # also the order kept when bounded
Verdict = Literal["lost", "blocked", "graduated", "not-in-group"]
MAX_CARD_TAGS = 4000  # refused and admitted tags in one kiosk cfg: 43 KB of base64, inside one MQTT packet
_B64 = r"^[A-Za-z0-9+/]*={0,2}$"
_B64_MAX = -(-MAX_CARD_TAGS * tags.TAG_BYTES // 3) * 4
TagList = Annotated[str, Field(max_length=_B64_MAX, pattern=_B64, description="base64 of sorted 8-byte tags")]


def site_card_key(secret: bytes, site: str) -> bytes:
    """The card key of one site, derived from central's secret (one site's kiosks cannot read another's tags)."""
    return keyed.subkey(secret, b"onestop-card-directory/" + site.encode())


class SiteCards(BaseModel):
    """What central tells a site's gateway about cards (``GET /api/v1/gateways/{site}/cards``)."""

    model_config = ConfigDict(extra="forbid")
    site: str
    key: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex site card key the tags are made with")
    refused: dict[RefusedStatus, TagList] = Field(default_factory=dict, description="status -> its cards' tags")
    groups: dict[Slug, TagList] = Field(default_factory=dict, max_length=256,
                                    description="group -> base64 tags of its active cards (the groups a space "
                                                "of this site restricts to)")
    truncated: bool = Field(False, description="more tags than one kiosk cfg holds: the lists were bounded")
    generated: datetime

    def for_space(self, groups: list[str] | None) -> KioskCards:
        """A kiosk's share: every refused tag, and the admitted tags when its space restricts to ``groups``."""
        allowed = None
        if groups is not None:
            allowed = tags.encode(t for g in groups for t in tags.decode(self.groups.get(g, "")))
        return KioskCards(key=self.key, refused=self.refused, allowed=allowed)


class KioskCards(BaseModel):
    """The ``cards`` section of a kiosk's ``cfg``: how it tells a refused card offline."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    key: str = Field(pattern=r"^[0-9a-f]{64}$")
    refused: dict[RefusedStatus, TagList] = Field(default_factory=dict)
    allowed: TagList | None = Field(None, description="set: only these tags may check in here (the space's groups)")

    def verdict(self, card: str) -> Verdict | None:
        """Why ``card`` is refused here, or ``None`` when the directory does not refuse it.

        A card the directory does not know is not refused by an unrestricted space (visitors, a directory
        not yet complete); a restricted space admits only the tags of its groups."""
        tag = tags.tag(bytes.fromhex(self.key), card)
        for status in REFUSED:
            if tag in tags.decode(self.refused.get(status, "")):
                return status
        if self.allowed is not None and tag not in tags.decode(self.allowed):
            return "not-in-group"
        return None
