"""Snooze times: presets and what an agent types ("2h", "3d", "tomorrow", "14:00", a date).

Times are read in the user's display zone and returned as aware UTC datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, tzinfo

_RELATIVE = re.compile(r"^\s*(\d{1,4})\s*(m|min|mins|h|hr|hrs|hours?|d|days?|w|weeks?)\s*$", re.IGNORECASE)
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
WORK_START = time(9, 0)


def presets(now: datetime, tz: tzinfo | None) -> list[tuple[str, datetime]]:
    """(label, moment) pairs for the snooze picker."""
    local = now.astimezone(tz)
    tomorrow = datetime.combine(local.date() + timedelta(days=1), WORK_START, local.tzinfo)
    days_to_monday = (7 - local.weekday()) % 7 or 7
    monday = datetime.combine(local.date() + timedelta(days=days_to_monday), WORK_START,
                              local.tzinfo)
    return [
        ("1 hour", now + timedelta(hours=1)),
        ("4 hours", now + timedelta(hours=4)),
        ("Tomorrow 09:00", tomorrow.astimezone(UTC)),
        ("Next Monday 09:00", monday.astimezone(UTC)),
        ("1 week", now + timedelta(days=7)),
    ]


def parse_when(text: str, now: datetime, tz: tzinfo | None) -> datetime | None:
    """A future moment from typed text, or None when it cannot be read or is in the past."""
    text = text.strip()
    if not text:
        return None
    local = now.astimezone(tz)
    moment: datetime | None = None
    if match := _RELATIVE.match(text):
        amount, unit = int(match.group(1)), match.group(2).lower()
        step = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
                "w": timedelta(weeks=1)}[unit[0]]
        moment = now + amount * step
    elif text.lower() == "tomorrow":
        moment = datetime.combine(local.date() + timedelta(days=1), WORK_START, local.tzinfo)
    elif match := _CLOCK.match(text):
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            return None
        moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if moment <= local:
            moment += timedelta(days=1)
    else:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            if len(text) <= 10:  # a bare date: the start of the working day
                parsed = datetime.combine(parsed.date(), WORK_START)
            parsed = parsed.replace(tzinfo=local.tzinfo)
        moment = parsed
    moment = moment.astimezone(UTC)
    return moment if moment > now else None
