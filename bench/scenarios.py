"""Scenarios that need no screen: search, outbox commit, store ingest; each with its floor.

Every function returns {"samples": [...seconds], "baseline": [...seconds], ...extra}.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from agentdesk.sim.storefile import build_store, world_pages
from agentdesk.sim.world import generate_world
from agentdesk.store import Store
from agentdesk.store.textindex import query_terms

# Common word, rare word, phrase, Japanese word, with filters: top 50 as the app shows them.
SEARCHES: tuple[str, ...] = (
    "thanks", "order", "refund", "invoice", "password", "delivery", "VPN",
    '"the order"', '"thank you"', "注文", "返品", "配送",
    "refund status:open", "注文 channel:email", "invoice is:unassigned", "delivery tag:vip",
    "password account:acme", "order priority:urgent,high", "thanks sort:best", "返品 sort:best",
)  # fmt: skip


def _raw_terms(query: str) -> str:
    """The FTS5 expression of a query's words (filters and sort dropped)."""
    words = [w for w in query.replace('"', " ").split() if ":" not in w]
    return " ".join(query_terms(w) for w in words)


def search(store_path: Path, rounds: int) -> dict[str, object]:
    store = Store.open(store_path)
    raw = sqlite3.connect(store_path)
    samples: list[float] = []
    baseline: list[float] = []
    per_query: dict[str, float] = {}
    for _ in range(rounds):
        for query in SEARCHES:
            t = time.perf_counter()
            ids = store.search_ids(query)
            store.inbox_rows(ids[:50])
            elapsed = time.perf_counter() - t
            samples.append(elapsed)
            per_query[query] = max(per_query.get(query, 0.0), elapsed)
            # The floor: the same FTS5 match run raw, newest first, top 50 with their rows.
            t = time.perf_counter()
            raw.execute(
                """SELECT c.id, c.subject, c.status, cu.name FROM conversations c
                   LEFT JOIN customers cu ON cu.id = c.customer_id
                   WHERE c.id IN (SELECT rowid >> 32 FROM search_threads
                       WHERE search_threads MATCH ? ORDER BY rowid DESC LIMIT 2000)
                   ORDER BY c.updated_at DESC LIMIT 50""",
                (_raw_terms(query),),
            ).fetchall()
            baseline.append(time.perf_counter() - t)
    store.close()
    raw.close()
    slowest = sorted(per_query.items(), key=lambda kv: -kv[1])[:5]
    return {"samples": samples, "baseline": baseline,
            "slowest": {q: round(s * 1000, 1) for q, s in slowest}}  # fmt: skip


class RawMessages:
    """The store floor: a plain SQLite messages table (WAL, synchronous=NORMAL, no indexes
    but the natural key) that rows go into with one executemany per transaction."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(
            """CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER,
               account TEXT, external_id TEXT, kind TEXT, author_kind TEXT, author_name TEXT,
               author_external_id TEXT, channel TEXT, body TEXT, attachments TEXT,
               created_at TEXT, UNIQUE (account, external_id))"""
        )

    def insert(self, rows: list[tuple]) -> None:
        """One transaction of (conversation_id, account, external_id, kind, author_kind,
        author_name, author_external_id, channel, body, attachments, created_at) rows."""
        self.conn.execute("BEGIN")
        self.conn.executemany(
            """INSERT INTO messages (conversation_id, account, external_id, kind, author_kind,
               author_name, author_external_id, channel, body, attachments, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def outbox(rounds: int) -> dict[str, object]:
    """`store.queue(...)` to its durable commit vs a raw synchronous=FULL one-row commit."""
    folder = Path(tempfile.mkdtemp(prefix="agentdesk-bench-"))
    try:
        build_store(folder / "outbox.db", conversations=60, accounts=("acme",))
        store = Store.open(folder / "outbox.db")
        ids = [r[0] for r in store.conn.execute("SELECT id FROM conversations")]
        raw = sqlite3.connect(folder / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = FULL")
        raw.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, payload TEXT)")
        samples: list[float] = []
        baseline: list[float] = []
        for i in range(rounds):
            t = time.perf_counter()
            store.queue(ids[i % len(ids)], "priority", {"priority": ("high", "low")[i % 2]})
            samples.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO outbox (payload) VALUES (?)", ('{"priority": "high"}',))
            raw.execute("COMMIT")
            baseline.append(time.perf_counter() - t)
        store.close()
        raw.close()
        return {"samples": samples, "baseline": baseline}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ingest(conversations: int) -> dict[str, object]:
    """`Store.apply_page` of the pages a pull yields vs raw executemany of the same rows.

    Times are per 1,000 messages (lower is better), so the ratio reads like the others.
    """
    world = generate_world(11, conversations, "zendesk")
    tickets = [world.tickets[i] for i in world.ticket_ids]
    pages = list(world_pages(world, tickets, "https://acme.zendesk.example"))
    folder = Path(tempfile.mkdtemp(prefix="agentdesk-bench-"))
    try:
        store = Store.open(folder / "store.db")
        store.upsert_account("acme", "zendesk", "https://acme.zendesk.example", "a@b.example")
        samples: list[float] = []
        messages = 0
        for page in pages:
            t = time.perf_counter()
            stats = store.apply_page("acme", page)
            if stats.messages:
                samples.append((time.perf_counter() - t) / stats.messages * 1000)
            messages += stats.messages
        store.close()
        # The floor: the same message rows, one executemany per page, one transaction each.
        raw = RawMessages(folder / "raw.db")
        baseline: list[float] = []
        for page in pages:
            rows = [
                (int(c.external_id), "acme", m.external_id, m.kind, m.author_kind,
                 m.author_name, m.author_external_id, m.channel, m.body, "[]",
                 m.created_at.isoformat())
                for c in page.conversations for m in (c.messages or ())
            ]  # fmt: skip
            if not rows:
                continue
            t = time.perf_counter()
            raw.insert(rows)
            baseline.append((time.perf_counter() - t) / len(rows) * 1000)
        raw.close()
        return {"samples": samples, "baseline": baseline, "messages": messages,
                "unit": "s per 1k messages"}  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
