"""Work orders' notices, for the gateway's notifier (docs/work-orders.md, "Notifications and escalation").

A new order tells its department's team; an order past a target tells the team's escalation tier once. Both
are queued as ``wo:{order id}:{kind}`` rows of the notification queue in the transaction that opens or
escalates the order (``gateway.work_order_store``); the notifier plans, sends, retries and records them like
alerts' notices, through this one hook. Which targets: those of the department's ``team`` (its id unless
configured) — tier 0 for a new order, tier 1 for an escalation (tier 0 again when the team has no tier 1);
a new order counts as a notice and an escalation as a follow-up against each target's ``severity``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

from gateway.work_order_store import GatewayWorkOrders
from gateway.work_orders import compose_notice, notice_stale, parse_notice_key, work_order_link
from onestop.notifications import Message, NotifyTarget
from onestop.records import SEVERITY_ORDER
from onestop.work_orders import WorkOrderSettings


class WorkOrderNotices:
    """Targets and messages of work orders' notices."""

    def __init__(self, site: str, orders: GatewayWorkOrders, settings: Callable[[], WorkOrderSettings]) -> None:
        self.site = site
        self.orders = orders
        self.settings = settings  # the building's current categories and departments (central may change them)

    @staticmethod
    def owns(key: str) -> bool:
        return parse_notice_key(key) is not None

    def plan(self, key: str, targets: Mapping[str | None, NotifyTarget]) -> list[str]:
        """The names of the targets to tell (none: the order is gone, or its team has no target)."""
        parsed = parse_notice_key(key)
        record = self.orders.get(parsed[0]) if parsed else None
        if parsed is None or record is None:
            return []
        settings = self.settings()
        try:
            team = settings.department(record.department).notify_team
        except KeyError:
            team = record.department
        severity = SEVERITY_ORDER["notice" if parsed[1] == "new" else "follow-up"]
        mine = [t for t in targets.values() if t.team == team and SEVERITY_ORDER[t.severity] >= severity]
        tier = 0 if parsed[1] == "new" or not any(t.tier == 1 for t in mine) else 1
        return [t.name for t in mine if t.tier == tier and t.name]

    def message(self, key: str, public_url: str | None, zone: ZoneInfo,
                space_names: Callable[[], dict[str, str]]) -> tuple[Message | None, str | None, str]:
        """``(message, why not, label for logs)``: why not when the notice is no longer wanted."""
        parsed = parse_notice_key(key)
        label = f"work order notice {key}"
        if parsed is None:
            return None, "not a work order notice", label
        order_id, kind = parsed
        record = self.orders.get(order_id)
        why = notice_stale(record, kind)
        if why is not None or record is None:
            return None, why, label
        settings = self.settings()
        category = next((c.label for c in settings.categories if c.id == record.category), record.category)
        department = next((d.name or d.id for d in settings.departments if d.id == record.department),
                          record.department)
        space = space_names().get(record.space) if record.space else None
        return (compose_notice(record, kind, category, department, self.site, space, zone,
                               work_order_link(public_url, record.id)), None,
                f"work order {record.id} ({kind}, {record.department})")
