"""The card directory in central's database, and each site's share of it as keyed hashes.

Card numbers are personal and short (a few bytes: an unkeyed hash is reversed by trying them all), so none is
stored as such: a card is found by its pseudonym (``central.pseudonyms``, keyed) and kept **sealed**
(AES-GCM under a key derived from the pseudonym key, which lives in a file outside the database). Central
opens the seals only to hash a site's cards under that site's card key (``onestop.cards``), for its gateway.
A database dump or backup alone reveals no card number, and none is ever logged.

Upserts are idempotent: a cardholder equal to the stored one writes nothing. A card the holder no longer
lists stays on file, ``withdrawn``, and is refused as lost (a replaced card must not keep opening doors); a
card another holder now lists moves to them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from central.db import Database
from central.directory import Cardholder, CardholderOut
from central.pseudonyms import Pseudonyms
from central.schema import cardholders, directory_cards
from onestop import presence as tags
from onestop.cards import MAX_CARD_TAGS, REFUSED, SiteCards, site_card_key

log = logging.getLogger(__name__)
CHUNK = 500  # cardholders per transaction and per IN (...) look-up
_SEAL = "card-seal"
_TAGS = "card-tags"


@dataclass
class DirectoryChanges:
    """What an import or a push did."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    cards_withdrawn: int = 0
    cards_moved: int = 0

    def add(self, other: DirectoryChanges) -> None:
        for name in ("added", "changed", "unchanged", "cards_withdrawn", "cards_moved"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Seals:
    pseudonyms: Pseudonyms
    _keys: dict[str, AESGCM] = field(default_factory=dict)

    def _aead(self, kid: str | None) -> tuple[str, AESGCM]:
        kid, key = self.pseudonyms.subkey(_SEAL, kid)
        if kid not in self._keys:
            self._keys[kid] = AESGCM(key)
        return kid, self._keys[kid]

    def seal(self, card: str, holder: str) -> str:
        kid, aead = self._aead(None)
        nonce = os.urandom(12)
        return kid + "." + base64.b64encode(nonce + aead.encrypt(nonce, card.encode(), holder.encode())).decode()

    def open(self, sealed: str, holder: str) -> str | None:
        """The card, or ``None`` when its key is gone (rotated out) or the seal is damaged."""
        kid, _, body = sealed.partition(".")
        try:
            raw = base64.b64decode(body)
            return self._aead(kid)[1].decrypt(raw[:12], raw[12:], holder.encode()).decode()
        except (KeyError, ValueError, InvalidTag):
            return None


class Directory:
    """Cardholders and their cards; ``site_cards`` is what one site's gateway gets."""

    def __init__(self, db: Database, pseudonyms: Pseudonyms) -> None:
        self.db = db
        self.pseudonyms = pseudonyms
        self._seals = _Seals(pseudonyms)

    def upsert(self, holders: Sequence[Cardholder], by: str, now: datetime | None = None) -> DirectoryChanges:
        """Add or change ``holders`` (in chunks, one transaction each); equal ones write nothing."""
        result = DirectoryChanges()
        for start in range(0, len(holders), CHUNK):
            with self.db.write() as conn:
                result.add(self._upsert(conn, holders[start:start + CHUNK], by, now or datetime.now(UTC)))
        return result

    def _upsert(self, conn: sa.Connection, holders: Sequence[Cardholder], by: str, now: datetime) -> DirectoryChanges:
        result = DirectoryChanges()
        ids = [h.id for h in holders]
        stored = {r.holder_id: r for r in conn.execute(sa.select(cardholders).where(cardholders.c.holder_id.in_(ids)))}
        owned: dict[str, dict[str, tuple[str, bool]]] = {}  # holder -> card -> (ref, withdrawn)
        for r in conn.execute(sa.select(directory_cards).where(directory_cards.c.holder_id.in_(ids))):
            card = self._seals.open(r.sealed, r.holder_id)
            if card is not None:
                owned.setdefault(r.holder_id, {})[card] = (r.card_ref, r.withdrawn)
        for holder in holders:
            old, cards = stored.get(holder.id), owned.get(holder.id, {})
            fields = {"kind": holder.kind, "email": holder.email, "status": holder.status,
                      "groups": list(holder.groups)}
            current = {c for c, (_, gone) in cards.items() if not gone}
            if old is not None and current == set(holder.cards) and all(
                    (list(getattr(old, k)) if k == "groups" else getattr(old, k)) == v for k, v in fields.items()):
                result.unchanged += 1
                continue
            row = {**fields, "updated_at": now, "updated_by": by}
            if old is None:
                conn.execute(cardholders.insert().values(holder_id=holder.id, **row))
                result.added += 1
            else:
                conn.execute(cardholders.update().where(cardholders.c.holder_id == holder.id).values(**row))
                result.changed += 1
            for card, (ref, gone) in cards.items():
                if card not in holder.cards and not gone:
                    # By holder too: a card another holder of this chunk took over is theirs now, not withdrawn.
                    result.cards_withdrawn += conn.execute(
                        directory_cards.update().where(directory_cards.c.card_ref == ref)
                        .where(directory_cards.c.holder_id == holder.id)
                        .values(withdrawn=True, updated_at=now)).rowcount or 0
            for card in holder.cards:
                refs = self.pseudonyms.all_of(card)
                moved = conn.execute(directory_cards.delete().where(directory_cards.c.card_ref.in_(refs))
                                     .where(directory_cards.c.holder_id != holder.id)).rowcount
                result.cards_moved += moved or 0
                conn.execute(directory_cards.delete().where(directory_cards.c.card_ref.in_(refs)))
                conn.execute(directory_cards.insert().values(card_ref=refs[0], holder_id=holder.id,
                                                             sealed=self._seals.seal(card, holder.id),
                                                             withdrawn=False, updated_at=now))
        return result

    def holder(self, holder_id: str) -> CardholderOut | None:
        """One cardholder without card numbers, or ``None``."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(cardholders).where(cardholders.c.holder_id == holder_id)).first()
            if row is None:
                return None
            flags = list(conn.execute(sa.select(directory_cards.c.withdrawn)
                                      .where(directory_cards.c.holder_id == holder_id)).scalars())
        return CardholderOut(id=row.holder_id, kind=row.kind, email=row.email, status=row.status,
                             groups=list(row.groups), cards=flags.count(False), withdrawn_cards=flags.count(True))

    def site_cards(self, site: str, groups: Iterable[str], now: datetime | None = None) -> tuple[SiteCards, str]:
        """The site's share of the directory as keyed hashes, and its ETag (equal content, equal tag).

        Every refused card (its holder's status, or withdrawn: lost), and the active cards of ``groups`` (those
        the site's spaces restrict to). Bounded to ``MAX_CARD_TAGS`` in all, refused cards first (lost, then
        blocked, then graduated), so the list fits in one kiosk's cfg; ``truncated`` says when it was cut."""
        wanted = set(groups)
        key = site_card_key(self.pseudonyms.subkey(_TAGS)[1], site)
        refused: dict[str, set[bytes]] = {s: set() for s in REFUSED}
        members: dict[str, set[bytes]] = {g: set() for g in sorted(wanted)}
        query = sa.select(directory_cards.c.holder_id, directory_cards.c.sealed, directory_cards.c.withdrawn,
                          cardholders.c.status, cardholders.c.groups) \
            .join(cardholders, cardholders.c.holder_id == directory_cards.c.holder_id)
        unopened = 0
        with self.db.read() as conn:
            for r in conn.execute(query):
                status = "lost" if r.withdrawn else r.status
                mine = wanted.intersection(r.groups) if status == "active" else set()
                if status == "active" and not mine:
                    continue
                card = self._seals.open(r.sealed, r.holder_id)
                if card is None:
                    unopened += 1
                    continue
                tag = tags.tag(key, card)
                if status != "active":
                    refused[status].add(tag)
                for group in mine:
                    members[group].add(tag)
        if unopened:
            log.warning("%d card(s) of the directory are sealed under a key no longer in the pseudonym key file: "
                        "they are left out of site %s's card list until imported again", unopened, site)
        budget, truncated = MAX_CARD_TAGS, False
        kept: dict[str, Any] = {}
        for name, found in [*refused.items(), *members.items()]:
            chosen = sorted(found)[:max(budget, 0)]
            truncated |= len(chosen) < len(found)
            budget -= len(chosen)
            kept[name] = tags.encode(chosen)
        body = {"refused": {s: kept[s] for s in REFUSED if kept[s]}, "groups": {g: kept[g] for g in members}}
        etag = '"' + hashlib.sha256(json.dumps([key.hex(), body, truncated]).encode()).hexdigest()[:32] + '"'
        return SiteCards(site=site, key=key.hex(), truncated=truncated, generated=now or datetime.now(UTC),
                         **body), etag
