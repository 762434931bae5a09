"""Pure formatting for the panes: cells, durations, badges, times. No widgets here.

Widths are terminal cells (`rich.cells.cell_len`), never `len()`: Japanese text is two cells a
character and must still line up in columns. Every backend string is cleaned first.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from rich.cells import cell_len, set_cell_size

from agentdesk.sanitize import clean

CHANNEL_BADGES: dict[str, str] = {
    # Plain ASCII on purpose: emoji widths differ between terminals and break alignment.
    "email": "MAIL",
    "chat": "CHAT",
    "sms": "SMS",
    "social": "SOCL",
    "voice": "CALL",
    "web": "WEB",
}
BADGE_WIDTH = 4

PRIORITY_LABELS: dict[str, str] = {"low": "low", "normal": "norm", "high": "high", "urgent": "URG!"}


def badge(channel: str) -> str:
    return fit(CHANNEL_BADGES.get(channel, clean(channel)[:BADGE_WIDTH].upper()), BADGE_WIDTH)


def fit(text: str, width: int) -> str:
    """`text` cropped or padded to exactly `width` cells; a cropped text ends with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def fit_right(text: str, width: int) -> str:
    """Like `fit`, aligned to the right."""
    size = cell_len(text)
    if size >= width:
        return fit(text, width)
    return " " * (width - size) + text


def short_duration(delta: timedelta) -> str:
    """A compact signed duration: 45s, 12m, 5h, 3d, 2y (negative when `delta` is)."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        body = f"{seconds}s"
    elif seconds < 3600:
        body = f"{seconds // 60}m"
    elif seconds < 48 * 3600:
        body = f"{seconds // 3600}h"
    elif seconds < 730 * 86400:
        body = f"{seconds // 86400}d"
    else:
        body = f"{seconds // (365 * 86400)}y"
    return sign + body


def local_time(moment: datetime, now: datetime, tz: tzinfo | None) -> str:
    """Time of day for today, month/day this year, the full date otherwise (in the user's zone)."""
    here = moment.astimezone(tz)
    today = now.astimezone(tz)
    if here.date() == today.date():
        return here.strftime("%H:%M")
    if here.year == today.year:
        return here.strftime("%m/%d %H:%M")
    return here.strftime("%Y-%m-%d")


def local_date(moment: datetime, now: datetime, tz: tzinfo | None) -> str:
    here = moment.astimezone(tz)
    today = now.astimezone(tz)
    if here.date() == today.date():
        return "today"
    if here.year == today.year:
        return here.strftime("%m/%d")
    return here.strftime("%Y-%m")


def thousands(number: int) -> str:
    return f"{number:,}"
