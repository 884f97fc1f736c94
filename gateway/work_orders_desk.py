"""Where work orders meet the running gateway (docs/work-orders.md): requests and device problems from each
ingest batch, offline devices from the ticker, recoveries, and what the kiosks are told.

The decisions are in ``gateway.work_orders`` (no I/O), the SQL in ``gateway.work_order_store``; this class
only connects them to the building's events. Requests are routed here, at the gateway, so they are
accepted and reach their department while the WAN is down.

Device problems, one open order per device and problem (``device_key``):
- ``fault:{component}``: a ``fault`` event; closed when the device's heartbeat no longer lists the component
  among its ``faults`` (a kiosk sends a heartbeat at once when a component recovers);
- ``offline``: silent past ``offline_alert_min`` (as the alert); closed when the device is heard again;
- ``calibration:{component}``: a health station's device past its ``calibration_due`` date (site
  configuration, checked once a minute in the building's time zone); closed when a later date is configured.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from gateway import work_order_store as sql
from gateway.ingest import Accepted
from gateway.store import Store
from gateway.work_order_store import GatewayWorkOrders
from gateway.work_orders import SYSTEM, device_key, for_device, from_request, move
from onestop.events import FaultData, HeartbeatData, RequestData
from onestop.site import DeviceEntry
from onestop.work_orders import WorkOrderRecord, WorkOrderSettings, requester_key, requester_tag

log = logging.getLogger(__name__)
CALIBRATION_EVERY = timedelta(minutes=1)
MAX_OPEN_REQUESTS_PER_DEVICE = 30  # unfinished requests from one kiosk; beyond, requests are counted, not opened


def _fault_key(device: str, component: str) -> str:
    return device_key(device, f"fault:{component[:48]}")


class WorkOrderDesk:
    """One site's work orders, fed by the building."""

    def __init__(self, site: str, settings: WorkOrderSettings, store: Store, site_key: bytes,
                 device_space: Callable[[str], str | None]) -> None:
        self.site = site
        self.settings = settings
        self.orders = GatewayWorkOrders(store)
        self.key = requester_key(site_key)
        self._device_space = device_space
        self._changed = threading.Event()  # kiosks' cfg (the students' statuses) must be published again
        self._pending = False  # changed inside an ingest batch's transaction, not yet committed
        self._statuses: list[dict[str, str]] | None = None
        self._calibration_checked: datetime | None = None

    # -- inside an ingest batch's transaction ----------------------------------------------------------------
    def derive(self, conn: sqlite3.Connection, new: Sequence[Accepted], at: Callable[[float], datetime]) -> None:
        """Open orders for new requests and faults; close fault orders whose component a heartbeat says works."""
        for item in new:
            env, data = item.envelope, item.envelope.data
            when = at(item.received)
            if isinstance(data, RequestData):
                if sql.open_requests(conn, env.device) >= MAX_OPEN_REQUESTS_PER_DEVICE:
                    # A stolen or broken kiosk must not bury a department: the event is kept, no order opened.
                    Store.bump(conn, "work-orders-refused:too-many-open")
                    log.warning("request from %s opens no work order: %d of its requests are open",
                                env.device, MAX_OPEN_REQUESTS_PER_DEVICE)
                    continue
                record = from_request(self.site, env, self.settings, when)
                tag = requester_tag(self.key, data.card) if data.card else None
                if record is not None and sql.insert(conn, record, requester=tag):
                    self._opened(record, committed=False)
            elif isinstance(data, FaultData):
                record = for_device(self.site, env.device, f"fault:{data.component}",
                                    f"{env.device}: {data.component[:60]} not working", self.settings, when,
                                    self._device_space(env.device))
                if sql.insert(conn, record, _fault_key(env.device, data.component)):
                    self._opened(record, committed=False)
            elif isinstance(data, HeartbeatData) and isinstance((data.model_extra or {}).get("faults"), str):
                failing = {c for c in str(data.model_extra["faults"]).split(",") if c}  # type: ignore[index]
                self._recovered(conn, env.device, failing, when)

    def _recovered(self, conn: sqlite3.Connection, device: str, failing: set[str], at: datetime) -> None:
        prefix = device_key(device, "fault:")
        rows = conn.execute("SELECT key, record FROM work_orders WHERE key >= ? AND key < ? "
                            "AND state NOT IN ('done', 'rejected')", (prefix, prefix + "\uffff")).fetchall()
        keep = {_fault_key(device, c) for c in failing}
        for key, text in rows:
            if key in keep:
                continue
            record = move(WorkOrderRecord.model_validate_json(text), "done", SYSTEM, at,
                          note="the device reports the component working again")
            sql._update(conn, record)
            self._pending = True
            log.info("work order %s for %s closed: %s works again", record.id, device, record.problem)

    def committed(self) -> None:
        """The ingest batch whose ``derive`` changed orders is committed: the kiosks may be told now (telling
        them earlier would publish statuses read before the commit, and then nothing until the next change)."""
        if self._pending:
            self._pending = False
            self._changed.set()

    def _opened(self, record: WorkOrderRecord, committed: bool = True) -> None:
        if committed:
            self._changed.set()
        else:
            self._pending = True
        # Category and department only: never the card, the note is the student's.
        log.info("work order %s opened: %s for %s", record.id, record.category, record.department)

    # -- from the ticker and the building -----------------------------------------------------------------
    def offline(self, devices: dict[str, float], now: datetime) -> list[WorkOrderRecord]:
        """Devices silent past their limit (minutes away): one technicians' order each."""
        opened = self.orders.insert([
            (for_device(self.site, device, "offline", f"{device} offline for {minutes:.0f} min", self.settings, now,
                        self._device_space(device)), device_key(device, "offline"))
            for device, minutes in devices.items()])
        for record in opened:
            self._opened(record)
        return opened

    def calibration(self, devices: Sequence[DeviceEntry], today: date, now: datetime) -> None:
        """Open an order for each device past its calibration date; close those no longer due."""
        if self._calibration_checked is not None and now - self._calibration_checked < CALIBRATION_EVERY:
            return
        self._calibration_checked = now
        due = {device_key(d.device, f"calibration:{component}"): (d, component, when)
               for d in devices for component, when in d.calibration_due.items() if when <= today}
        opened = self.orders.insert([
            (for_device(self.site, d.device, f"calibration:{component}",
                        f"{d.device}: {component} due for calibration since {when.isoformat()}", self.settings, now,
                        d.space), key) for key, (d, component, when) in due.items()])
        for record in opened:
            self._opened(record)
        stale = [k for k in self.orders.open_keys_with(":calibration:") if k not in due]
        if self.orders.close_open(stale, now, "calibrated: a later calibration date is configured"):
            self._changed.set()

    def escalate(self, now: datetime) -> None:
        """Orders past a target: escalated once per order and target, recorded (gateway/work_order_store.py)."""
        for record in self.orders.escalate(now):
            self._changed.set()
            log.warning("work order %s (%s) escalated: past its target", record.id, record.department)

    def back_online(self, devices: Sequence[str]) -> list[WorkOrderRecord]:
        """Devices heard again: their offline orders are done."""
        closed = self.orders.close_open([device_key(d, "offline") for d in devices], datetime.now(UTC),
                                        "the device is online again")
        if closed:
            self._changed.set()
        return closed

    def save(self, record: WorkOrderRecord, expected: datetime) -> bool:
        """A person changed an order (API); False when someone else changed it first."""
        saved = self.orders.save(record, expected)
        if saved:
            self._changed.set()
        return saved

    # -- what the kiosks are told ------------------------------------------------------------------------
    def take_changed(self) -> bool:
        """Whether the kiosks' statuses changed since the last call (then their cfg is published again)."""
        if self._changed.is_set():
            self._changed.clear()
            self._statuses = None
            return True
        return False

    def kiosk_section(self) -> dict[str, object]:
        """The cfg keys of a kiosk's request screens: categories, the tag key, and recent statuses."""
        if self._statuses is None:
            self._statuses = self.orders.statuses(datetime.now(UTC))
        return {"request_categories": [c.model_dump(include={"id", "label", "label_zh"})
                                       for c in self.settings.categories],
                "request_key": self.key.hex(), "requests": self._statuses}
