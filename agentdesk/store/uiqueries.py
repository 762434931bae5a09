"""Small read-only queries the screen needs beyond `queries.Reads` (`ScreenReads`, on Store)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from agentdesk.model import OPEN_STATUSES
from agentdesk.timeutil import from_iso, to_iso

if TYPE_CHECKING:
    from agentdesk.store.customers import DuplicateSuggestion, MergedCustomer, SatisfactionRow
    from agentdesk.store.queries import (
        ConversationDetail,
        CustomerDetail,
        HistoryRow,
        MessageRow,
    )

_OPEN = "('" + "','".join(OPEN_STATUSES) + "')"
_ME = (
    "(SELECT ag.id FROM agents ag JOIN accounts ac ON ac.name = ag.account "
    "AND ag.external_id = ac.user_external_id)"
)


@dataclass(frozen=True, slots=True)
class Assignee:
    kind: str
    """"agent" or "team"."""
    name: str
    email: str
    """The agent's email (what `queue(..., "assign", {"agent_email": ...})` takes); "" for teams."""
    is_me: bool = False


@dataclass(frozen=True, slots=True)
class SlaDue:
    first_response_due: datetime | None
    next_response_due: datetime | None
    waiting_since: datetime | None
    snoozed_until: datetime | None


@dataclass(frozen=True, slots=True)
class WatchSnapshot:
    """What notifications compare between two moments."""

    mine: frozenset[int]
    """Open conversations assigned to me."""
    last_customer_message: dict[int, int]
    """For my conversations: the newest customer message id."""
    at_risk: frozenset[int]
    """Open conversations (mine or unassigned) whose SLA falls due within the warning window."""
    subjects: dict[int, str]
    newest_message_id: int = 0
    """The newest message in the cache: the next look reads only notes written after it."""
    notes: tuple[NoteSeen, ...] = ()
    """Notes by someone else with an "@" in them, written since the previous look."""


@dataclass(frozen=True, slots=True)
class NoteSeen:
    """An internal note by a colleague, beside the signed-in agent's names on its account
    (whether it mentions them is `tui.notices`' call)."""

    message_id: int
    conversation_id: int
    conversation_ref: str
    """The vendor's number for the conversation (what the agent calls it: #123)."""
    author: str
    body: str
    my_names: tuple[str, ...]
    """The agent's display name and email handle on that account."""
    my_external_id: str


MENTION_SCAN_LIMIT = 500
"""Notes read per look at most: a backlog beyond that is a sync catching up, not news."""


# ---------------------------------------------------------------- opening a conversation
# Everything the thread and customer panes show, read in one go on a worker's connection so
# the event loop only swaps finished data in (open <= 30 ms, history keys never wait).


@dataclass(frozen=True, slots=True)
class CustomerPanel:
    customer: CustomerDetail
    ratings: list[SatisfactionRow]
    merged: list[MergedCustomer]
    duplicates: list[DuplicateSuggestion]
    history: list[HistoryRow]


@dataclass(frozen=True, slots=True)
class OpenedConversation:
    conversation_id: int
    detail: ConversationDetail | None
    """None: the conversation is gone."""
    sync_state: str | None
    due: SlaDue
    signature: object
    """Changes when anything shown in the thread pane does (compare to skip a re-wrap)."""
    messages: list[MessageRow] | None
    """None when the signature matched the caller's: the thread shown is still right."""
    customer_id: int | None
    """The canonical customer (merges followed)."""
    panel: CustomerPanel | None
    """None when there is no customer or the caller said it already shows this one."""


