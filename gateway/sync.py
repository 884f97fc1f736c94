"""Sync to the central service, and the configuration downlink.

Each round, in this order:
1. alerts central has not seen in their latest state (urgent first): ``POST /api/v1/alerts/sync``. A batch
   central refuses (400, 413, 422) is split in halves the same way; a refused alert is set aside (counted,
   sent again only once it changes), so one bad alert never holds back the others or the events;
2. actions taken at central on this site's alerts (acknowledge, resolve, assign) after the last one applied
   here: ``GET /api/v1/sites/{site}/alerts/actions?after=N``, pages merged into their alerts through the
   one writer together with the new cursor (``GatewayAlerts.apply_remote``: idempotent, the later action
   wins). This request also tells an idle gateway that central is reachable. A central without the route
   (404) is asked again only every ``config_interval_s``;
3. the most urgent, then oldest, unsynced events, bounded by count and bytes, gzip-compressed:
   ``POST /api/v1/ingest``; central's 200 marks them synced. Central is idempotent on event id, so a batch
   resent after a lost answer does no harm. A batch central refuses as invalid (422) is split in halves
   until the bad events are found; those are set aside as dead letters and the rest flows. Batches follow
   one another for up to ``ROUND_EVENTS_S`` while a backlog drains, pipelined: while central ingests one,
   the gateway reads and encodes the next and marks the previous one synced (one request in flight);
4. every ``fleet_interval_s``: device health, ``POST /api/v1/fleet/sync``; refused devices are found by
   splitting too, logged and counted (the next round sends a fresh snapshot anyway);
5. every ``config_interval_s``: ``GET /api/v1/gateways/{site}/config`` with the last ETag; a new
   configuration is validated, kept on disk as the last good copy for offline start-ups, and applied.

While central is unreachable, rounds back off exponentially with full jitter, capped, so a campus of
gateways does not stampede it when the WAN returns. An answer that no retry can change (``CentralRefused``,
e.g. a 404 from a central without this route) is counted and retried only at the cap.

What to send and what central's answers mean is decided in ``gateway.sync_plan`` (pure); this module is the
shell that reads the store, talks HTTP through an ``httpx.Client`` (whose transport a test may replace) and
does what the planner says.
"""

from __future__ import annotations

import gc
import gzip
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
from pydantic import ValidationError

from gateway.alert_store import GatewayAlerts
from gateway.errors import CentralRefused, CentralUnreachable, is_transient
from gateway.settings import CentralLinkSettings
from gateway.store import Store
from gateway.sync_plan import (
    MAX_BACKOFF_S,
    Accept,
    Bisection,
    Row,
    SetAside,
    Verdict,
    backoff_delay,
    encode_batch,
    judge,
    next_batch,
    raise_for,
)
from gateway.work_order_store import GatewayWorkOrders
from onestop.cards import SiteCards
from onestop.files import write_private
from onestop.records import AlertActions, AlertRecord, AlertSync, DeviceHealth, FleetSync
from onestop.site import SiteConfig
from onestop.work_orders import WorkOrderRecord, WorkOrderSync

log = logging.getLogger(__name__)

# A round sends event batches for at most this long, so alerts (synced first in every round) wait no longer.
ROUND_EVENTS_S = 2.0
# httpx keeps each response in a reference cycle with its request, body included, until a full collection
# (encode/httpx#3733). This process seldom runs one by itself, so in a drain the bodies piled up (30 MB per
# million events); a round ends with a collection once this many body bytes may be waiting.
COLLECT_AFTER_BYTES = 2 * 1024 * 1024
ACTIONS_PAGE = 500  # central's alert actions asked for at once
T = TypeVar("T")


