"""Who is told about an alert, and what they are told: settings and decisions, no I/O.

Shared by the gateway (which notifies at once, so LAN targets work with the WAN down) and central (which
notifies campus-wide targets and escalates urgent alerts nobody acknowledged). Sending is the Apprise
adapter's (``onestop/notify_sender.py``); queueing and recording attempts are each component's store's.

Targets are Apprise URLs (``mailtos://``, ``wecombot://``, ``json://`` ...). A URL may carry a password or a
bot key, so it is held as a secret, may be read from ``url_file`` instead, and never appears in a log, a
database or a metric: a target is known everywhere by its ``name``.

A message names the rule, the place, the time and a link; it never carries a card number, a measured value
or an answer. ``compose`` builds it from the alert's fields that hold none of those (``summary`` is written
without values by ``onestop.clinical``) and never reads ``subject``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator

from onestop.backoff import retry_delay
from onestop.events import as_utc
from onestop.records import SEVERITY_ORDER, AlertRecord, Severity, Team
from onestop.settings import Section

TARGET_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# The teams a target may serve: the alerts' teams and student affairs, which gets work orders only (noise,
# "other": onestop/work_orders.py). A site's own department notifies one of these teams (its ``team``).
NotifyTeam = Literal[Team, "student-affairs"]
MAX_TIER = 5
DETAIL_MAX = 300  # characters of a failure's reason kept with an attempt


class NotifyTarget(Section):
    """One ``[[notify]]`` entry: a team's notification target (an Apprise URL)."""

    team: NotifyTeam = Field(description="whose alerts and work orders go here: clinic, counselling, facilities, "
                                         "technicians or student-affairs (work orders only)")
    url: SecretStr | None = Field(None, description="Apprise URL (mailtos://, wecombot://, json:// ...); it may "
                                                    "hold a password: keep the file 0600, or use url_file")
    url_file: Path | None = Field(None, description="file holding the Apprise URL (one line, mode 0600) instead "
                                                    "of `url`")
    name: str | None = Field(None, pattern=TARGET_NAME_PATTERN,
                             description="what logs, attempts and metrics call this target (the URL never "
                                         "appears there); default: TEAM-N-SCHEME")
    severity: Severity = Field("notice", description="the least severe alert sent here (urgent, follow-up, "
                                                     "notice)")
    tier: int = Field(0, ge=0, le=MAX_TIER,
                      description="0: told when the alert is raised; 1, 2 ...: central's escalation tiers, told "
                                  "when an urgent alert stays unacknowledged; a gateway tells tier 1 of overdue work "
                                  "orders only")

    @field_validator("url_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @model_validator(mode="after")
    def _one_url(self) -> NotifyTarget:
        if (self.url is None) == (self.url_file is None):
            raise ValueError("give exactly one of url and url_file")
        self.secret_url()  # readable and an Apprise URL, checked at start-up
        return self

    def secret_url(self) -> str:
        """The Apprise URL (read from ``url_file`` if so configured)."""
        if self.url is not None:
            url = self.url.get_secret_value().strip()
        else:
            assert self.url_file is not None
            try:
                url = self.url_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"url_file {self.url_file} cannot be read: {exc.strerror}") from exc
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme.isascii() or not scheme.replace("+", "").isalnum() or not rest:
            raise ValueError("not an Apprise URL (SCHEME://...)")
        return url

    @property
    def scheme(self) -> str:
        return self.secret_url().partition("://")[0].lower()

    def accepts(self, record: AlertRecord) -> bool:
        """Whether this target wants ``record`` (its team, and at least its severity)."""
        return record.team == self.team and SEVERITY_ORDER[record.severity] <= SEVERITY_ORDER[self.severity]


def _escalating_teams() -> dict[Team, float]:
    return {"clinic": 10.0, "counselling": 10.0}


class NotificationSettings(Section):
    """How notifications are sent and retried (``[notifications]``)."""

    public_url: str | None = Field(None, max_length=300, pattern=r"^https?://",
                                   description="the dashboard's address as staff reach it, for the link in each "
                                               "message; default: this service's own http address")
    attempts: int = Field(8, ge=1, le=100, description="tries per target before giving up (each one recorded)")
    retry_base_s: float = Field(5.0, gt=0, le=3600, description="wait after the first failure, doubled each time")
    retry_cap_s: float = Field(600.0, gt=0, description="longest wait between tries")
    timeout_s: float = Field(15.0, gt=0, le=120, description="longest one try may take")
    escalate_after_min: dict[Team, float] = Field(
        default_factory=_escalating_teams,
        description="central: minutes an urgent alert may stay unacknowledged before each next escalation "
                    "tier is told, per team (fractions allowed); a team not listed is not escalated")

    @field_validator("escalate_after_min")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [team for team, minutes in value.items() if not (minutes > 0 and math.isfinite(minutes))]
        if bad:
            raise ValueError(f"minutes must be positive: {', '.join(bad)}")
        return value


