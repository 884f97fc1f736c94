"""Minimum necessary (pure): which part of a screening each health role may read.

A screening event holds two kinds of health data from one session: vital signs (``measurements``) and
questionnaire answers (``questionnaires``, PHQ-9 / GAD-7). The clinic treats the first, counselling the
second; neither needs the other's. This module is the one statement of that rule, read by the screening
and questionnaire routes, the FHIR endpoint and the student's export.

A role reads a screening only if the screening holds its part, and then only that part: the other part's
key is removed, so not even "this student also answered a questionnaire" leaks. The session, completeness
and consent stay (they say what the student agreed to and when, which is the reader's business too).
"""

from __future__ import annotations

from typing import Any

from onestop.roles import Role

# Role -> the key of ``ScreeningData`` that role may read.
PARTS: dict[Role, str] = {Role.CLINIC: "measurements", Role.COUNSELLING: "questionnaires"}
ALL_PARTS = frozenset(PARTS.values())


def part_of(role: Role) -> str | None:
    """The screening part ``role`` may read, or None (no health part at all)."""
    return PARTS.get(role)


def holds_part(data: dict[str, Any], role: Role) -> bool:
    """Whether a screening's ``data`` holds anything ``role`` may read."""
    part = part_of(role)
    return part is not None and bool(data.get(part))


def visible_part(data: dict[str, Any], role: Role) -> dict[str, Any]:
    """A screening's ``data`` as ``role`` may see it: its own part, never the other's."""
    part = part_of(role)
    return {key: value for key, value in data.items() if key not in ALL_PARTS or key == part}
