"""The seam between the screen and background sync.

The TUI may not import connectors, sync internals or httpx. The CLI builds a `SyncRunner`
(agentdesk.sync) and hands it to the app, which runs it in a thread worker and receives
`SyncEvent`s. Data itself never travels this way: sync writes the store, the screen reads it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

SyncEventKind = Literal[
    "started", "page", "account_done", "idle", "offline", "error", "rate_limited", "warning",
    "lane", "typing",
]


@dataclass(frozen=True, slots=True)
class SyncEvent:
    kind: SyncEventKind
    account: str | None = None
    message: str = ""
    """A human sentence (errors included); never a token."""
    records: int = 0
    at: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)


class SyncRunner(Protocol):
    def run(self, on_event: Callable[[SyncEvent], None], stop: threading.Event) -> None:
        """Sync until `stop` is set (blocking; call it from a worker thread).

        Opens its own store connection. Reports progress through `on_event`, which may be
        called from this thread and must be thread-safe.
        """
        ...

    def nudge(self) -> None:
        """Send queued mutations now (thread-safe, non-blocking); call after store.queue()."""
        ...

    def set_attention(self, attention: str) -> None:
        """"active", "elsewhere" (another screen) or "idle" (no key for a while): the fast
        lane polls less often when nobody is looking (thread-safe)."""
        ...
