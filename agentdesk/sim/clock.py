"""The simulator's clock: real time by default, frozen or moved on demand by tests.

Every timestamp the simulator writes (new comments, `updated_at` bumps) and every rule that
depends on time (the incremental export hiding the last minute, later rate budgets and
`Retry-After`) reads this clock, so a test can freeze it and advance it instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware datetime")
        self._lock = threading.Lock()
        self._base = (start or datetime.now(UTC)).astimezone(UTC)
        self._mono = time.monotonic()
        self._frozen = frozen

    def now(self) -> datetime:
        with self._lock:
            if self._frozen:
                return self._base
            return self._base + timedelta(seconds=time.monotonic() - self._mono)

    def timestamp(self) -> int:
        """Now in whole Unix seconds (Zendesk's timestamps have second precision)."""
        return int(self.now().timestamp())

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self, frozen: bool = True) -> None:
        with self._lock:
            if frozen == self._frozen:
                return
            # Re-anchor so that time neither jumps nor runs backwards across the switch.
            now = (
                self._base
                if self._frozen
                else self._base + timedelta(seconds=time.monotonic() - self._mono)
            )
            self._base, self._mono, self._frozen = now, time.monotonic(), frozen

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulated clock does not run backwards")
        with self._lock:
            self._base += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the simulated clock needs an aware datetime")
        with self._lock:
            self._base, self._mono = moment.astimezone(UTC), time.monotonic()
