"""Sync: push the outbox, then pull connector pages into the store; in the background or once.

Public API:
- `SyncEngine(store, connectors, on_event)` with `sync_account(name)` / `sync_all()` (push then
  pull) and `push_account(name)` / `push_all()` (push only);
- `BackgroundSync(store_path, accounts, interval=30, outbox_poll=3)`: the
  `agentdesk.syncapi.SyncRunner`, with `nudge()` to send queued mutations at once;
- `sync_once(store_path, accounts, on_event)`: one round, a JSON-able summary.
"""

from agentdesk.sync.background import BackgroundSync, build_connector, sync_once
from agentdesk.sync.engine import AccountSyncResult, SyncEngine, is_offline

__all__ = [
    "AccountSyncResult",
    "BackgroundSync",
    "SyncEngine",
    "build_connector",
    "is_offline",
    "sync_once",
]
