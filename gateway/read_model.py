"""What the local API may know of a running gateway: a narrow read model.

The routes (``gateway.routes``) see only ``ReadModel``: answers, not the building's lock, the receiver's
client or the syncer. ``GatewayReads`` is the one implementation, built by ``gateway.service`` from the
gateway's parts. Its one write is an alert's lifecycle change (acknowledge, resolve, assign), which goes through
the alert store to the database's one writer like every other write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel

from gateway.alert_store import GatewayAlerts
from gateway.building import Building
from gateway.store import Store
from onestop.records import AlertRecord, DeviceHealth
from onestop.work_orders import WorkOrderRecord


class SpaceNow(BaseModel):
    """A space right now."""

    id: str
    name: str
    name_zh: str = ""
    count: int
    capacity: int
    open: bool
    sensor_count: float | None = None


class SyncStatus(BaseModel):
    """The link to central and what waits for it."""

    central: str
    last_success: datetime | None
    backlog: int
    synced: int
    alerts_unsynced: int
    dead_letters: int
    dropped: dict[str, int]


class ReadModel(Protocol):
    """The reads the local API's routes need, and the alert changes they make."""

    site: str

    def broker_connected(self) -> bool: ...
    def receiver_restarts(self) -> int: ...
    def tick_failures(self) -> int: ...
    def central_state(self) -> str: ...
    def spaces(self) -> list[SpaceNow]: ...
    def devices(self) -> list[DeviceHealth]: ...
    def sync_status(self) -> SyncStatus: ...
    def stats(self) -> dict[str, int | dict[str, int]]: ...
    def counters(self) -> dict[str, int]: ...
    def dead_letters(self, limit: int) -> list[tuple[str, str, str, str, float]]: ...
    def quarantined(self, limit: int) -> list[tuple[int, str, str, str, int, float]]: ...
    def alerts(self, teams: Sequence[str], status: str | None, limit: int) -> list[AlertRecord]: ...
    def alert(self, alert_id: str) -> AlertRecord | None: ...
    def open_alerts_by_severity(self) -> dict[str, int]: ...
    def urgent_by_team(self) -> dict[str, int]: ...
    def save_alert(self, record: AlertRecord) -> AlertRecord: ...
    def alert_lifecycles(self, since: datetime | None) -> list[AlertRecord]: ...
    def work_orders(self, visible: Callable[[str], bool], department: str | None, state: str | None,
                    limit: int) -> list[WorkOrderRecord]: ...
    def work_order(self, order_id: str) -> WorkOrderRecord | None: ...
    def save_work_order(self, record: WorkOrderRecord, expected: datetime) -> bool: ...


@dataclass
class GatewayReads:
    """``ReadModel`` over a gateway's parts."""

    site: str
    store: Store
    alert_store: GatewayAlerts
    building: Building
    connected: Callable[[], bool]
    restarts: Callable[[], int]
    failures: Callable[[], int]
    central: Callable[[], str]
    last_sync: Callable[[], float | None]

    def broker_connected(self) -> bool:
        return self.connected()

    def receiver_restarts(self) -> int:
        return self.restarts()

    def tick_failures(self) -> int:
        return self.failures()

    def central_state(self) -> str:
        return self.central()

    def spaces(self) -> list[SpaceNow]:
        return [SpaceNow(id=s.id, name=s.name or s.id, name_zh=s.name_zh, count=count, capacity=s.capacity,
                         open=open_now, sensor_count=sensor)
                for s, count, open_now, sensor in self.building.occupancy_now()]

    def devices(self) -> list[DeviceHealth]:
        return self.building.fleet()

    def sync_status(self) -> SyncStatus:
        stats = self.store.stats()
        last = self.last_sync()
        return SyncStatus(central=self.central(), backlog=stats["backlog"], synced=stats["synced"],  # type: ignore[arg-type]
                          last_success=datetime.fromtimestamp(last, UTC) if last else None,
                          alerts_unsynced=self.alert_store.unsynced_count(),
                          dead_letters=stats["dead_letters"], dropped=stats["dropped"])  # type: ignore[arg-type]

    def stats(self) -> dict[str, int | dict[str, int]]:
        return self.store.stats()

    def counters(self) -> dict[str, int]:
        return self.store.counters()

    def dead_letters(self, limit: int) -> list[tuple[str, str, str, str, float]]:
        return self.store.dead_letters(limit)

    def quarantined(self, limit: int) -> list[tuple[int, str, str, str, int, float]]:
        return self.store.quarantined(limit)

    def alerts(self, teams: Sequence[str], status: str | None, limit: int) -> list[AlertRecord]:
        return self.alert_store.list(teams, status, limit)

    def alert(self, alert_id: str) -> AlertRecord | None:
        return self.alert_store.get(alert_id)

    def open_alerts_by_severity(self) -> dict[str, int]:
        return self.alert_store.counts()

    def urgent_by_team(self) -> dict[str, int]:
        return self.alert_store.urgent_by_team()

    def save_alert(self, record: AlertRecord) -> AlertRecord:
        return self.alert_store.save(record)

    def alert_lifecycles(self, since: datetime | None) -> list[AlertRecord]:
        return self.alert_store.lifecycle(since)

    def work_orders(self, visible: Callable[[str], bool], department: str | None, state: str | None,
                    limit: int) -> list[WorkOrderRecord]:
        return self.building.work_orders.orders.find(visible, department, state, limit)

    def work_order(self, order_id: str) -> WorkOrderRecord | None:
        return self.building.work_orders.orders.get(order_id)

    def save_work_order(self, record: WorkOrderRecord, expected: datetime) -> bool:
        return self.building.work_orders.save(record, expected)
