"""What every route module shares: the read model, the role guards, and what each role may see of an alert.

A read that shows a clinic or counselling user the student of an alert (its ``subject``, a card) is
audited: one line on the ``gateway.audit`` logger (the journal) naming who, their role, the route and the
alerts' ids, never the card; the dashboard's poll of an unchanged list is one line per 10 minutes
(``web.repeats``). The gateway keeps no audit table of its own: central's audit log is the one
an administrator queries, and the alert ids lead from a journal line to the student there.

No ``from __future__ import annotations`` in the route modules: FastAPI must see real annotations to find
the dependencies they define.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import Depends
from fastapi.params import Depends as DependsParam

from gateway.read_model import ReadModel
from onestop.alert_history import notes_withheld
from onestop.records import AlertRecord
from onestop.roles import HEALTH_ROLES, Role
from web.auth import Authenticator, Principal
from web.repeats import RecentReads

ANY_ROLE = tuple(r for r in Role if r is not Role.GATEWAY)  # the gateway role is for talking to central
OPERATIONS = (Role.STAFF, Role.FACILITIES, Role.TECHNICIAN, Role.ADMIN)
TECHNICIANS = (Role.TECHNICIAN, Role.ADMIN)


@dataclass
class Context:
    """Everything a route needs, built once by ``create_app``."""

    view: ReadModel
    auth: Authenticator
    recent: RecentReads = field(default_factory=RecentReads)

    def only(self, *roles: Role) -> DependsParam:
        """A dependency admitting only ``roles``; it yields the caller."""
        return Depends(self.auth.require(*roles))


audit = logging.getLogger("gateway.audit")
audit.setLevel(logging.INFO)  # kept whatever the service's log level: these lines are the audit trail


def visible_all(records: Sequence[AlertRecord], principal: Principal, route: str,
                recent: RecentReads) -> list[AlertRecord]:
    """``records`` as ``principal`` may see them, the read audited when it shows any student."""
    shown = [visible(record, principal) for record in records]
    named = [record.id for record in shown if record.subject is not None]
    if named and recent.is_new((principal.name, route, frozenset(named))):
        audit.info("%s (%s) read %s: the student of %d alert(s): %s", principal.name, principal.role.value,
                   route, len(named), ", ".join(named))
    return shown


def visible(record: AlertRecord, principal: Principal) -> AlertRecord:
    """The alert as ``principal`` may see it: the student concerned, and the notes on a health alert, only for
    the clinic and counselling."""
    if principal.role in HEALTH_ROLES:
        return record
    return notes_withheld(record).model_copy(update={"subject": None})
