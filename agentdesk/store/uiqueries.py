"""Small read-only queries the screen needs beyond `queries.Reads` (plain functions on a Store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentdesk.store import Store


def thread_stamp(store: Store, conversation_id: int) -> tuple[int, int, str]:
    """(message count, newest message id, newest created_at): changes when the thread does.

    Lets the screen skip re-wrapping an open thread on a refresh that did not touch it.
    """
    row = store.conn.execute(
        """SELECT count(*), coalesce(max(id), 0), coalesce(max(created_at), '')
           FROM messages WHERE conversation_id = ?""",
        (conversation_id,),
    ).fetchone()
    return (row[0], row[1], row[2])
