"""Search by conversation (search_threads) stays consistent with what the cache holds."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from agentdesk.sim.storefile import REGULAR_CONVERSATIONS, build_store, world_pages
from agentdesk.sim.world import generate_world
from agentdesk.store import Store
from agentdesk.store.schema import MIGRATIONS, migrate


def _store(tmp_path: Path) -> tuple[Store, list]:
    world = generate_world(3, 40, "zendesk")
    pages = list(world_pages(world, [world.tickets[i] for i in world.ticket_ids], "https://a.x"))
    store = Store.open(tmp_path / "s.db")
    store.upsert_account("acme", "zendesk", "https://a.x", "a@b.example")
    for page in pages:
        store.apply_page("acme", page)
    return store, pages


def test_edited_message_and_local_reply_are_found_and_cancelled_reply_is_not(
    tmp_path: Path,
) -> None:
    store, pages = _store(tmp_path)
    page = next(p for p in pages if p.conversations)
    record = page.conversations[0]
    edited = replace(record.messages[0], body="zanzibar quokka")
    store.apply_page("acme", replace(page, conversations=(
        replace(record, messages=(edited, *record.messages[1:])),)))  # fmt: skip
    cid = store.conversation_by_external_id("acme", record.external_id)
    assert store.search_ids("quokka") == [cid]
    # An optimistic reply is searchable before sync and forgotten when cancelled.
    other = store.conversation_by_external_id("acme", page.conversations[1].external_id)
    mutation = store.queue(other, "reply", {"text": "wombat delivery"})
    assert store.search_ids("wombat") == [other]
    assert store.cancel(mutation.id)
    assert store.search_ids("wombat") == []
    store.conn.execute("INSERT INTO search_threads (search_threads) VALUES ('integrity-check')")
    store.close()


def test_migration_backfills_search_threads_from_a_v1_cache(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    expected = store.search_ids("order")
    store.close()
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    conn.execute("DROP TABLE search_threads")
    # What later migrations added, undone, so the file is a real v1 cache.
    conn.execute("DROP INDEX customers_merged")
    conn.execute("DROP INDEX contacts_history_due")
    for table, column in (
        ("contacts", "history_synced_at"),
        ("conversations", "solved_at"),
        ("conversations", "reopen_count"),
        ("accounts", "presence_pending"),
        ("accounts", "sync_warning"),
    ):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 1")
    assert migrate(conn) == 1 and len(MIGRATIONS) >= 2
    conn.close()
    again = Store.open(tmp_path / "s.db")
    assert again.search_ids("order") == expected and expected
    again.close()


def test_dataset_has_customers_with_200_conversations(tmp_path: Path) -> None:
    built = build_store(tmp_path / "s.db", conversations=2000)
    conn = sqlite3.connect(built.path)
    top = conn.execute(
        "SELECT count(*) n FROM conversations GROUP BY customer_id ORDER BY n DESC LIMIT 1"
    ).fetchone()[0]
    assert top >= REGULAR_CONVERSATIONS
    conn.close()
