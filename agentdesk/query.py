"""The query language shared by search and views.

    status:open,pending channel:chat assignee:me tag:vip priority:high account:acme "refund"

Filters are `key:value` (several values with commas mean any of them; a leading `-` negates
the filter); everything else is free text over subjects and message bodies, with "quoted
phrases" kept together. A mistake raises `QueryError` naming what is wrong and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agentdesk.model import CHANNELS, PRIORITIES, STATUSES

SORTS = ("updated", "created", "sla", "waiting", "priority", "best")
FILTER_KEYS = (
    "status",
    "channel",
    "assignee",
    "tag",
    "priority",
    "account",
    "team",
    "is",
    "sort",
    "customer",
    "id",
)
IS_VALUES = ("open", "unassigned", "snoozed", "breaching", "mine", "pending_sync", "conflict")
_STATUS_ALIASES = {"hold": "on_hold", "on-hold": "on_hold", "resolved": "solved"}
MAX_TERMS = 64
"""Words, phrases and filters one search may hold: each becomes an AND in one SQL expression,
and SQLite refuses a tree about a thousand deep, so the bound is set well below that."""


class QueryError(ValueError):
    """A malformed query: `position` is the 0-based column where the problem starts."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at column {position + 1})")
        self.reason = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Filter:
    key: str
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    filters: tuple[Filter, ...] = ()
    terms: tuple[str, ...] = ()
    """Free-text words and phrases, each matched against subjects and bodies."""
    sort: str = "updated"
    source: str = field(default="", compare=False)

    @property
    def is_empty(self) -> bool:
        return not self.filters and not self.terms


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<neg>-)?(?P<key>[A-Za-z_]+):(?P<value>"(?:[^"\\]|\\.)*"?|[^\s"]*)
      | (?P<phrase>"(?:[^"\\]|\\.)*"?)
      | (?P<word>[^\s"]+)
    )""",
    re.VERBOSE,
)


def _unquote(text: str, position: int) -> str:
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"') or text.endswith('\\"'):
            raise QueryError("a quote is opened but never closed", position)
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _check_values(key: str, values: tuple[str, ...], position: int) -> tuple[str, ...]:
    allowed: tuple[str, ...] | None = {
        "status": STATUSES,
        "channel": CHANNELS,
        "priority": PRIORITIES,
        "is": IS_VALUES,
        "sort": SORTS,
    }.get(key)
    if allowed is None:
        return values
    checked = []
    for value in values:
        value = value.lower()
        if key == "status":
            value = _STATUS_ALIASES.get(value, value)
        if value not in allowed:
            raise QueryError(
                f"{key}:{value} is not known; use one of {', '.join(allowed)}", position
            )
        checked.append(value)
    return tuple(checked)


def parse(text: str) -> Query:
    filters: list[Filter] = []
    terms: list[str] = []
    sort = "updated"
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:  # pragma: no cover - regex matches all
            raise QueryError("cannot read the query here", position)
        start = (
            match.start("neg")
            if match.group("neg")
            else (match.start("key") if match.group("key") else match.start(match.lastgroup or 0))
        )
        if len(filters) + len(terms) >= MAX_TERMS and (match.group("key") or "").lower() != "sort":
            raise QueryError(f"a search can hold at most {MAX_TERMS} terms", start)
        if match.group("key") is not None:
            key = match.group("key").lower()
            if key not in FILTER_KEYS:
                raise QueryError(
                    f"unknown filter {key}:, use one of {', '.join(FILTER_KEYS)}", start
                )
            raw = match.group("value")
            value_at = match.start("value")
            if raw == "":
                raise QueryError(f"{key}: needs a value", value_at)
            value = _unquote(raw, value_at)
            values = (
                tuple(v.strip() for v in value.split(",")) if not raw.startswith('"') else (value,)
            )
            if any(not v for v in values):
                raise QueryError(f"{key}: has an empty value", value_at)
            values = _check_values(key, values, value_at)
            if key == "sort":
                if match.group("neg") or len(values) != 1:
                    raise QueryError("sort: takes one order", start)
                sort = values[0]
            else:
                filters.append(Filter(key, values, negated=bool(match.group("neg"))))
        elif match.group("phrase") is not None:
            phrase = _unquote(match.group("phrase"), match.start("phrase")).strip()
            if phrase:
                terms.append(phrase)
        else:
            terms.append(match.group("word"))
        position = match.end()
    return Query(filters=tuple(filters), terms=tuple(terms), sort=sort, source=text)
