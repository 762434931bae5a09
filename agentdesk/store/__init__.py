"""The local SQLite cache (WAL): schema, sync writes, the screen's reads."""

from agentdesk.store.db import PageStats, Store as _WriteStore, StoreError
from agentdesk.store.queries import Reads


class Store(_WriteStore, Reads):
    """One connection to a profile's cache: sync writes and the screen's reads."""


__all__ = ["PageStats", "Store", "StoreError"]
