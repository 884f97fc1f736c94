"""The card directory's records and its CSV form — pure: no database, no I/O beyond the lines it is given.

A university feeds central's card directory (#18) from its campus-card or student-information system, by
CSV (``onestop central directory import FILE.csv``) or by API (``POST /api/v1/directory/cardholders``). One
row, one cardholder; both ways carry the same ``Cardholder``. The CSV's columns (header required, any order,
UTF-8, comma-separated; ``docs/integration.md`` has the example file the tests import)::

    id,kind,email,cards,status,groups
    S2026001,student,amy.chen@example.edu,04A1B2C3D4,active,clinical-y3;library

``cards`` and ``groups`` hold several values separated by ``;``. Everything is bounded where it enters: the
file's size (``MAX_FILE_BYTES``), its rows (``MAX_ROWS``), each field (``MAX_FIELD``), cards and groups per
holder. A bad row is reported with its line number and reason and never stops the others; a row never echoes
a card number back (the reason names the column).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from onestop.cards import CardStatus
from onestop.events import Card, Slug

MAX_FILE_BYTES = 32 * 1024 * 1024  # 200,000 rows of about 120 bytes, with room
MAX_ROWS = 200_000
MAX_FIELD = 1024  # characters in one CSV field (the csv module's own limit is 128 KiB)
MAX_CARDS = 8
MAX_GROUPS = 32
MAX_PUSH = 1000  # cardholders in one API request
COLUMNS = ("id", "kind", "email", "cards", "status", "groups")
HOLDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
EMAIL_PATTERN = r"^[^@\s,;\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,}$"


class Cardholder(BaseModel):
    """One person in the directory: who, how to reach them, their cards, whether their cards may be used."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=HOLDER_ID_PATTERN, description="student or staff id")
    kind: Literal["student", "staff"]
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    cards: tuple[Card, ...] = Field(min_length=1, max_length=MAX_CARDS,
                                    description="the holder's current cards (normalised: hex uppercase or digits); "
                                                "a card dropped from the list is refused as lost")
    status: CardStatus = Field(description="active; lost, blocked or graduated: every card of the holder is refused")
    groups: tuple[Slug, ...] = Field((), max_length=MAX_GROUPS, description="e.g. clinical-y3")

    @field_validator("cards", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        # Readers deliver upper-case hex; exports often lower-case it or group it with spaces or colons.
        if isinstance(value, list | tuple):
            return tuple(str(c).replace(" ", "").replace(":", "").upper() if isinstance(c, str) else c
                         for c in value)
        return value

    @field_validator("cards", "groups", mode="after")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("repeats a value")
        return tuple(sorted(value))


class CardholderOut(BaseModel):
    """A cardholder as the API shows it: no card numbers, only how many cards are current and withdrawn."""

    id: str
    kind: str
    email: str
    status: str
    groups: list[str]
    cards: int
    withdrawn_cards: int


class CardholderPush(BaseModel):
    """The body of ``POST /api/v1/directory/cardholders``: changed cardholders (an upsert; absent ones stay)."""

    model_config = ConfigDict(extra="forbid")
    cardholders: list[Cardholder] = Field(min_length=1, max_length=MAX_PUSH)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A CSV row that was not imported: where, and why (never the row's values)."""

    line: int
    reason: str


class CsvFormatError(ValueError):
    """The file as a whole cannot be read as a directory (no header, missing columns, not UTF-8)."""


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


_PATTERN_MEANS = {"id": "not a student or staff id (letters, digits, . _ -; at most 32)",
                  "email": "not an e-mail address", "cards": "not a card number (hex or digits, 4 to 32)",
                  "groups": "not a group name (lower-case letters, digits and -)"}


def _problems(exc: ValidationError) -> str:
    """One reason per column, in words; never the value (a card number is personal)."""
    reasons: dict[str, str] = {}
    for e in exc.errors():
        column = str(e["loc"][0]) if e["loc"] else "row"
        if e["type"] == "string_pattern_mismatch":
            reasons.setdefault(column, _PATTERN_MEANS.get(column, "malformed"))
        else:
            reasons.setdefault(column, e["msg"])
    return "; ".join(f"{column}: {reason}" for column, reason in reasons.items())


def parse(lines: Iterable[str]) -> Iterator[tuple[int, Cardholder | BadRow]]:
    """Each data row of a directory CSV with its line number: a ``Cardholder``, or a ``BadRow`` saying why not.

    Raises ``CsvFormatError`` when the header lacks a column. A row repeating an id or a card of an earlier
    row is bad (which one is meant cannot be told); so is every row past ``MAX_ROWS``."""
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvFormatError("the file is empty (a header line is required)") from None
    except csv.Error as exc:
        raise CsvFormatError(f"line 1: {exc}") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CsvFormatError(f"the header lacks column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
    where = {c: header.index(c) for c in COLUMNS}
    ids: set[str] = set()
    cards: set[str] = set()
    rows = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, BadRow(reader.line_num, f"not CSV: {exc}")
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        if rows > MAX_ROWS:
            yield line, BadRow(line, f"more than {MAX_ROWS} rows: the rest of the file is not imported")
            return
        if len(row) != len(header):
            yield line, BadRow(line, f"{len(row)} fields, the header has {len(header)}")
            continue
        if any(len(cell) > MAX_FIELD for cell in row):
            yield line, BadRow(line, f"a field is longer than {MAX_FIELD} characters")
            continue
        values = {c: row[i].strip() for c, i in where.items()}
        try:
            holder = Cardholder(id=values["id"], kind=values["kind"].lower(), email=values["email"],
                                cards=_split(values["cards"]), status=values["status"].lower(),
                                groups=_split(values["groups"].lower()))
        except ValidationError as exc:
            yield line, BadRow(line, _problems(exc))
            continue
        if holder.id in ids:
            yield line, BadRow(line, "id: repeats an earlier row's id")
            continue
        if cards & set(holder.cards):
            yield line, BadRow(line, "cards: a card of an earlier row (each card belongs to one holder)")
            continue
        ids.add(holder.id)
        cards.update(holder.cards)
        yield line, holder


def read_text(data: bytes) -> io.StringIO:
    """The file's bytes as text lines for ``parse`` (UTF-8, a BOM allowed); ``CsvFormatError`` otherwise."""
    if len(data) > MAX_FILE_BYTES:
        raise CsvFormatError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        return io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"not UTF-8 (byte {exc.start})") from None
