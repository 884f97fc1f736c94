"""Central's notifier: campus-wide targets are told of each alert that arrives by sync, and urgent alerts
nobody acknowledges escalate, tier by tier.

Each round (every ``POLL_S``) it reads the alert table, whoever wrote it:

- an unresolved alert no round has seen: its team's tier-0 targets are planned;
- an urgent alert still ``open`` (not acknowledged, not resolved — at the gateway, synced up, or at central
  itself: only the record's ``status`` counts) for ``escalate_after_min[team]`` minutes per tier: the next
  tier's targets are planned (``onestop.notifications.due_tier``);
- due deliveries are sent on a small pool; an escalation whose alert was acknowledged meanwhile is skipped.

Reading the table instead of hooking the sync route keeps one path for every way an alert changes, and a
round that dies leaves nothing half-done: planning is one transaction with a compare-and-set on the alert's
tier (``central/notifications.py``), so two workers never tell a tier twice.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from central.notifications import FAILED, SENT, SKIPPED, Delivery, NotificationStore
from central.settings import CentralSettings
from central.siteconfigs import ConfigStore
from onestop.notifications import Place, alert_link, compose, due_tier, named, retry_in, targets_for
from onestop.notify_sender import AppriseSender
from onestop.ticker import Ticker

log = logging.getLogger(__name__)

POLL_S = 0.5
WORKERS = 4


class Notifier:
    """Plans, escalates, sends and records central's notifications until stopped."""

    def __init__(self, settings: CentralSettings, store: NotificationStore, configs: ConfigStore,
                 sender: AppriseSender | None = None) -> None:
        self.options = settings.notifications
        self.targets = named(settings.notify)
        self._by_name = {t.name: t for t in self.targets}
        self._urls = {t.name: t.secret_url() for t in self.targets}
        self.top_tier = max((t.tier for t in self.targets), default=0)
        self.store = store
        self.configs = configs
        self.zone = settings.zone
        self.public_url = self.options.public_url or settings.http.url
        self.sender = sender or AppriseSender(self.options.timeout_s)
        self._ticker = Ticker("notifier", lambda: self.step(datetime.now(UTC)), POLL_S,
                              before=lambda: self.sender.warm_up(list(self._urls.values())))
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="notify")
        self._in_flight: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()  # guards _in_flight only
        self.failures = 0  # deliveries that failed unexpectedly (the rounds': ``_ticker.failures``)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def step(self, now: datetime) -> None:
        """One round: plan new alerts, escalate, hand due deliveries to the pool."""
        for record in self.store.unseen():
            planned = [(0, t.name) for t in targets_for(record, self.targets) if t.name]
            self.store.advance(record.id, None, 0, planned, now)
        if self.top_tier:
            for record, told in self.store.escalating(self.top_tier):
                tier = due_tier(record, now, self.options.escalate_after_min.get(record.team), self.top_tier)
                if tier > told:
                    planned = [(t_tier, t.name) for t_tier in range(told + 1, tier + 1)
                               for t in targets_for(record, self.targets, t_tier) if t.name]
                    if self.store.advance(record.id, told, tier, planned, now):
                        log.warning("alert %s (%s, %s) not acknowledged: escalated to tier %d", record.id,
                                    record.rule, record.team, tier)
        for delivery in self.store.due(now):
            key = (delivery.alert_id, delivery.tier, delivery.target)
            with self._lock:
                if key in self._in_flight:
                    continue
                self._in_flight.add(key)
            self._pool.submit(self._deliver, delivery)

    def _deliver(self, delivery: Delivery) -> None:
        try:
            self._try(delivery)
        except Exception:
            self.failures += 1
            log.exception("notification to %s failed unexpectedly", delivery.target)
        finally:
            with self._lock:
                self._in_flight.discard((delivery.alert_id, delivery.tier, delivery.target))

    def _try(self, delivery: Delivery) -> None:
        record = self.store.alert(delivery.alert_id)
        target = self._by_name.get(delivery.target)
        now = datetime.now(UTC)
        # Tier 0 says "this happened" and goes out unless resolved; an escalation says "nobody has acted"
        # and goes out only while that is true.
        why = ("alert gone" if record is None else "target no longer configured" if target is None
               else f"alert {record.status}" if record.status == "resolved"
               or (delivery.tier > 0 and record.status != "open") else None)
        if why is not None or record is None or target is None:
            self.store.record(delivery, "skipped", why or "", now, SKIPPED)
            return
        message = compose(record, self._place(record.site, record.space), self.zone,
                          alert_link(self.public_url, record.id), tier=delivery.tier)
        outcome = self.sender.send(self._urls[target.name], message)
        now = datetime.now(UTC)
        if outcome.ok:
            self.store.record(delivery, "sent", "", now, SENT)
            log.info("alert %s (tier %d) sent to %s", record.id, delivery.tier, target.name)
            return
        tries = delivery.attempts + 1
        wait = retry_in(tries, self.options)
        if wait is None:
            self.store.record(delivery, "failed", outcome.detail, now, FAILED)
            log.error("gave up notifying %s of alert %s after %d tries: %s", target.name, record.id, tries,
                      outcome.detail)
            return
        self.store.record(delivery, "failed", outcome.detail, now, "pending", now + timedelta(seconds=wait))
        log.warning("notifying %s of alert %s failed (try %d of %d): %s", target.name, record.id, tries,
                    self.options.attempts, outcome.detail)

    def _place(self, site: str, space: str | None) -> Place:
        config = self.configs.get(site) if space else None
        names = {s.id: s.name for s in config.model().spaces} if config is not None else {}
        return Place(site, space_name=names.get(space or "") or None)