class ScreenReads:
    """Mixed into Store: the small reads the screen needs beyond `queries.Reads`."""

    conn: sqlite3.Connection

    def thread_stamp(self, conversation_id: int) -> tuple[int, int, str]:
        """(message count, newest message id, newest created_at): changes when the thread does.

        Lets the screen skip re-wrapping an open thread on a refresh that did not touch it.
        """
        row = self.conn.execute(
            """SELECT count(*), coalesce(max(id), 0), coalesce(max(created_at), '')
               FROM messages WHERE conversation_id = ?""",
            (conversation_id,),
        ).fetchone()
        return (row[0], row[1], row[2])

    def assignees(self, account: str) -> list[Assignee]:
        """The account's agents (me first) and teams, for the assign picker."""
        me = self.conn.execute(
            "SELECT user_external_id FROM accounts WHERE name = ?", (account,)
        ).fetchone()
        my_id = me[0] if me else None
        agents = [
            Assignee("agent", r[0], r[1], is_me=r[2] == my_id and my_id is not None)
            for r in self.conn.execute(
                "SELECT name, email, external_id FROM agents WHERE account = ? AND email != '' "
                "ORDER BY lower(name)",
                (account,),
            )
        ]
        agents.sort(key=lambda a: not a.is_me)
        teams = [
            Assignee("team", r[0], "")
            for r in self.conn.execute(
                "SELECT name FROM teams WHERE account = ? ORDER BY lower(name)", (account,)
            )
        ]
        return agents + teams

    def known_tags(self, limit: int = 300) -> list[str]:
        """The most used tags (bounded: the picker is for the common ones, typing adds any)."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT tag FROM conversation_tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT ?",
                (limit,),
            )
        ]

    def sla_due(self, conversation_id: int) -> SlaDue:
        row = self.conn.execute(
            "SELECT first_response_due, next_response_due, waiting_since, snoozed_until "
            "FROM conversations WHERE id = ?",
            (conversation_id,),
        ).fetchone()
        if row is None:
            return SlaDue(None, None, None, None)
        return SlaDue(*(from_iso(v) if v else None for v in row))

    def account_of(self, conversation_id: int) -> str | None:
        row = self.conn.execute(
            "SELECT account FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return row[0] if row else None

    def watch_snapshot(
        self, now: datetime, warn: timedelta, notes_after: int | None = None
    ) -> WatchSnapshot:
        """`notes_after`: the previous look's `newest_message_id` (None: a baseline, no notes)."""
        conn = self.conn
        mine_rows = conn.execute(
            f"""SELECT c.id, c.subject, (SELECT max(m.id) FROM messages m
                    WHERE m.conversation_id = c.id AND m.author_kind = 'customer')
                FROM conversations c WHERE c.assignee_id IN {_ME}
                AND c.status IN {_OPEN} AND c.deleted_at IS NULL"""
        ).fetchall()
        risk_rows = conn.execute(
            f"""SELECT c.id, c.subject FROM conversations c
                WHERE c.status IN {_OPEN} AND c.status != 'on_hold' AND c.deleted_at IS NULL
                AND (c.assignee_id IS NULL OR c.assignee_id IN {_ME})
                AND coalesce(c.first_response_due, c.next_response_due) BETWEEN ? AND ?
                AND (c.snoozed_until IS NULL OR c.snoozed_until <= ?)""",
            (to_iso(now), to_iso(now + warn), to_iso(now)),
        ).fetchall()
        subjects = {r[0]: r[1] for r in mine_rows} | {r[0]: r[1] for r in risk_rows}
        newest = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        return WatchSnapshot(
            mine=frozenset(r[0] for r in mine_rows),
            last_customer_message={r[0]: r[2] or 0 for r in mine_rows},
            at_risk=frozenset(r[0] for r in risk_rows),
            subjects=subjects,
            newest_message_id=newest,
            notes=() if notes_after is None else self._notes_between(notes_after, newest),
        )

    def _notes_between(self, after: int, upto: int) -> tuple[NoteSeen, ...]:
        # A range over the primary key: new rows get the next ids, so this reads only what came.
        rows = self.conn.execute(
            """SELECT m.id, m.conversation_id, c.external_id, m.author_name, m.body,
                   coalesce(ag.name, ''), coalesce(ag.email, ''), coalesce(ac.user_external_id, '')
               FROM messages m JOIN conversations c ON c.id = m.conversation_id
               JOIN accounts ac ON ac.name = m.account
               LEFT JOIN agents ag ON ag.account = ac.name AND ag.external_id = ac.user_external_id
               WHERE m.id > ? AND m.id <= ? AND m.kind = 'note' AND m.author_kind != 'customer'
                 AND instr(m.body, '@') > 0 AND c.deleted_at IS NULL
                 AND coalesce(m.author_external_id, '') != coalesce(ac.user_external_id, '-')
                 AND m.author_name != coalesce(ag.name, '')
               ORDER BY m.id LIMIT ?""",
            (after, upto, MENTION_SCAN_LIMIT),
        ).fetchall()
        notes = []
        for row in rows:
            handle = row[6].split("@", 1)[0]  # the email's local part: `@sam` for sam@acme.example
            names = tuple(n for n in (row[5], handle) if n)
            notes.append(NoteSeen(row[0], row[1], row[2], row[3], row[4], names, row[7]))
        return tuple(notes)

    def customer_by_name(self, text: str, limit: int = 50) -> list[tuple[int, str, str]]:
        """(customer id, name, an email or phone) for "Go to customer..." (unmerged customers)."""
        like = f"%{text.lower()}%"
        return [
            (r[0], r[1], r[2] or r[3] or "")
            for r in self.conn.execute(
                """SELECT id, name, email, phone FROM customers WHERE merged_into IS NULL
                   AND (lower(name) LIKE ? OR email LIKE ? OR phone LIKE ?)
                   ORDER BY name LIMIT ?""",
                (like, like, like, limit),
            )
        ]

    def latest_conversation_of(self, customer_id: int) -> int | None:
        row = self.conn.execute(
            """WITH RECURSIVE family(id) AS (
                   SELECT ? UNION SELECT c.id FROM customers c JOIN family f ON c.merged_into = f.id)
               SELECT id FROM conversations WHERE customer_id IN (SELECT id FROM family)
               AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT 1""",
            (customer_id,),
        ).fetchone()
        return row[0] if row else None

    def my_name(self, account: str) -> str:
        """The signed-in agent's display name on `account` ("" when not synced yet)."""
        row = self.conn.execute(
            """SELECT ag.name FROM agents ag JOIN accounts ac ON ac.name = ag.account
               AND ag.external_id = ac.user_external_id WHERE ac.name = ?""",
            (account,),
        ).fetchone()
        return row[0] if row else ""

    def customer_panel(self, customer_id: int) -> CustomerPanel | None:
        customer = self.customer(customer_id)
        if customer is None:
            return None
        return CustomerPanel(
            customer=customer,
            ratings=self.satisfaction_history(customer.id),
            merged=self.merged_customers(customer.id),
            duplicates=self.duplicate_suggestions(customer.id, limit=3),
            history=self.customer_history(customer.id),
        )

    def open_conversation(
        self,
        conversation_id: int,
        *,
        shown_signature: object = None,
        shown_customer: int | None = None,
    ) -> OpenedConversation:
        """The thread, title data and customer panel of a conversation.

        `shown_signature` is the signature of the thread on screen (messages are skipped when it
        still matches); `shown_customer` a customer whose panel is on screen and needs no re-read.
        """
        detail = self.conversation(conversation_id)
        if detail is None:
            return OpenedConversation(
                conversation_id, None, None, SlaDue(None, None, None, None), None, [], None, None
            )
        sync_state = self.conversation_sync_state([conversation_id]).get(conversation_id)
        signature = (detail, self.thread_stamp(conversation_id), sync_state)
        messages = None if signature == shown_signature else self.thread(conversation_id)
        customer_id = (
            self.canonical_customer(detail.customer_id) if detail.customer_id is not None else None
        )
        panel = None
        if customer_id is not None and customer_id != shown_customer:
            panel = self.customer_panel(customer_id)
        return OpenedConversation(
            conversation_id=conversation_id,
            detail=detail,
            sync_state=sync_state,
            due=self.sla_due(conversation_id),
            signature=signature,
            messages=messages,
            customer_id=customer_id,
            panel=panel,
        )

    def agent_name(self, account: str, external_id: str) -> str | None:
        """An agent's display name from the backend's id for them (None when not cached)."""
        row = self.conn.execute(
            "SELECT name FROM agents WHERE account = ? AND external_id = ?", (account, external_id)
        ).fetchone()
        return row[0] if row else None
