"""What the gateway knows about its building right now, kept current from ingested events.

``derive`` runs inside each ingest batch's transaction: it updates occupancy and device health and returns
the alerts the batch raises, so alerts commit together with the events that caused them. ``after_batch``
runs after the commit and publishes what changed. ``tick`` runs every second: it notices silent devices,
closes forgotten sessions, and raises or clears the alerts that time alone causes. A device that comes back
(a birth, or any event) resolves its offline alert, as resolved by ``system``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway import alerts as rules
from gateway.alert_store import GatewayAlerts, insert_alerts
from gateway.authority import device_table
from gateway.devices import DeviceBook
from gateway.ingest import Accepted, StateSeen
from gateway.occupancy import AutoCheckout, OccupancyBook, is_open
from gateway.settings import GatewaySettings
from gateway.store import BatchResult, Store
from gateway.work_orders_desk import WorkOrderDesk
from onestop import presence as tags
from onestop import topics
from onestop.cards import SiteCards
from onestop.events import MAX_PACKET_BYTES, CheckData, FaultData, HeartbeatData, ReadingData
from onestop.mqtt import Message
from onestop.payloads import MAX_RESERVATIONS, AlertMessage, DeviceConfig, Occupancy, SpacePresence
from onestop.records import AlertRecord, DeviceHealth
from onestop.site import Reservation, SiteConfig, SpaceConfig

log = logging.getLogger(__name__)

PEOPLE_COUNT = "people_count"
CONFIG_MAX_BYTES = MAX_PACKET_BYTES - 1024  # room for the topic and the packet's header


def _at(received: float) -> datetime:
    return datetime.fromtimestamp(received, UTC)


def upcoming_reservations(reservations: list[Reservation], now: datetime, budget: int) -> list[dict]:
    """The reservations a kiosk can still use (not yet ended), soonest first, as wire dicts: at most
    ``MAX_RESERVATIONS`` and ``budget`` bytes of JSON.

    Past bookings are of no use to a kiosk, and sending them crowded out the ones it needs. The broker
    disconnects a client whose packet is too large, and the gateway would send it again on every reconnect.
    """
    live = sorted((r for r in reservations if _utc(r.end) > now), key=lambda r: _utc(r.start))
    kept, used = [], 0
    for reservation in live[:MAX_RESERVATIONS]:
        wire = reservation.model_dump(mode="json")
        used += len(json.dumps(wire, separators=(",", ":"))) + 1
        if used > budget:
            break
        kept.append(wire)
    return kept


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)  # times without an offset are UTC, as on the wire


class Building:
    """Occupancy, device health and alerts for one site."""

    def __init__(self, settings: GatewaySettings, store: Store, publish: Callable[[Message], None]) -> None:
        self.settings = settings
        self.store = store
        self._publish = publish
        self.device_id = settings.device_id
        self._lock = threading.RLock()
        self.config: SiteConfig = settings.site_config()
        self.device_table = device_table(self.config.devices)  # who may send what (gateway.authority)
        self.occupancy = OccupancyBook({s.id: s for s in self.config.spaces}, ZoneInfo(settings.timezone))
        self.devices = DeviceBook(timedelta(seconds=settings.health.offline_after_s),
                                  clock_tolerance_s=settings.health.clock_tolerance_s, last_seq=store.last_seqs())
        self.site_key = tags.load_site_key(settings.data_dir / "presence.key")  # see onestop.presence
        self.cards: SiteCards | None = None  # central's card list for this site (onestop.cards), when known
        self._changed: set[str] = set()
        self._back: set[str] = set()  # devices online again since the last batch was published
        self._alerts = GatewayAlerts(store)
        self.work_orders = WorkOrderDesk(settings.site, self.config.work_orders, store, self.site_key,
                                         self.device_space)
        self._restore()

    # -- start-up ----------------------------------------------------------------------------------------
    def _restore(self) -> None:
        """Rebuild occupancy by replaying recent presence events, and device health from the store."""
        longest = max((s.max_stay_h for s in self.config.spaces), default=12.0)
        since = datetime.now(UTC) - timedelta(hours=longest + 24)
        replay = OccupancyBook(self.occupancy.spaces, self.occupancy.timezone)
        for kind, data, received in self.store.presence_events(since.timestamp()):
            replay.apply(kind, data["space"], data["card"], _at(received))
        replay.anomalies.clear()  # counted when they first happened
        self.occupancy = replay
        for health in self.store.load_devices():
            status = self.devices._get(health.device)
            status.kind, status.fw, status.boot = health.kind, health.fw, health.boot
            status.last_seen, status.outbox, status.online = health.last_seen, health.outbox, False
            status.offline_since = datetime.now(UTC)

    def apply_config(self, config: SiteConfig) -> None:
        """A new site configuration (from central or the local file): spaces, devices, reservations."""
        with self._lock:
            self.config = config
            self.device_table = device_table(config.devices)
            self.work_orders.settings = config.work_orders  # the kiosks get its categories with the cfg below
            sessions = self.occupancy.sessions
            self.occupancy = OccupancyBook({s.id: s for s in config.spaces}, self.occupancy.timezone,
                                           {k: v for k, v in sessions.items() if k in {s.id for s in config.spaces}})
        for message in self.retained_messages():
            self._publish(message)

    def apply_cards(self, cards: SiteCards) -> None:
        """A new list of the site's refused and admitted cards: every kiosk's cfg carries its share."""
        with self._lock:
            self.cards = cards
        if cards.truncated:
            log.warning("the card list from central was bounded to what fits in a kiosk's configuration")
        for message in self.retained_messages():
            self._publish(message)

    # -- reads for the API and sync (under the book's lock, so no caller takes it) -------------------------
    def fleet(self, now: datetime | None = None) -> list[DeviceHealth]:
        """Every device's health now, by device id."""
        now = now or datetime.now(UTC)
        with self._lock:
            return sorted((s.health(now, self.device_space(s.device)) for s in self.devices.devices.values()),
                          key=lambda d: d.device)

    def occupancy_now(self) -> list[tuple[SpaceConfig, int, bool, float | None]]:
        """Each space with its card count, whether it is open now, and its latest people-counter reading."""
        with self._lock:
            book = self.occupancy
            local = datetime.now(UTC).astimezone(book.timezone)
            return [(s, book.count(s.id), is_open(s.hours, local), (book.sensor_counts.get(s.id) or (None,))[0])
                    for s in book.spaces.values()]

    def device_space(self, device: str) -> str | None:
        """The space a configured device serves, if any."""
        return next((d.space for d in self.config.devices if d.device == device), None)

    # -- messages to publish -------------------------------------------------------------------------
    def occupancy_message(self, space: str) -> Message:
        config = self.occupancy.spaces[space]
        sensor = self.occupancy.sensor_counts.get(space)
        body = Occupancy(space=space, count=self.occupancy.count(space), capacity=config.capacity,
                         ts=datetime.now(UTC), sensor_count=sensor[0] if sensor else None)
        return Message(topics.occupancy(self.settings.site, space),
                       body.model_dump_json(exclude_none=True).encode(), retain=True)

    def presence_message(self, space: str) -> Message:
        """The space's presence as keyed hashes: its kiosks decide from it, nobody can read a card from it."""
        key = tags.space_key(self.site_key, space)
        sessions = self.occupancy.sessions.get(space, {})
        newest = sorted(sessions, key=lambda card: sessions[card], reverse=True)[:tags.MAX_TAGS]
        if len(newest) < len(sessions):
            log.warning("presence of %s truncated to the %d newest of %d check-ins", space, len(newest),
                        len(sessions))
        upto = {d.device: self.devices.last_seq.get(d.device, 0) for d in self.config.devices
                if d.space == space and d.kind == "kiosk"}
        body = SpacePresence(space=space, key_id=tags.key_id(key), inside=tags.encode(tags.tag(key, c) for c in newest),
                             count=len(sessions), truncated=len(newest) < len(sessions), upto=upto,
                             ts=datetime.now(UTC))
        return Message(topics.presence(self.settings.site, space), body.model_dump_json().encode(), retain=True)

    def config_message(self, device: str, now: datetime | None = None) -> Message:
        entry = next(d for d in self.config.devices if d.device == device)
        space = self.occupancy.spaces.get(entry.space or "")
        mine = [r for r in self.config.reservations if r.space == entry.space]
        # Names in Chinese and today's opening hours, for the kiosk's screen (extra keys: DeviceConfig allows them).
        screen = {"display_name_zh": entry.display_name_zh or (space.name_zh if space else None),
                  "activity_name": entry.activity_name, "activity_name_zh": entry.activity_name_zh,
                  "hours": space.hours.model_dump(mode="json") if space else None}
        body = DeviceConfig(device=device, space=entry.space, mode=entry.kind,
                            display_name=entry.display_name or (space.name if space else None),
                            capacity=space.capacity if space else None,
                            space_name=space.name if space else None,
                            max_stay_h=space.max_stay_h if space else None, activity=entry.activity,
                            direction=entry.direction,
                            presence_key=tags.space_key(self.site_key, space.id).hex()
                            if space and entry.kind == "kiosk" else None,
                            cards=self.cards.for_space(space.groups)
                            if self.cards and space and entry.kind == "kiosk" else None,
                            thresholds=self.settings.thresholds.model_dump()
                            if entry.kind == "health-station" else None,
                            **{key: value for key, value in screen.items() if value},
                            **(self.work_orders.kiosk_section() if entry.kind != "sensor" else {}))
        bare = len(body.model_dump_json(exclude_none=True).encode())
        kept = upcoming_reservations(mine, now or datetime.now(UTC), CONFIG_MAX_BYTES - bare)
        if len(kept) < len(mine):
            log.info("configuration of %s carries %d of its space's %d reservations (current and upcoming, "
                     "soonest first, at most %d and what fits in one MQTT packet)", device, len(kept), len(mine),
                     MAX_RESERVATIONS)
        body.reservations = kept
        return Message(topics.cfg(self.settings.site, device), body.model_dump_json(exclude_none=True).encode(),
                       retain=True)

    def retained_messages(self) -> list[Message]:
        """Every retained message the gateway owns: each device's cfg, each space's occupancy and presence."""
        with self._lock:
            return ([self.config_message(d.device) for d in self.config.devices] +
                    [m for s in self.occupancy.spaces for m in (self.occupancy_message(s),
                                                                 self.presence_message(s))])

    @staticmethod
    def alert_message(site: str, record: AlertRecord) -> Message:
        # AlertMessage, not the record: a display's topic never carries the student's card (``subject``).
        body = AlertMessage.from_record(record).model_dump_json(exclude_none=True)
        return Message(topics.alert(site, record.team), body.encode())

    # -- per batch -----------------------------------------------------------------------------------
    def derive(self, conn: sqlite3.Connection, new: list[Accepted]) -> list[AlertRecord]:
        """Update the books from new events, in one pass (inside the batch's transaction, on the store's
        writer thread); stores the alerts they raise and returns them."""
        raised: list[AlertRecord] = []
        site, devices, occupancy = self.settings.site, self.devices, self.occupancy
        with self._lock:
            before = Counter(occupancy.anomalies) + devices.anomalies
            for item in new:
                env, at = item.envelope, _at(item.received)
                data = env.data
                if devices.seen(env.device, at, data.outbox if isinstance(data, HeartbeatData) else None,
                                seq=env.seq, sent=env.ts):
                    self._back.add(env.device)
                if isinstance(data, CheckData):
                    self._changed |= occupancy.apply(env.type, data.space, data.card, at)
                elif isinstance(data, ReadingData):
                    if data.code == PEOPLE_COUNT and data.space in occupancy.spaces \
                            and occupancy.sensor_reading(data.space, data.value, at):
                        self._changed.add(data.space)
                elif isinstance(data, FaultData):
                    raised.append(rules.device_fault_alert(site, env.device, data.component, at))
                elif env.type == "screening":
                    raised += rules.screening_alerts(site, env, self.settings.thresholds, at,
                                                     self.device_space(env.device))
            for space in self._changed:
                alert = rules.over_capacity_alert(site, space, occupancy.count(space),
                                                  occupancy.spaces[space].capacity, datetime.now(UTC))
                if alert:
                    raised.append(alert)
            counts = (Counter(occupancy.anomalies) + devices.anomalies) - before
        for name, value in counts.items():
            Store.bump(conn, name, value)
        self.work_orders.derive(conn, new, _at)
        return insert_alerts(conn, raised, self.store.sealer)

    def after_batch(self, result: BatchResult, states: list[StateSeen]) -> None:
        """Publish what the committed batch changed."""
        with self._lock:
            for seen in states:
                if self.devices.state_message(seen.device, seen.state, _at(seen.received)) and seen.state.online:
                    self._back.add(seen.device)
            changed, self._changed = self._changed, set()
            back, self._back = self._back, set()
            messages = [m for space in sorted(changed) for m in (self.occupancy_message(space),
                                                                  self.presence_message(space))]
        self.resolve_offline(sorted(back))
        if result.new:
            self.work_orders.committed()  # (the ticker's results have no new events: see WorkOrderDesk)
        if self.work_orders.take_changed():  # students follow their requests on every kiosk's cfg
            with self._lock:
                messages += [self.config_message(d.device) for d in self.config.devices if d.kind != "sensor"]
        for message in messages:
            self._publish(message)
        self.publish_alerts(result.alerts)

    def resolve_offline(self, devices: list[str]) -> None:
        """Devices are online again: their offline alerts are resolved by the system, and displays told."""
        resolved = self._alerts.resolve_open([rules.device_offline_key(d) for d in devices], rules.SYSTEM,
                                             datetime.now(UTC))
        for record in resolved:
            self._publish(self.alert_message(self.settings.site, record))
            log.info("alert %s for device %s resolved: the device is online again", record.rule, record.device)
        self.work_orders.back_online(devices)

    def publish_alerts(self, records: list[AlertRecord]) -> None:
        """Send alerts to their teams' topics (urgent first)."""
        for record in sorted(records, key=lambda r: rules.URGENT_FIRST[r.severity]):
            self._publish(self.alert_message(self.settings.site, record))
            # Rule and team only: the summary may name a space, the subject is personal data.
            log.warning("alert %s raised for team %s (%s)", record.rule, record.team, record.severity)

    # -- every second ----------------------------------------------------------------------------------
    def close_sessions(self, due: list[AutoCheckout], now: datetime) -> int:
        """Record automatic check-outs of sessions still open; returns how many were recorded.

        A tap-out may be ingested between ``due_checkouts`` and here. So each one is checked again and stored
        in one write, which takes the book's lock on the writer thread, as ingest's ``derive`` does. (Nothing
        may wait for the writer while holding the book's lock.)
        """
        return sum(self.store.write_fn(lambda conn, auto=auto: self._close_one(conn, auto, now)) for auto in due)

    def _close_one(self, conn: sqlite3.Connection, auto: AutoCheckout, now: datetime) -> int:
        with self._lock:
            if not self.occupancy.still_open(auto):
                Store.bump(conn, "auto-checkout-overtaken")
                return 0
            item = self.store.insert_own_event(conn, self.device_id, "checkout", {
                "space": auto.space, "card": auto.card, "via": "auto", "reservation": None}, now.timestamp())
            self._changed |= self.occupancy.apply("checkout", auto.space, auto.card, _at(item.received))
            return 1

    def tick(self, now: datetime | None = None) -> None:
        """Silence, forgotten sessions, and alerts that time causes."""
        now = now or datetime.now(UTC)
        with self._lock:
            for device in self.devices.silent(now):
                log.info("device %s is offline (silent)", device)
            due = self.occupancy.due_checkouts(now)
        self.close_sessions(due, now)
        late = timedelta(minutes=self.settings.health.offline_alert_min)
        raised, gone = [], {}
        with self._lock:
            for device in list(self.devices.devices):
                away = self.devices.offline_for(device, now)
                if away is not None and away > late:
                    raised.append(rules.device_offline_alert(self.settings.site, device, away.total_seconds() / 60,
                                                             now))
                    gone[device] = away.total_seconds() / 60
        raised = self._alerts.insert(raised)
        self.work_orders.offline(gone, now)
        self.work_orders.calibration(self.config.devices, now.astimezone(self.occupancy.timezone).date(), now)
        self.work_orders.escalate(now)
        self.after_batch(BatchResult([], 0, 0, raised), [])
