"""Customers as the agent curates them: duplicate suggestions and local merge/unmerge.

Merging is local (DESIGN.md): the merged customer points at the kept one with `merged_into`
and the store's reads (customer, history) follow that link. Unmerging clears it. Nothing is
sent to a backend, and the next sync keeps the link (identities still resolve to the kept
customer through `canonical_customer`, which sync's contact upsert uses too).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from agentdesk.timeutil import from_iso

MAX_MERGE_DEPTH = 16


class MergeError(ValueError):
    """The merge cannot be done (same customer, unknown customer, would form a cycle)."""


@dataclass(frozen=True, slots=True)
class DuplicateSuggestion:
    customer_id: int
    name: str
    reason: str
    """Why it looks like the same person: "same email a@b.c", "same name"."""


@dataclass(frozen=True, slots=True)
class MergedCustomer:
    customer_id: int
    name: str


@dataclass(frozen=True, slots=True)
class SatisfactionRow:
    conversation_id: int
    subject: str
    channel: str
    created_at: datetime
    rating: str


class Customers:
    """Mixed into Store: canonical ids, duplicates, merge and unmerge, satisfaction history."""

    conn: sqlite3.Connection

    def canonical_customer(self, customer_id: int) -> int:
        """The customer this one was merged into (itself when not merged)."""
        for _ in range(MAX_MERGE_DEPTH):  # bounded: a hand-edited cycle must not hang the UI
            row = self.conn.execute(
                "SELECT merged_into FROM customers WHERE id = ?", (customer_id,)
            ).fetchone()
            if row is None or row[0] is None:
                return customer_id
            customer_id = row[0]
        return customer_id

    def _family_ids(self, customer_id: int) -> list[int]:
        rows = self.conn.execute(
            """WITH RECURSIVE family(id) AS (
                   SELECT ? UNION SELECT c.id FROM customers c JOIN family f
                   ON c.merged_into = f.id)
               SELECT id FROM family""",
            (customer_id,),
        ).fetchall()
        return [r[0] for r in rows]

    def duplicate_suggestions(self, customer_id: int, limit: int = 10) -> list[DuplicateSuggestion]:
        """Other (unmerged) customers sharing an email, a phone or the exact name."""
        family = self._family_ids(customer_id)
        marks = ",".join("?" for _ in family)
        found: dict[int, DuplicateSuggestion] = {}
        rows = self.conn.execute(
            f"""SELECT DISTINCT o.customer_id, c.name, o.kind, o.value
                FROM identities mine JOIN identities o
                  ON o.kind = mine.kind AND o.value = mine.value
                JOIN customers c ON c.id = o.customer_id
                WHERE mine.customer_id IN ({marks}) AND o.customer_id NOT IN ({marks})
                  AND mine.kind IN ('email', 'phone') AND c.merged_into IS NULL
                ORDER BY o.customer_id LIMIT ?""",
            (*family, *family, limit),
        ).fetchall()
        for other, name, kind, value in rows:
            found.setdefault(other, DuplicateSuggestion(other, name, f"same {kind} {value}"))
        rows = self.conn.execute(
            f"""SELECT c.id, c.name FROM customers c
                WHERE c.name != '' AND lower(c.name) IN (
                    SELECT lower(name) FROM customers WHERE id IN ({marks}))
                  AND c.id NOT IN ({marks}) AND c.merged_into IS NULL
                ORDER BY c.id LIMIT ?""",
            (*family, *family, limit),
        ).fetchall()
        for other, name in rows:
            found.setdefault(other, DuplicateSuggestion(other, name, "same name"))
        return list(found.values())[:limit]

    def merge_customers(self, keep_id: int, merge_id: int) -> None:
        """Show `merge_id` (and everyone merged into it) as part of `keep_id`, locally."""
        keep = self.canonical_customer(keep_id)
        merge = self.canonical_customer(merge_id)
        if keep == merge:
            raise MergeError("these are already the same customer")
        for cid in (keep, merge):
            if self.conn.execute("SELECT 1 FROM customers WHERE id = ?", (cid,)).fetchone() is None:
                raise MergeError(f"no customer with id {cid}")
        with self.transaction():  # type: ignore[attr-defined]
            self.conn.execute("UPDATE customers SET merged_into = ? WHERE id = ?", (keep, merge))

    def unmerge_customer(self, customer_id: int) -> None:
        """Undo a local merge: the customer stands on their own again."""
        with self.transaction():  # type: ignore[attr-defined]
            self.conn.execute(
                "UPDATE customers SET merged_into = NULL WHERE id = ?", (customer_id,)
            )

    def merged_customers(self, customer_id: int) -> list[MergedCustomer]:
        """Customers merged directly into this one (the ones an unmerge can split off)."""
        rows = self.conn.execute(
            "SELECT id, name FROM customers WHERE merged_into = ? ORDER BY id", (customer_id,)
        ).fetchall()
        return [MergedCustomer(r[0], r[1]) for r in rows]

    def satisfaction_history(self, customer_id: int) -> list[SatisfactionRow]:
        """Ratings the customer gave, newest first, across every account they are linked on."""
        family = self._family_ids(customer_id)
        marks = ",".join("?" for _ in family)
        rows = self.conn.execute(
            f"""SELECT id, subject, channel, created_at, satisfaction FROM conversations
                WHERE customer_id IN ({marks}) AND satisfaction IS NOT NULL
                  AND satisfaction != '' AND deleted_at IS NULL
                ORDER BY created_at DESC, id DESC""",
            family,
        ).fetchall()
        return [
            SatisfactionRow(r[0], r[1], r[2], from_iso(r[3]), str(r[4])) for r in rows
        ]
