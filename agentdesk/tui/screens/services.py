"""What a supervisor screen takes from its app: the store, "now" and the display zone.

AgentDeskApp provides `store`, `clock` and `tz`; a test app may provide them too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from textual.screen import Screen

from agentdesk.store import Store
from agentdesk.timeutil import utcnow


class AppServices(Screen[None], inherit_bindings=False):
    @property
    def store(self) -> Store:
        return self.app.store  # type: ignore[attr-defined]

    @property
    def clock(self) -> Callable[[], datetime]:
        return getattr(self.app, "clock", utcnow)

    @property
    def tz(self) -> tzinfo | None:
        return getattr(self.app, "tz", None)
