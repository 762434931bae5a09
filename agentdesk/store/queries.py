"""What the screen reads: views, windows of rows, a thread, a customer and their history.

List panes never load a whole view's rows: they take the view's ordered ids once (a single
index scan, run off the UI thread) and fetch the few rows on screen by id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from agentdesk.query import parse
from agentdesk.store import search
from agentdesk.timeutil import from_iso



@dataclass(frozen=True, slots=True)
class ViewDef:
    """A saved query (agentdesk.query language) shown in the views pane with a live count."""

    id: str
    name: str
    query: str


BUILTIN_VIEWS: tuple[ViewDef, ...] = (
    ViewDef("mine", "Mine", "is:open is:mine"),
    ViewDef("unassigned", "Unassigned", "is:unassigned"),
    ViewDef("open", "All open", "is:open"),
    ViewDef("breaching", "Breaching SLA", "is:breaching sort:sla"),
    ViewDef("snoozed", "Snoozed", "is:snoozed"),
    ViewDef("solved", "Recently solved", "status:solved,closed"),
)
VIEWS_BY_ID = {view.id: view for view in BUILTIN_VIEWS}


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    account: str
    external_id: str
    channel: str
    customer_name: str
    subject: str
    status: str
    priority: str
    assignee_name: str | None
    updated_at: datetime
    waiting_since: datetime | None
    sla_due: datetime | None
    snoozed_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    id: int
    account: str
    connector: str
    external_id: str
    channel: str
    subject: str
    status: str
    vendor_status: str
    priority: str
    assignee_name: str | None
    team_name: str | None
    customer_id: int | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    web_url: str | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    kind: str
    author_kind: str
    author_name: str
    channel: str
    account: str
    body: str
    created_at: datetime
    attachments: tuple[dict[str, object], ...]


@dataclass(frozen=True, slots=True)
class IdentityRow:
    account: str
    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class CustomerDetail:
    id: int
    name: str
    identities: tuple[IdentityRow, ...]
    attributes: dict[str, object]
    conversation_count: int


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: int
    account: str
    external_id: str
    channel: str
    subject: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccountRow:
    name: str
    connector: str
    base_url: str
    user: str
    role: str | None
    capabilities: dict[str, bool]
    last_sync_at: datetime | None
    last_error: str | None
    sync_warning: str | None = None
    """What the last round could not read while conversations still synced."""


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    pending: int
    conflicts: int
    failed: int


def _dt(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


class Reads:
    conn: sqlite3.Connection

    def views(self) -> tuple[ViewDef, ...]:
        return BUILTIN_VIEWS

    def view_counts(self) -> dict[str, int]:
        return {view.id: search.count(self.conn, parse(view.query)) for view in BUILTIN_VIEWS}

    def view_conversation_ids(self, view_id: str, sort: str | None = None) -> list[int]:
        """Every conversation in the view, in the view's order (or `sort`)."""
        query = parse(VIEWS_BY_ID[view_id].query)
        if sort is not None:
            query = replace(query, sort=sort)
        return search.matching_ids(self.conn, query)

    def search_ids(self, text: str) -> list[int]:
        """Every conversation matching a query typed by the user; raises QueryError."""
        return search.matching_ids(self.conn, parse(text))

    def inbox_rows(self, ids: Sequence[int]) -> dict[int, InboxRow]:
        if not ids:
            return {}
        marks = ",".join("?" for _ in ids)
        rows = self.conn.execute(
            f"""SELECT c.id, c.account, c.external_id, c.channel, c.subject, c.status,
                       c.priority, c.updated_at, c.waiting_since,
                       coalesce(c.first_response_due, c.next_response_due) AS sla_due,
                       c.snoozed_until, cu.name AS customer_name, ag.name AS assignee_name
                FROM conversations c
                LEFT JOIN customers cu ON cu.id = c.customer_id
                LEFT JOIN agents ag ON ag.id = c.assignee_id
                WHERE c.id IN ({marks})""",
            tuple(ids),
        ).fetchall()
        return {
            r["id"]: InboxRow(
                id=r["id"],
                account=r["account"],
                external_id=r["external_id"],
                channel=r["channel"],
                customer_name=r["customer_name"] or "",
                subject=r["subject"],
                status=r["status"],
                priority=r["priority"],
                assignee_name=r["assignee_name"],
                updated_at=from_iso(r["updated_at"]),
                waiting_since=_dt(r["waiting_since"]),
                sla_due=_dt(r["sla_due"]),
                snoozed_until=_dt(r["snoozed_until"]),
            )
            for r in rows
        }

    def conversation(self, conversation_id: int) -> ConversationDetail | None:
        r = self.conn.execute(
            """SELECT c.*, ac.connector, ag.name AS assignee_name, t.name AS team_name
               FROM conversations c JOIN accounts ac ON ac.name = c.account
               LEFT JOIN agents ag ON ag.id = c.assignee_id
               LEFT JOIN teams t ON t.id = c.team_id
               WHERE c.id = ?""",
            (conversation_id,),
        ).fetchone()
        if r is None:
            return None
        return ConversationDetail(
            id=r["id"],
            account=r["account"],
            connector=r["connector"],
            external_id=r["external_id"],
            channel=r["channel"],
            subject=r["subject"],
            status=r["status"],
            vendor_status=r["vendor_status"],
            priority=r["priority"],
            assignee_name=r["assignee_name"],
            team_name=r["team_name"],
            customer_id=r["customer_id"],
            tags=tuple(json.loads(r["tags"])),
            created_at=from_iso(r["created_at"]),
            updated_at=from_iso(r["updated_at"]),
            web_url=r["web_url"],
        )

    def thread(self, conversation_id: int) -> list[MessageRow]:
        rows = self.conn.execute(
            """SELECT id, kind, author_kind, author_name, channel, account, body, created_at,
                      attachments
               FROM messages WHERE conversation_id = ? ORDER BY created_at, id""",
            (conversation_id,),
        ).fetchall()
        return [
            MessageRow(
                id=r["id"],
                kind=r["kind"],
                author_kind=r["author_kind"],
                author_name=r["author_name"],
                channel=r["channel"],
                account=r["account"],
                body=r["body"],
                created_at=from_iso(r["created_at"]),
                attachments=tuple(json.loads(r["attachments"])),
            )
            for r in rows
        ]

    def _customer_family(self, customer_id: int) -> list[int]:
        """The customer and every customer merged into them."""
        rows = self.conn.execute(
            """WITH RECURSIVE family(id) AS (
                   SELECT ? UNION SELECT c.id FROM customers c JOIN family f
                   ON c.merged_into = f.id)
               SELECT id FROM family""",
            (customer_id,),
        ).fetchall()
        return [row[0] for row in rows]

    def customer(self, customer_id: int) -> CustomerDetail | None:
        r = self.conn.execute(
            "SELECT id, name, attributes FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        if r is None:
            return None
        family = self._customer_family(customer_id)
        marks = ",".join("?" for _ in family)
        identities = tuple(
            IdentityRow(row["account"], row["kind"], row["value"])
            for row in self.conn.execute(
                f"""SELECT DISTINCT account, kind, value FROM identities
                    WHERE customer_id IN ({marks}) ORDER BY kind, value, account""",
                family,
            )
        )
        count = self.conn.execute(
            f"""SELECT count(*) FROM conversations
                WHERE customer_id IN ({marks}) AND deleted_at IS NULL""",
            family,
        ).fetchone()[0]
        return CustomerDetail(
            id=r["id"],
            name=r["name"],
            identities=identities,
            attributes=json.loads(r["attributes"]),
            conversation_count=count,
        )

    def customer_history(self, customer_id: int) -> list[HistoryRow]:
        """All of the customer's conversations on every channel and account, newest first."""
        family = self._customer_family(customer_id)
        marks = ",".join("?" for _ in family)
        rows = self.conn.execute(
            f"""SELECT id, account, external_id, channel, subject, status, created_at
                FROM conversations WHERE customer_id IN ({marks}) AND deleted_at IS NULL
                ORDER BY created_at DESC, id DESC""",
            family,
        ).fetchall()
        return [
            HistoryRow(
                id=r["id"],
                account=r["account"],
                external_id=r["external_id"],
                channel=r["channel"],
                subject=r["subject"],
                status=r["status"],
                created_at=from_iso(r["created_at"]),
            )
            for r in rows
        ]

    def accounts(self) -> list[AccountRow]:
        return [
            AccountRow(
                name=r["name"],
                connector=r["connector"],
                base_url=r["base_url"],
                user=r["user"],
                role=r["role"],
                capabilities=json.loads(r["capabilities"]),
                last_sync_at=_dt(r["last_sync_at"]),
                last_error=r["last_error"],
                sync_warning=r["sync_warning"],
            )
            for r in self.conn.execute("SELECT * FROM accounts ORDER BY name")
        ]

    def outbox_summary(self) -> OutboxSummary:
        counts = dict(
            self.conn.execute(
                "SELECT state, count(*) FROM outbox "
                "WHERE state IN ('pending','sending','conflict','failed') GROUP BY state"
            ).fetchall()
        )
        return OutboxSummary(
            pending=counts.get("pending", 0) + counts.get("sending", 0),
            conflicts=counts.get("conflict", 0),
            failed=counts.get("failed", 0),
        )

    def data_version(self) -> int:
        """Changes when another connection commits; cheap to poll for live refresh."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]
