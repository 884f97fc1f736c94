"""Occupancy, utilisation and forecast of spaces: the store's events fed through the pure cores.

The thin shell between ``CentralStore`` and ``occupancy`` / ``utilisation`` / ``forecast``: it picks the
time windows (replaying from ``max_stay`` before the window, see ``central.occupancy``), maps stored events
to ``CheckEvent`` and readings, and looks up each space's capacity, hours and maximum stay in the site
configurations.

Only the spaces a site's stored configuration declares exist here: events naming any other space are kept
(and counted at ingest) but never make a space appear, so a hostile or misconfigured device cannot add
phantom spaces to the campus's occupancy lists or analytics.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from central.errors import NotFoundError, RequestError
from central.forecast import Forecast, ModelParameters, forecast
from central.occupancy import Bucket, CheckEvent, Span, boundaries, reading_stats, replay, spans
from central.store import CentralStore, StoredEvent
from central.timerange import MAX_BUCKETS, check_span
from central.utilisation import Utilisation, utilisation
from onestop.site import SpaceConfig

DEFAULT_MAX_STAY = timedelta(hours=12)
PEOPLE_COUNT = "people_count"


@dataclass(frozen=True, slots=True)
class SpaceHistory:
    """A space's bucketed occupancy with the people-counter readings beside it."""

    site: str
    space: SpaceConfig | None
    spans: list[Span]
    readings: list[tuple[float, float] | None]


def check_events(events: list[StoredEvent]) -> list[CheckEvent]:
    """Check-ins and check-outs as the occupancy core wants them."""
    return [CheckEvent(e.at, "in" if e.type == "checkin" else "out", e.data["card"])
            for e in events if e.type in ("checkin", "checkout")]


def people_counts(events: list[StoredEvent]) -> list[tuple[datetime, float]]:
    """People-counter readings (``code == "people_count"``)."""
    return [(e.at, float(e.data["value"])) for e in events
            if e.type == "reading" and e.data.get("code") == PEOPLE_COUNT]


class Analytics:
    """Answers the occupancy, utilisation and forecast questions for one store and campus calendar."""

    def __init__(self, store: CentralStore, zone: ZoneInfo, exam_days: frozenset[date]) -> None:
        self.store = store
        self.zone = zone
        self.exam_days = exam_days

    def space(self, site: str, space: str) -> SpaceConfig | None:
        """The configured space, or ``None`` if central has no configuration for it."""
        stored = self.store.configs.get(site)
        if stored is None:
            return None
        return next((s for s in stored.model().spaces if s.id == space), None)

    def _require(self, site: str, space: str) -> SpaceConfig:
        config = self.space(site, space)
        if config is None:
            raise NotFoundError(f"no space {space!r} in site {site!r}'s configuration")
        return config

    def history(self, site: str, space: str, start: datetime, end: datetime, bucket: Bucket) -> SpaceHistory:
        """Peak and mean occupancy per bucket in ``[start, end)``, with people-count readings."""
        check_span(start, end, bucket)  # before any edge is computed: a 1000-year range is refused at once
        config = self._require(site, space)
        edges = boundaries(start, end, bucket, self.zone)
        if len(edges) - 1 > MAX_BUCKETS:
            raise RequestError(f"at most {MAX_BUCKETS} buckets per request; narrow the range or use days")
        max_stay = timedelta(hours=config.max_stay_h)
        events = self.store.space_events(site, space, edges[0] - max_stay, edges[-1])
        steps = replay(check_events(events), max_stay, until=edges[-1])
        readings = [(at, v) for at, v in people_counts(events) if at >= edges[0]]
        return SpaceHistory(site, config, spans(steps, edges), reading_stats(readings, edges))

    def utilisation(self, site: str, space: str, start: datetime, end: datetime) -> Utilisation:
        """Open hours nearly empty and over 90 % full in ``[start, end)``."""
        config = self._require(site, space)
        history = self.history(site, space, start, end, "hour")
        return utilisation(history.spans, config.capacity, config.hours, self.zone)

    def forecast(self, site: str, space: str, origin: datetime, weeks: int = 8) -> tuple[Forecast, SpaceConfig | None]:
        """Expected hourly peaks for the 7 days from ``origin`` (rounded down to the hour)."""
        origin = origin.astimezone(self.zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        self._require(site, space)
        # Hours before the space's first event are unknown, not empty: leave them out of the history.
        first = self.store.first_event_at(site, space)
        start = max(origin - timedelta(weeks=weeks), first or origin)
        history = self.history(site, space, start, origin, "hour") if start < origin else \
            SpaceHistory(site, self.space(site, space), [], [])
        capacity = history.space.capacity if history.space else None
        made = forecast([(s.start, float(s.peak)) for s in history.spans], origin, self.zone, self.exam_days,
                        capacity=capacity, params=ModelParameters(weeks=weeks))
        return made, history.space

    def now(self, at: datetime) -> list[dict[str, object]]:
        """Occupancy of every configured space at ``at``."""
        configs = self.store.configs.all()
        spaces: dict[tuple[str, str], SpaceConfig] = {
            (site, sp.id): sp for site, config in configs.items() for sp in config.spaces}
        longest = max([timedelta(hours=sp.max_stay_h) for sp in spaces.values()] + [DEFAULT_MAX_STAY])
        per_space: dict[tuple[str, str], list[StoredEvent]] = defaultdict(list)
        for event in self.store.check_events_since(at - longest, at + timedelta(microseconds=1)):
            if (event.site, event.space or "") in spaces:
                per_space[(event.site, event.space or "")].append(event)
        latest: dict[tuple[str, str], float] = {}
        for event in self.store.readings_since(at - timedelta(hours=1), at + timedelta(microseconds=1)):
            if event.data.get("code") == PEOPLE_COUNT and event.space:
                latest[(event.site, event.space)] = float(event.data["value"])
        out = []
        for (site, space_id), config in sorted(spaces.items()):
            max_stay = timedelta(hours=config.max_stay_h)
            events = [e for e in per_space[(site, space_id)] if e.at >= at - max_stay]
            steps = replay(check_events(events), max_stay, until=at)
            out.append({"site": site, "space": space_id, "name": config.name,
                        "name_zh": config.name_zh, "count": steps[-1].count if steps else 0,
                        "capacity": config.capacity, "people_count": latest.get((site, space_id))})
        return out
