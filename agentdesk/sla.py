"""Service-level targets, computed locally so countdowns work offline.

Defaults follow common helpdesk policies; the workspace issue adds configured policies with
business hours. Targets are per priority, in minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_RESPONSE_MINUTES = {"urgent": 60, "high": 4 * 60, "normal": 8 * 60, "low": 24 * 60}
NEXT_RESPONSE_MINUTES = {"urgent": 60, "high": 2 * 60, "normal": 8 * 60, "low": 24 * 60}


def first_response_due(created_at: datetime, priority: str) -> datetime:
    return created_at + timedelta(minutes=FIRST_RESPONSE_MINUTES.get(priority, 8 * 60))


def next_response_due(waiting_since: datetime, priority: str) -> datetime:
    return waiting_since + timedelta(minutes=NEXT_RESPONSE_MINUTES.get(priority, 8 * 60))
