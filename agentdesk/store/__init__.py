"""The local SQLite cache (WAL): schema, sync writes, the screen's reads."""

from agentdesk.store.customers import MergeError
from agentdesk.store.db import PageStats, StoreError
from agentdesk.store.db import Store as _WriteStore
from agentdesk.store.drafts import Drafts
from agentdesk.store.outbox import Mutation, MutationError, UnknownConversation
from agentdesk.store.presence import Presence
from agentdesk.store.queries import Reads
from agentdesk.store.supervision import Supervision
from agentdesk.store.uiqueries import ScreenReads


class Store(_WriteStore, Reads, ScreenReads, Drafts, Presence, Supervision):
    """One connection to a profile's cache: sync writes and the screen's reads."""


__all__ = [
    "MergeError",
    "Mutation",
    "MutationError",
    "PageStats",
    "Store",
    "StoreError",
    "UnknownConversation",
]