class Syncer:
    """The sync loop on its own thread."""

    def __init__(self, site: str, settings: CentralLinkSettings, store: Store, alerts: GatewayAlerts,
                 config_copy: Path, *,
                 fleet: Callable[[], list[DeviceHealth]] = list,
                 on_config: Callable[[SiteConfig], None] | None = None,
                 local_config: Callable[[], SiteConfig] | None = None,
                 cards_copy: Path | None = None,
                 on_cards: Callable[[SiteCards], None] | None = None,
                 on_reachability: Callable[[bool], None] | None = None,
                 transport: httpx.BaseTransport | None = None,
                 work_orders: GatewayWorkOrders | None = None) -> None:
        self.site = site
        self.settings = settings
        self.store = store
        self.alerts = alerts
        self.work_orders = work_orders  # synced like alerts: upsert by id at central, the newer version wins
        self.config_copy = config_copy
        self._fleet = fleet
        self._on_config = on_config
        self._local_config = local_config
        self.cards_copy, self._on_cards = cards_copy, on_cards
        self._cards_etag: str | None = None
        self._on_reachability = on_reachability
        self.reachable: bool | None = None
        self.last_success: float | None = None
        self._etag: str | None = None
        self._next_fleet = self._next_config = self._next_actions = 0.0
        self._asked_central = False  # this round made a request that proves central reachable
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._poster = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-post")  # one batch in flight
        self._uncollected_bytes = 0
        self._client = httpx.Client(
            base_url=str(settings.url) if settings.url else "http://invalid",
            headers={"Authorization": f"Bearer {settings.token.get_secret_value()}"},
            timeout=httpx.Timeout(30.0, connect=5.0), transport=transport)

    def start(self) -> None:
        """Start syncing in the background (does nothing without a central URL)."""
        if self.settings.url is None:
            log.info("no central URL configured: events stay on this gateway")
            return
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stopping.set()
        if self._thread:
            self._thread.join(35)
        self._poster.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _set_reachable(self, value: bool) -> None:
        if value:
            self.last_success = time.time()
        if value != self.reachable:
            self.reachable = value
            log.info("central service is %s", "reachable" if value else "unreachable")
            if self._on_reachability:
                self._on_reachability(value)

    # -- HTTP ----------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """The answer, unless it says "not now" (``CentralUnreachable``, as when central cannot be reached)."""
        try:
            response = self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise CentralUnreachable(f"central unreachable: {exc.__class__.__name__}") from exc
        if judge(response.status_code) is Verdict.TRANSIENT:
            raise_for(response.status_code, path)
        return response

    def _post_json(self, path: str, body: bytes) -> httpx.Response:
        return self._request("POST", path, content=gzip.compress(body, compresslevel=5),
                             headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})

    # -- one round -----------------------------------------------------------------------------------
    def sync_once(self) -> int:
        """One round; returns how many events central confirmed (0 when the backlog was empty)."""
        self._sync_alerts()
        self._asked_central = self._pull_alert_actions()
        if self.work_orders is not None:
            self._sync_work_orders(self.work_orders)
        sent = self._sync_events()
        now = time.monotonic()
        if now >= self._next_fleet:
            self._next_fleet = now + self.settings.fleet_interval_s
            self._sync_fleet()
        if now >= self._next_config:
            self._next_config = now + self.settings.config_interval_s
            self._pull_config()
            self._pull_cards()
        return sent

    def _sync_alerts(self) -> None:
        pending = self.alerts.unsynced(500)
        if not pending:
            return

        def post(records: list[AlertRecord]) -> httpx.Response:
            return self._post_json("/api/v1/alerts/sync",
                                   AlertSync(site=self.site, alerts=records).model_dump_json().encode())

        def set_aside(record: AlertRecord, reason: str) -> None:
            # Rule and id only: a health alert's summary and subject stay out of the log.
            log.error("central refused alert %s (%s): %s; set aside until it changes", record.id, record.rule,
                      reason)
            self.alerts.set_aside(record)

        self._settle(Bisection(pending, "alerts"), post, self.alerts.mark_synced, set_aside)

    def _pull_alert_actions(self) -> bool:
        """Merge the actions taken at central since the cursor; whether central was asked this round."""
        if time.monotonic() < self._next_actions:
            return False
        while True:
            cursor = self.alerts.actions_cursor()
            response = self._request("GET", f"/api/v1/sites/{self.site}/alerts/actions",
                                     params={"after": cursor, "limit": ACTIONS_PAGE})
            if response.status_code == 404:
                log.warning("central offers no alert actions (an older release?); asking again later")
                self._next_actions = time.monotonic() + self.settings.config_interval_s
                return True
            raise_for(response.status_code, "alert actions")
            try:
                page = AlertActions.model_validate_json(response.content)
            except ValidationError:
                log.error("central sent an invalid page of alert actions (status %d); skipping this round",
                          response.status_code)
                self.store.count("alert-actions-invalid")
                return True
            if page.actions:
                changed = self.alerts.apply_remote(page.actions, page.next)
                log.info("applied %d alert action(s) from central (%d alert(s) changed)", len(page.actions), changed)
            if len(page.actions) < ACTIONS_PAGE or page.next <= cursor:  # the last page, or no progress
                return True
    def _sync_work_orders(self, orders: GatewayWorkOrders) -> None:
        pending = orders.unsynced(500)
        if not pending:
            return

        def post(records: list[WorkOrderRecord]) -> httpx.Response:
            return self._post_json("/api/v1/work-orders/sync",
                                   WorkOrderSync(site=self.site, work_orders=records).model_dump_json().encode())

        def set_aside(record: WorkOrderRecord, reason: str) -> None:
            log.error("central refused work order %s (%s): %s; set aside until it changes", record.id,
                      record.category, reason)
            orders.set_aside(record)

        self._settle(Bisection(pending, "work orders"), post, orders.mark_synced, set_aside)

    @staticmethod
    def _settle(plan: Bisection[T], post: Callable[[list[T]], httpx.Response], accepted: Callable[[list[T]], None],
                set_aside: Callable[[T, str], None]) -> None:
        """Post the planner's parts until every record is accepted or set aside."""
        while (part := plan.next()) is not None:
            response = post(part)
            Syncer._apply(plan.answer(response.status_code, response.content), accepted, set_aside)

    @staticmethod
    def _apply(step: object, accepted: Callable[[list[T]], None], set_aside: Callable[[T, str], None]) -> None:
        if isinstance(step, Accept):
            accepted(step.records)
        elif isinstance(step, SetAside):
            set_aside(step.record, step.reason)

    def _sync_events(self) -> int:
        """Send batches until the backlog is empty or the round's time is up; returns how many events central
        confirmed or refused as invalid."""
        rows = self._next_batch(in_flight=[])
        if not rows:
            return 0
        sent = 0
        deadline = time.monotonic() + ROUND_EVENTS_S
        answer = self._poster.submit(self._post_body, self._encode(rows))
        while rows:
            following = self._next_batch(in_flight=rows) if time.monotonic() < deadline else []
            body = self._encode(following) if following else b""
            response = answer.result()  # raises the CentralUnreachable of a failed request
            if response.status_code != 200:
                self._refused(rows, response)  # splits and resends: nothing may be in flight meanwhile
            if following:
                answer = self._poster.submit(self._post_body, body)
            if response.status_code == 200:
                self.store.mark_synced([row[0] for row in rows])  # while central ingests the next batch
            sent += len(rows)
            rows = following
        if self._uncollected_bytes >= COLLECT_AFTER_BYTES:
            self._uncollected_bytes = 0
            gc.collect()
        return sent

    def _next_batch(self, in_flight: list[Row]) -> list[Row]:
        """The most urgent, then oldest, unsynced events, bounded by count and bytes, skipping the batch in
        flight (still unsynced in the store until central confirms it)."""
        rows = self.store.unsynced(self.settings.batch_max + len(in_flight))
        return next_batch(rows, in_flight, self.settings.batch_max, self.settings.batch_max_bytes)

    def _encode(self, rows: list[Row]) -> bytes:
        body = encode_batch(self.site, rows)
        self._uncollected_bytes += len(body)
        return body

    def _post_body(self, body: bytes) -> httpx.Response:
        return self._request("POST", "/api/v1/ingest", content=body,
                             headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})

    def _refused(self, rows: list[Row], response: httpx.Response) -> None:
        """Central did not take a pipelined batch: find the poison by splitting (nothing else is in flight)."""
        def accepted(part: list[Row]) -> None:
            self.store.mark_synced([row[0] for row in part])

        def set_aside(row: Row, reason: str) -> None:
            log.error("central refused event %s as invalid; set aside as a dead letter", row[0])
            self.store.mark_dead(row[0], reason)

        plan = Bisection(rows, "a batch of events")
        self._apply(plan.answer(response.status_code, response.content), accepted, set_aside)
        self._settle(plan, lambda part: self._post_body(self._encode(part)), accepted, set_aside)

    def _sync_fleet(self) -> None:
        devices = self._fleet()
        if not devices:
            return

        def post(records: list[DeviceHealth]) -> httpx.Response:
            return self._post_json("/api/v1/fleet/sync",
                                   FleetSync(site=self.site, devices=records).model_dump_json().encode())

        refused: list[DeviceHealth] = []

        def set_aside(device: DeviceHealth, reason: str) -> None:
            log.error("central refused the health of device %s: %s", device.device, reason)
            refused.append(device)

        self._settle(Bisection(devices, "device health"), post, lambda _records: None, set_aside)
        if refused:
            self.store.count("fleet-refused", len(refused))

    def _pull_config(self) -> None:
        headers = {"If-None-Match": self._etag} if self._etag else {}
        response = self._request("GET", f"/api/v1/gateways/{self.site}/config", headers=headers)
        if response.status_code == 404 and self._local_config is not None:
            self._introduce_config(self._local_config())
            return
        if response.status_code != 200:
            return  # 304: unchanged; 404: central manages no configuration for this site yet
        try:
            config = SiteConfig.model_validate_json(response.content)
        except ValidationError:
            log.error("central sent an invalid site configuration; keeping the last good one")
            return
        self._etag = response.headers.get("ETag")
        # It names the cards of the building's bookings: sealed like the rest of the store.
        write_private(self.config_copy, self.store.seal(response.content, "site-config"))
        log.info("applied the site configuration from central (%s)", self._etag)
        if self._on_config:
            self._on_config(config)

    def _introduce_config(self, config: SiteConfig) -> None:
        """Central has no configuration for this site: give it ours (create-only), so central knows the
        building's spaces, names and capacities; from then on central's copy is the one that flows down."""
        response = self._request("PUT", f"/api/v1/gateways/{self.site}/config", content=config.model_dump_json(),
                                 headers={"Content-Type": "application/json", "If-None-Match": "*"})
        if response.status_code == 200:
            self._etag = response.headers.get("ETag")
            log.info("central had no configuration for this site: sent the gateway's own (%s)", self._etag)
        elif response.status_code != 412:  # 412: stored meanwhile by an administrator; the next pull fetches it
            log.warning("central refused this site's configuration (HTTP %d)", response.status_code)

    def _pull_cards(self) -> None:
        """The site's refused and admitted cards (keyed hashes, ``onestop.cards``), kept as the last good copy."""
        if self._on_cards is None or self.cards_copy is None:
            return
        headers = {"If-None-Match": self._cards_etag} if self._cards_etag else {}
        response = self._request("GET", f"/api/v1/gateways/{self.site}/cards", headers=headers)
        if response.status_code != 200:
            return  # 304: unchanged; 404: a central without a card directory
        try:
            cards = SiteCards.model_validate_json(response.content)
        except ValidationError:
            log.error("central sent an invalid card list; keeping the last good one")
            return
        if cards.site != self.site:
            log.error("central sent the card list of site %r; keeping the last good one", cards.site)
            return
        self._cards_etag = response.headers.get("ETag")
        write_private(self.cards_copy, response.content)
        log.info("applied the card list from central (%s)", self._cards_etag)
        self._on_cards(cards)

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                sent = self.sync_once()
                if sent == 0 and not self._asked_central:
                    self._request("GET", "/healthz")  # keep the WAN state true while idle
            except CentralUnreachable as exc:
                self._set_reachable(False)
                delay = backoff_delay(attempt)
                attempt += 1
                log.warning("sync failed (%s); next try in %.1f s", exc, delay)
                self._stopping.wait(delay)
                continue
            except CentralRefused as exc:
                # Central is there but says no to something no retry changes soon: say so loudly, count it,
                # and ask again only at the back-off's cap instead of every second.
                self._set_reachable(True)
                self.store.count("sync-refused")
                delay = MAX_BACKOFF_S
                log.error("central refused the sync round (%s); next try in %.1f s", exc, delay)
                self._stopping.wait(delay)
                continue
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # This gateway's store, not central, failed (a full disk): what was not marked synced is
                # sent again later, and central is idempotent on event id.
                delay = backoff_delay(attempt)
                attempt += 1
                log.error("sync round stopped: %s; next try in %.1f s", exc, delay)
                self._stopping.wait(delay)
                continue
            attempt = 0
            self._set_reachable(True)
            if sent == 0:
                self._stopping.wait(self.settings.interval_s)

