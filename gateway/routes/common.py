"""What every route module shares: the read model, the role guards, and what each role may see of an alert.

No ``from __future__ import annotations`` in the route modules: FastAPI must see real annotations to find
the dependencies they define.
"""

from dataclasses import dataclass

from fastapi import Depends
from fastapi.params import Depends as DependsParam

from gateway.read_model import ReadModel
from onestop.alert_history import notes_withheld
from onestop.records import AlertRecord
from onestop.roles import HEALTH_ROLES, Role
from web.auth import Authenticator, Principal

ANY_ROLE = tuple(r for r in Role if r is not Role.GATEWAY)  # the gateway role is for talking to central
OPERATIONS = (Role.STAFF, Role.FACILITIES, Role.TECHNICIAN, Role.ADMIN)
TECHNICIANS = (Role.TECHNICIAN, Role.ADMIN)


@dataclass
class Context:
    """Everything a route needs, built once by ``create_app``."""

    view: ReadModel
    auth: Authenticator

    def only(self, *roles: Role) -> DependsParam:
        """A dependency admitting only ``roles``; it yields the caller."""
        return Depends(self.auth.require(*roles))


def visible(record: AlertRecord, principal: Principal) -> AlertRecord:
    """The alert as ``principal`` may see it: the student concerned, and the notes on a health alert, only for
    the clinic and counselling."""
    if principal.role in HEALTH_ROLES:
        return record
    return notes_withheld(record).model_copy(update={"subject": None})