def named(targets: list[NotifyTarget]) -> list[NotifyTarget]:
    """``targets`` each with a name (``TEAM-N-SCHEME`` when none was given); names must be unique."""
    out, counts = [], dict[str, int]()
    for target in targets:
        counts[target.team] = counts.get(target.team, 0) + 1
        name = target.name or f"{target.team}-{counts[target.team]}-{target.scheme}"[:64]
        out.append(target.model_copy(update={"name": name}))
    names = [t.name or "" for t in out]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"notify target names must be unique: {', '.join(duplicates)}")
    return out


def targets_for(record: AlertRecord, targets: list[NotifyTarget], tier: int = 0) -> list[NotifyTarget]:
    """The targets of ``tier`` that want ``record``."""
    return [t for t in targets if t.tier == tier and t.accepts(record)]


def due_tier(record: AlertRecord, now: datetime, after_min: float | None, max_tier: int) -> int:
    """The highest escalation tier ``record`` has reached by ``now``: 0 unless it is urgent, still open
    (nobody acknowledged or resolved it) and its team escalates; then one tier per ``after_min`` minutes
    since it was raised, up to ``max_tier``."""
    if record.severity != "urgent" or record.status != "open" or after_min is None or max_tier <= 0:
        return 0
    waited = (now - as_utc(record.raised_at)) / timedelta(minutes=after_min)
    return max(0, min(max_tier, math.floor(waited)))


def next_try(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after ``attempts`` failed tries (onestop/backoff.py's doubling, unjittered: one
    target's tries are few and never in step with anyone's)."""
    return retry_delay(attempts - 1, base=base, cap=cap)


def retry_in(tries: int, options: NotificationSettings) -> float | None:
    """After ``tries`` failed tries of one delivery: seconds until the next, or None when all ``attempts``
    are spent (the gateway's and central's notifiers both decide by this)."""
    if tries >= options.attempts:
        return None
    return next_try(tries, options.retry_base_s, options.retry_cap_s)


@dataclass(frozen=True, slots=True)
class Place:
    """Where the alert is, in words: the building (site), its space's name, the station or device."""

    site: str
    site_name: str | None = None
    space_name: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """What one target is told."""

    title: str
    body: str


SEVERITY_WORDS = {"urgent": "URGENT", "follow-up": "Follow-up", "notice": "Notice"}


def compose(record: AlertRecord, place: Place, zone: ZoneInfo, link: str | None, tier: int = 0) -> Message:
    """The message for ``record``: rule, place, time (the site's local time and UTC) and a link.

    Deliberately built from named fields only: ``subject`` (the card), values and answers are never read.
    """
    raised = as_utc(record.raised_at)
    local = raised.astimezone(zone)
    building = place.site_name or place.site
    where = [f"building {building}"]
    if record.space:
        where.append(f"space {place.space_name or record.space}"
                     + (f" ({record.space})" if place.space_name and place.space_name != record.space else ""))
    if record.device:
        where.append(f"station/device {record.device}")
    escalation = f" (escalation tier {tier}: not acknowledged)" if tier else ""
    title = f"[{SEVERITY_WORDS[record.severity]}] {record.rule} at {building}{escalation}"
    lines = [
        record.summary,
        f"Rule: {record.rule} ({record.severity}, team {record.team})",
        f"Where: {', '.join(where)}",
        f"When: {local:%Y-%m-%d %H:%M:%S} {zone.key} ({raised:%Y-%m-%d %H:%M:%S} UTC)",
        f"Status: {record.status}",
    ]
    if link:
        lines.append(f"Open: {link}")
    lines.append(f"Alert id: {record.id}")
    return Message(title, "\n".join(lines))


def alert_link(public_url: str | None, alert_id: str) -> str | None:
    """The dashboard's link to one alert (the dashboard asks for a sign-in; the link holds no token)."""
    return f"{public_url.rstrip('/')}/#alert={alert_id}" if public_url else None


def scrub(detail: str, secrets: list[str]) -> str:
    """A failure's reason, bounded, with every secret URL (and its credentials part) cut out."""
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "<url>")
            rest = secret.partition("://")[2]  # a bot key may be the whole rest (wecombot://KEY)
            credentials = rest.partition("@")[0] if "@" in rest else ""
            for part in (rest.rstrip("/"), credentials):
                if len(part) >= 6:
                    detail = detail.replace(part, "<secret>")
    return " ".join(detail.split())[:DETAIL_MAX]

