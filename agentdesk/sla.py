"""Service-level targets, computed locally so countdowns work offline.

A policy has first- and next-response targets per priority (minutes of *business* time),
optional business hours per weekday in a time zone, and holidays (dates on which the clock
does not run). Without business hours the clock runs 24/7, as most helpdesks' defaults do.

Policies come from `<config_dir>/sla.toml` (see `load_policy`); `configure()` makes one active
for the process. The store calls `first_response_due(created_at, priority)` and
`next_response_due(waiting_since, priority)` at ingest.

    [targets.first_response]        # minutes per priority
    urgent = 60
    high = 240
    [targets.next_response]
    urgent = 60
    [business_hours]
    timezone = "Asia/Tokyo"
    mon = "09:00-18:00"             # tue ... sun likewise; a missing day is closed
    [holidays]
    dates = ["2026-01-01", "2026-01-02"]
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FIRST_RESPONSE_MINUTES = {"urgent": 60, "high": 4 * 60, "normal": 8 * 60, "low": 24 * 60}
NEXT_RESPONSE_MINUTES = {"urgent": 60, "high": 2 * 60, "normal": 8 * 60, "low": 24 * 60}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AT_RISK = timedelta(minutes=30)
"""A countdown shorter than this is highlighted as at risk."""
MAX_DAYS_SCAN = 400
"""Business time is added day by day; a policy with no open day stops after this many days."""


class PolicyError(ValueError):
    """The SLA policy file is wrong; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Policy:
    first_response: Mapping[str, int] = field(default_factory=lambda: dict(FIRST_RESPONSE_MINUTES))
    next_response: Mapping[str, int] = field(default_factory=lambda: dict(NEXT_RESPONSE_MINUTES))
    hours: Mapping[int, tuple[time, time]] | None = None
    """Weekday (0 = Monday) -> (open, close) in `tz`; None: the clock runs 24/7."""
    tz: tzinfo = UTC
    holidays: frozenset[date] = frozenset()


DEFAULT_POLICY = Policy()
_active = DEFAULT_POLICY


def configure(policy: Policy) -> None:
    """Make `policy` the one used by the due-time functions (at startup, from the config)."""
    global _active
    _active = policy


def active_policy() -> Policy:
    return _active


def add_business_minutes(start: datetime, minutes: int, policy: Policy) -> datetime:
    """`start` plus `minutes` of time during business hours and outside holidays."""
    if policy.hours is None and not policy.holidays:
        return start + timedelta(minutes=minutes)
    left = timedelta(minutes=minutes)
    local = start.astimezone(policy.tz)
    day = local.date()
    for _ in range(MAX_DAYS_SCAN):
        if day not in policy.holidays:
            if policy.hours is None:
                opens, closes = time(0), None
            else:
                window = policy.hours.get(day.weekday())
                opens, closes = window if window else (None, None)
            if opens is not None:
                begin = datetime.combine(day, opens, policy.tz)
                end = (
                    datetime.combine(day, closes, policy.tz)
                    if closes is not None
                    else datetime.combine(day + timedelta(days=1), time(0), policy.tz)
                )
                begin = max(begin, local)
                if begin < end:
                    if begin + left <= end:
                        return (begin + left).astimezone(UTC)
                    left -= end - begin
        day += timedelta(days=1)
        local = datetime.combine(day, time(0), policy.tz)
    return (start + timedelta(minutes=minutes)).astimezone(UTC)


def first_response_due(created_at: datetime, priority: str) -> datetime:
    policy = _active
    return add_business_minutes(
        created_at, policy.first_response.get(priority, FIRST_RESPONSE_MINUTES["normal"]), policy
    )


def next_response_due(waiting_since: datetime, priority: str) -> datetime:
    policy = _active
    return add_business_minutes(
        waiting_since, policy.next_response.get(priority, NEXT_RESPONSE_MINUTES["normal"]), policy
    )


def state(due: datetime | None, now: datetime) -> str:
    """"none", "ok", "at_risk" or "breached" for a due time."""
    if due is None:
        return "none"
    left = due - now
    if left < timedelta(0):
        return "breached"
    return "at_risk" if left <= AT_RISK else "ok"


_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def policy_file(config_dir: Path) -> Path:
    return Path(config_dir) / "sla.toml"


def load_policy(config_dir: Path) -> Policy:
    """The policy in `<config_dir>/sla.toml`, or the default when there is none."""
    path = policy_file(config_dir)
    if not path.exists():
        return DEFAULT_POLICY
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    targets = data.get("targets", {})
    first = dict(FIRST_RESPONSE_MINUTES)
    nxt = dict(NEXT_RESPONSE_MINUTES)
    for key, into in (("first_response", first), ("next_response", nxt)):
        for priority, minutes in targets.get(key, {}).items():
            if priority not in FIRST_RESPONSE_MINUTES:
                raise PolicyError(f"{path}: targets.{key}.{priority}: unknown priority")
            if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
                raise PolicyError(f"{path}: targets.{key}.{priority}: must be whole minutes")
            into[priority] = minutes
    hours: dict[int, tuple[time, time]] | None = None
    tz: tzinfo = UTC
    business = data.get("business_hours")
    if business is not None:
        hours = {}
        zone = business.get("timezone", "UTC")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PolicyError(f"{path}: business_hours.timezone: unknown zone {zone!r}") from None
        for index, name in enumerate(DAYS):
            value = business.get(name)
            if value is None:
                continue
            match = _HOURS.match(str(value))
            if match is None:
                raise PolicyError(f"{path}: business_hours.{name}: write it as 09:00-18:00")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if not (h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
                raise PolicyError(f"{path}: business_hours.{name}: not a valid range")
            closes = time(0) if h2 == 24 else time(h2, m2)
            hours[index] = (time(h1, m1), closes if h2 != 24 else time(23, 59, 59))
    holidays: set[date] = set()
    for text in data.get("holidays", {}).get("dates", []):
        try:
            holidays.add(date.fromisoformat(str(text)))
        except ValueError:
            raise PolicyError(f"{path}: holidays.dates: {text!r} is not a date") from None
    return Policy(first, nxt, hours, tz, frozenset(holidays))
