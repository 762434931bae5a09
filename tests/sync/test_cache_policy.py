"""The cache policy's history batches in the engine: bounded, isolated, retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import ClassVar

from agentdesk.connectors.base import AccountSettings, BackendError, Capabilities, NotFound
from agentdesk.model import ConversationRecord, Page, WhoAmI
from agentdesk.store import Store
from agentdesk.store.db import StoreError
from agentdesk.sync import SyncEngine

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def conversation(external_id: str, customer: str) -> ConversationRecord:
    return ConversationRecord(
        external_id=external_id, channel="email", subject=f"about {external_id}",
        status="solved", vendor_status="solved", priority="normal", created_at=T0,
        updated_at=T0, version="1", customer_external_id=customer, messages=(),
    )  # fmt: skip


class Fake:
    """One conversation per customer in the window; each customer has one more, older one."""

    kind: ClassVar[str] = "fake"
    label: ClassVar[str] = "Fake"
    capabilities: ClassVar[Capabilities] = Capabilities()
    resources: ClassVar[tuple[str, ...]] = ("conversations",)

    def __init__(self, customers: list[str], batch: int) -> None:
        self.settings = AccountSettings("acme", "fake", "http://x", "me", history_batch=batch)
        self.customers = customers
        self.gone: set[str] = set()
        self.flaky: set[str] = set()
        self.asked: list[str] = []

    async def whoami(self) -> WhoAmI:
        return WhoAmI("1", "Me", "me@x", "agent")

    async def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        yield Page(resource, "c1", False, conversations=tuple(
            conversation(f"now-{c}", c) for c in self.customers))  # fmt: skip

    async def open_backlog(self) -> AsyncIterator[Page]:
        return
        yield  # an async generator with nothing old and open

    async def contact_history(self, contact: str) -> AsyncIterator[Page]:
        self.asked.append(contact)
        if contact in self.gone:
            raise NotFound(f"customer {contact} was deleted")
        if contact in self.flaky:
            raise BackendError("the backend is unreachable")
        yield Page("history", None, True, conversations=(conversation(f"now-{contact}", contact),))
        yield Page("history", None, False, conversations=(conversation(f"old-{contact}", contact),))

    async def aclose(self) -> None:
        pass


def histories_done(store: Store) -> set[str]:
    rows = store.conn.execute("SELECT external_id FROM contacts WHERE history_synced_at NOT NULL")
    return {r[0] for r in rows}


async def test_a_deleted_customer_is_skipped_and_an_unreachable_one_retried_next_round(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    fake = Fake(["a", "b", "c", "d", "e"], batch=3)
    fake.gone, fake.flaky = {"a"}, {"b"}
    engine = SyncEngine(store, {"acme": fake})  # type: ignore[dict-item]
    first = await engine.sync_account("acme")
    assert first.ok and first.error is None
    # "a" is gone for good: marked done, never blocks the others. "b" stays due.
    assert "a" in histories_done(store) and "b" not in histories_done(store)
    fake.flaky.clear()
    for _ in range(3):
        assert (await engine.sync_account("acme")).ok
    assert histories_done(store) == {"a", "b", "c", "d", "e"}
    olds = store.conn.execute(
        "SELECT count(*) FROM conversations WHERE external_id LIKE 'old-%'"
    ).fetchone()[0]
    assert olds == 4  # everyone but the deleted customer
    asked = len(fake.asked)
    assert (await engine.sync_account("acme")).histories == 0
    assert len(fake.asked) == asked  # each history is fetched once, not every round
    store.close()


async def test_a_history_page_that_cannot_be_stored_leaves_the_customer_due(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    fake = Fake(["a"], batch=5)
    engine = SyncEngine(store, {"acme": fake})  # type: ignore[dict-item]
    write = store.apply_history_page

    def disk_full(account: str, contact: str, page: Page, *, done: bool):
        if not done:  # the first of two pages; the (empty-handed) done mark would fit
            raise StoreError("the disk is full")
        return write(account, contact, page, done=done)

    store.apply_history_page = disk_full  # type: ignore[method-assign]
    assert (await engine.sync_account("acme")).ok  # the inbox is current all the same
    assert histories_done(store) == set()  # not marked done with its first page lost
    store.apply_history_page = write  # type: ignore[method-assign]
    assert (await engine.sync_account("acme")).histories == 1
    assert histories_done(store) == {"a"}
    store.close()
