"""The central database's tables as the code uses them now (the newest migration's shape).

``central.migrations`` brings a database to this shape and records each step; a test checks that a
database migrated from nothing matches these declarations on SQLite and PostgreSQL.

Columns copied out of an event's JSON at ingest (``at``, ``space``, ``subject``) exist so analytics and
health queries can use indexes instead of parsing JSON on two dialects.
"""

from __future__ import annotations

import sqlalchemy as sa

from central.db import UtcDateTime

metadata = sa.MetaData()

# A per-dialect integer that autoincrements: BIGINT identity on PostgreSQL, the rowid alias on SQLite.
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("site", sa.String(32), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("ts", UtcDateTime, nullable=False),
    sa.Column("received", UtcDateTime, nullable=False),
    sa.Column("ingested", UtcDateTime, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    # When it happened as best central can tell: the device time when plausible, else the gateway's.
    sa.Column("at", UtcDateTime, nullable=True),
    sa.Column("space", sa.String(64), nullable=True),
    sa.Column("subject", sa.String(32), nullable=True),
    sa.Index("events_device_seq", "device", "seq"),
    sa.Index("events_type_at", "type", "at"),
    sa.Index("events_site_space_at", "site", "space", "at"),
    sa.Index("events_subject_at", "subject", "at"),
)

gateways = sa.Table(
    "gateways", metadata,
    sa.Column("site", sa.String(32), primary_key=True),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("lag_s", sa.Float, nullable=True),
    sa.Column("max_lag_s", sa.Float, nullable=True),
    sa.Column("quarantined", sa.BigInteger, nullable=False, server_default="0"),
)

# Events that arrived with the id of a stored event but other content: the stored copy is kept; this is where
# an operator finds the ids (never the contents, which may be personal data).
event_conflicts = sa.Table(
    "event_conflicts", metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("site", sa.String(32), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("last_at", UtcDateTime, nullable=False),
    sa.Column("times", sa.BigInteger, nullable=False, server_default="1"),
    sa.Index("event_conflicts_last_at", "last_at"),
)

counters = sa.Table(
    "counters", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False, server_default="0"),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("site", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("team", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", sa.String(300), nullable=False),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("device", sa.String(64), nullable=True),
    sa.Column("space", sa.String(64), nullable=True),
    sa.Column("event_id", sa.String(36), nullable=True),
    sa.Column("subject", sa.String(32), nullable=True),
    sa.Column("acknowledged_by", sa.String(64), nullable=True),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("resolved_by", sa.String(64), nullable=True),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("synced_at", UtcDateTime, nullable=False),
    sa.Column("assigned_to", sa.String(64), nullable=True),
    sa.Column("history", sa.JSON, nullable=True),  # AlertRecord.history (a list of AlertAction); null: none
    # When a person first acknowledged or resolved it (``onestop.alert_history.first_response``): response
    # times are read from columns, not by parsing every history.
    sa.Column("responded_at", UtcDateTime, nullable=True),
    sa.Index("alerts_team_status", "team", "status"),
    sa.Index("alerts_site_raised", "site", "raised_at"),
)

# Actions taken at central, in the order they were taken (``seq``), for the alert's gateway to fetch and merge
# (``GET /api/v1/sites/{site}/alerts/actions?after=seq``).
alert_actions = sa.Table(
    "alert_actions", metadata,
    sa.Column("seq", AutoId, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(32), nullable=False),
    sa.Column("alert_id", sa.String(36), nullable=False),
    sa.Column("action", sa.JSON, nullable=False),
    sa.Index("alert_actions_site_seq", "site", "seq"),
)

devices = sa.Table(
    "devices", metadata,
    sa.Column("device", sa.String(64), primary_key=True),
    sa.Column("site", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=True),
    sa.Column("online", sa.Boolean, nullable=False),
    sa.Column("fw", sa.String(64), nullable=True),
    sa.Column("boot", sa.String(64), nullable=True),
    sa.Column("space", sa.String(64), nullable=True),
    sa.Column("last_seen", UtcDateTime, nullable=True),
    sa.Column("outbox", sa.Integer, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("synced_at", UtcDateTime, nullable=False),
    sa.Column("clock_skew_s", sa.Float, nullable=True),
    sa.Index("devices_site", "site"),
)

site_configs = sa.Table(
    "site_configs", metadata,
    sa.Column("site", sa.String(32), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("etag", sa.String(80), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("principal", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("route", sa.String(200), nullable=False),
    sa.Column("subject_ref", sa.String(32), nullable=True),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("results", sa.Integer, nullable=False),
    # The person who read (signed in through the campus IdP): their stable subject, name and e-mail.
    # Empty for a bearer token's read, which ``principal`` names.
    sa.Column("person_sub", sa.String(255), nullable=True),
    sa.Column("person_name", sa.String(200), nullable=True),
    sa.Column("person_email", sa.String(254), nullable=True),
    sa.Index("audit_log_at", "at"),
    sa.Index("audit_log_subject", "subject_ref"),
)

# Notifications (central/notifier.py). ``notify_state``: per alert, the highest tier told so far (set in the
# same transaction as that tier's deliveries, with a compare-and-set, so two workers never both tell a tier).
notify_state = sa.Table(
    "notify_state", metadata,
    sa.Column("alert_id", sa.String(36), primary_key=True),
    sa.Column("tier", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# One row per (alert, tier, target): pending with its next try, sent, failed (gave up) or skipped.
notifications = sa.Table(
    "notifications", metadata,
    sa.Column("alert_id", sa.String(36), primary_key=True),
    sa.Column("tier", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("notifications_due", "state", "next_at"),
)

# Every try: the target's name (never its URL), when, the outcome and a short reason.
notify_attempts = sa.Table(
    "notify_attempts", metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(36), nullable=False),
    sa.Column("tier", sa.Integer, nullable=False),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.String(300), nullable=False),
    sa.Index("notify_attempts_alert", "alert_id"),
)

# Students erased at central (``central.rights``): the keyed pseudonym, never the card, and when. A gateway
# re-sending an erased student's events (catch-up after an outage, an unacknowledged batch again) must not
# bring them back: ingest drops events naming a pseudonym listed here, and counts them.
erased_subjects = sa.Table(
    "erased_subjects", metadata,
    sa.Column("subject_ref", sa.String(32), primary_key=True),
    sa.Column("erased_at", UtcDateTime, nullable=False),
)

# The card directory (#18, ``central.directory_store``): cardholders and their cards. A card number is never
# stored as such: ``card_ref`` is its pseudonym (keyed, for look-ups) and ``sealed`` the number encrypted under
# a key derived from the pseudonym key (AES-GCM), which central opens only to hash cards for a site's gateway.
cardholders = sa.Table(
    "cardholders", metadata,
    sa.Column("holder_id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)

directory_cards = sa.Table(
    "directory_cards", metadata,
    sa.Column("card_ref", sa.String(40), primary_key=True),
    sa.Column("holder_id", sa.String(32), nullable=False),
    sa.Column("sealed", sa.String(120), nullable=False),
    # A card dropped from its holder's list (replaced) stays on file and is refused as lost.
    sa.Column("withdrawn", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("directory_cards_holder", "holder_id"),
)

# Work orders from every gateway (docs/work-orders.md): upserted by id, the newer ``updated_at`` wins. The
# columns are what lists, filters and the per-department times use; ``record`` is the whole order (history).
work_orders = sa.Table(
    "work_orders", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("site", sa.String(32), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("space", sa.String(64), nullable=True),
    sa.Column("device", sa.String(64), nullable=True),
    sa.Column("summary", sa.String(200), nullable=False),
    sa.Column("assignee", sa.String(64), nullable=True),
    sa.Column("opened_at", UtcDateTime, nullable=False),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("ack_due", UtcDateTime, nullable=False),
    sa.Column("finish_due", UtcDateTime, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("synced_at", UtcDateTime, nullable=False),
    sa.Index("work_orders_department_state", "department", "state"),
    sa.Index("work_orders_site_opened", "site", "opened_at"),
)

# Bookings from the university's booking system (#18, ``central.bookings_store``): one row per event UID and
# space, its version (SEQUENCE, DTSTAMP) and its iCalendar text; the holder only as a keyed pseudonym (NULL when
# the attendee's e-mail is not in the directory). ``booking_occurrences`` holds its expansion in the window
# around the last import, in UTC, for listing and, later, for gateways.
bookings = sa.Table(
    "bookings", metadata,
    sa.Column("site", sa.String(32), primary_key=True),
    sa.Column("space", sa.String(64), primary_key=True),
    sa.Column("uid", sa.String(255), primary_key=True),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("stamp", UtcDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("holder_ref", sa.String(40), nullable=True),
    sa.Column("rrule", sa.String(300), nullable=True),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("imported_at", UtcDateTime, nullable=False),
    sa.Column("imported_by", sa.String(64), nullable=False),
)

booking_occurrences = sa.Table(
    "booking_occurrences", metadata,
    sa.Column("site", sa.String(32), primary_key=True),
    sa.Column("space", sa.String(64), primary_key=True),
    sa.Column("uid", sa.String(255), primary_key=True),
    sa.Column("start", UtcDateTime, primary_key=True),
    sa.Column("end", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("holder_ref", sa.String(40), nullable=True),
    sa.Index("booking_occurrences_space_start", "site", "space", "start"),
)
