"""Drafts: what an agent is typing, per conversation, kept in the store as they type.

A draft survives a restart and a crash. `started_at` is when the agent began it, so the
composer can warn when the customer wrote again after the draft was started.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from agentdesk.timeutil import from_iso, to_iso, utcnow


@dataclass(frozen=True, slots=True)
class Draft:
    conversation_id: int
    kind: str
    """"reply" or "note"."""
    body: str
    started_at: datetime
    updated_at: datetime


class Drafts:
    """Mixed into Store: read, save and drop the draft of a conversation."""

    conn: sqlite3.Connection

    def draft(self, conversation_id: int) -> Draft | None:
        row = self.conn.execute(
            "SELECT conversation_id, kind, body, started_at, updated_at FROM drafts "
            "WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        if row is None:
            return None
        return Draft(
            conversation_id=row[0],
            kind=row[1],
            body=row[2],
            started_at=from_iso(row[3]),
            updated_at=from_iso(row[4]),
        )

    def save_draft(
        self, conversation_id: int, kind: str, body: str, *, now: datetime | None = None
    ) -> None:
        """Keep `body` as the conversation's draft; an empty body drops the draft.

        `started_at` is set when the draft is created and kept on later saves.
        """
        if not body.strip():
            self.delete_draft(conversation_id)
            return
        stamp = to_iso(now or utcnow())
        with self.transaction():  # type: ignore[attr-defined]
            self.conn.execute(
                """INSERT INTO drafts (conversation_id, kind, body, started_at, updated_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (conversation_id) DO UPDATE SET kind = excluded.kind,
                     body = excluded.body, updated_at = excluded.updated_at""",
                (conversation_id, kind, body, stamp, stamp),
            )

    def delete_draft(self, conversation_id: int) -> None:
        with self.transaction():  # type: ignore[attr-defined]
            self.conn.execute("DELETE FROM drafts WHERE conversation_id = ?", (conversation_id,))

    def customer_wrote_since(self, conversation_id: int, since: datetime) -> bool:
        """Whether the customer sent a message after `since` (the draft may be out of date)."""
        row = self.conn.execute(
            "SELECT 1 FROM messages WHERE conversation_id = ? AND author_kind = 'customer' "
            "AND created_at > ? LIMIT 1",
            (conversation_id, to_iso(since)),
        ).fetchone()
        return row is not None
