"""Sync: connector pages into the store (pull), in the background or once.

Public API:
- `SyncEngine(store, connectors, on_event)` with `sync_account(name)` / `sync_all()`;
- `BackgroundSync(store_path, accounts, interval=30)`: the `agentdesk.syncapi.SyncRunner`;
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
