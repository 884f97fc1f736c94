"""The gateway's notifier: sends each raised alert to its team's targets, at once, on its own threads.

Ingest never waits for it: raising an alert only writes a ``notify_queue`` row in the ingest transaction
(``gateway/notify_queue.py``). This loop plans one delivery per matching target, sends due deliveries on a
small pool (a slow target delays no other), records every try, retries with doubling waits
(``onestop/backoff.py``) and gives up after ``notifications.attempts`` tries, counted and logged by target
name. An alert acknowledged or resolved before its message went out is skipped (recorded as such).

Targets on the LAN (the campus mail relay, a webhook in the building) work with the WAN down: nothing here
goes through central.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

from gateway.alert_store import GatewayAlerts
from gateway.notify_queue import FAILED, SENT, SKIPPED, Delivery, NotificationBook
from gateway.settings import GatewaySettings
from gateway.work_order_notices import WorkOrderNotices
from onestop.notifications import Place, alert_link, compose, named, retry_in, targets_for
from onestop.notify_sender import AppriseSender, Outcome
from onestop.ticker import Ticker

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the queue is looked at: the latency of "at once"
WORKERS = 4


class Notifier:
    """Plans, sends and records the gateway's notifications until stopped."""

    def __init__(self, settings: GatewaySettings, book: NotificationBook, alerts: GatewayAlerts,
                 space_names: Callable[[], dict[str, str]], sender: AppriseSender | None = None,
                 work_orders: WorkOrderNotices | None = None) -> None:
        self.settings = settings
        self.options = settings.notifications
        self.targets = {t.name: t for t in named(settings.notify)}  # type: ignore[misc]
        self._urls = {name: t.secret_url() for name, t in self.targets.items()}
        self.book = book
        self.alerts = alerts
        self.space_names = space_names
        self.work_orders = work_orders  # the hook for work orders' notices (keys ``wo:...``)
        self.sender = sender or AppriseSender(self.options.timeout_s)
        self.zone = ZoneInfo(settings.timezone)
        self.public_url = self.options.public_url or settings.http.url
        self._ticker = Ticker("notifier", lambda: self.step(time.time()), POLL_S,
                              before=lambda: self.sender.warm_up(list(self._urls.values())))
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="notify")
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # guards _in_flight only
        self.loop_failures = 0  # deliveries that failed unexpectedly (the rounds': ``_ticker.failures``)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        """Stop planning; tries under way finish (each bounded by ``timeout_s``), the rest wait for next start."""
        self._ticker.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def step(self, now: float) -> None:
        """One round: plan what was raised, hand due deliveries to the pool (old tries go by the gateway's
        retention, ``storage.notification_tries_days``)."""
        queued = self.book.queued()
        if queued:
            plans = {}
            for alert_id in queued:
                if self.work_orders is not None and self.work_orders.owns(alert_id):
                    plans[alert_id] = self.work_orders.plan(alert_id, self.targets)
                    continue
                record = self.alerts.get(alert_id)
                plans[alert_id] = [t.name for t in targets_for(record, list(self.targets.values()))
                                   if t.name] if record else []
            self.book.plan(plans, now)
        for delivery in self.book.due(now):
            key = (delivery.alert_id, delivery.target)
            with self._lock:
                if key in self._in_flight:
                    continue
                self._in_flight.add(key)
            self._pool.submit(self._deliver, delivery)

    def _deliver(self, delivery: Delivery) -> None:
        try:
            self._try(delivery)
        except Exception:  # recorded nowhere else: count it and let the next round try again
            self.loop_failures += 1
            log.exception("notification to %s failed unexpectedly", delivery.target)
        finally:
            with self._lock:
                self._in_flight.discard((delivery.alert_id, delivery.target))

    def _try(self, delivery: Delivery) -> None:
        target = self.targets.get(delivery.target)
        if self.work_orders is not None and self.work_orders.owns(delivery.alert_id):
            message, why, label = self.work_orders.message(delivery.alert_id, self.public_url, self.zone,
                                                           self.space_names)
        else:
            record = self.alerts.get(delivery.alert_id)
            why = ("alert gone" if record is None else f"alert {record.status}" if record.status != "open"
                   else None)
            message, label = None, f"alert {delivery.alert_id}" + (f" ({record.rule})" if record else "")
            if record is not None and why is None:
                space = self.space_names().get(record.space or "") if record.space else None
                message = compose(record, Place(self.settings.site, space_name=space), self.zone,
                                  alert_link(self.public_url, record.id))
        why = why or ("target no longer configured" if target is None else None)
        if why is not None or message is None or target is None:
            self.book.record(delivery, "skipped", why or "", time.time(), SKIPPED)
            return
        outcome: Outcome = self.sender.send(self._urls[target.name], message)  # type: ignore[index]
        now = time.time()
        if outcome.ok:
            self.book.record(delivery, "sent", "", now, SENT)
            log.info("%s sent to %s", label, target.name)
            return
        tries = delivery.attempts + 1
        wait = retry_in(tries, self.options)
        if wait is None:
            self.book.record(delivery, "failed", outcome.detail, now, FAILED)
            log.error("gave up notifying %s of %s after %d tries: %s", target.name, label, tries, outcome.detail)
            return
        self.book.record(delivery, "failed", outcome.detail, now, "pending", now + wait)
        log.warning("notifying %s of %s failed (try %d of %d, next in %.0f s): %s", target.name, label,
                    tries, self.options.attempts, wait, outcome.detail)
