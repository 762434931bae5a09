"""The local cache: one SQLite file (WAL) per profile, the single source of truth for the UI.

Each thread that uses the store opens its own `Store` (SQLite connections are not shared
across threads). The sync engine writes pages; the screen reads windows.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agentdesk import sla
from agentdesk.model import (
    OPEN_STATUSES,
    PRIORITIES,
    AgentRecord,
    ContactRecord,
    ConversationRecord,
    MessageRecord,
    Page,
    TeamRecord,
)
from agentdesk.store.outbox import Outbox
from agentdesk.store.schema import ForeignDatabase, check_compatible, migrate
from agentdesk.store.textindex import index_text
from agentdesk.timeutil import from_iso, to_iso, utcnow

PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
_OPEN = "('" + "','".join(OPEN_STATUSES) + "')"
LINKING_IDENTITY_KINDS = ("email", "phone")


class StoreError(Exception):
    """The cache cannot be used; the message says why and what to do, in one sentence."""


@dataclass(frozen=True, slots=True)
class PageStats:
    conversations: int = 0
    messages: int = 0
    contacts: int = 0
    agents: int = 0
    teams: int = 0
    deleted: int = 0


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


class Store(Outbox):
    """A connection to the cache with the reads and writes the rest of agentdesk uses."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, path: Path | str) -> Store:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Created 0600 before SQLite writes a byte: the cache holds customer data.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            conn = _connect(path)
            conn.execute("PRAGMA busy_timeout = 30000")
            check_compatible(conn)  # before WAL: a foreign file must stay byte-for-byte as found
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"could not switch {path} to WAL mode (got {mode})")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except ForeignDatabase as exc:
            raise StoreError(f"{path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{path} is not a usable agentdesk cache ({exc}); it was left untouched — "
                "move it aside or set AGENTDESK_HOME to another folder"
            ) from None
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists():
                os.chmod(sidecar, 0o600)
        return cls(conn, path)

    @classmethod
    def memory(cls) -> Store:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        return cls(conn, None)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; `durable` makes its commit synchronous=FULL."""
        conn = self.conn
        if durable:
            conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")

    # ---------------------------------------------------------------- accounts
    def upsert_account(self, name: str, connector: str, base_url: str, user: str) -> None:
        self.conn.execute(
            """INSERT INTO accounts (name, connector, base_url, user) VALUES (?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET connector = excluded.connector,
                 base_url = excluded.base_url, user = excluded.user""",
            (name, connector, base_url, user),
        )

    def remove_account(self, name: str) -> None:
        """Forget an account and purge everything cached from it."""
        with self.transaction() as conn:
            for row in conn.execute(
                "SELECT id, subject FROM conversations WHERE account = ?", (name,)
            ).fetchall():
                self._unindex_conversation(row["id"], row["subject"])
            conn.execute("DELETE FROM accounts WHERE name = ?", (name,))
            conn.execute(
                """DELETE FROM customers WHERE id NOT IN (SELECT customer_id FROM contacts)
                   AND id NOT IN (SELECT customer_id FROM conversations
                                  WHERE customer_id IS NOT NULL)"""
            )

    def record_sync_info(
        self,
        account: str,
        *,
        role: str | None = None,
        user_external_id: str | None = None,
        capabilities: Mapping[str, bool] | None = None,
        synced_at: datetime | None = None,
        error: str | None = None,
        clear_error: bool = False,
    ) -> None:
        """What sync learned about an account: role, capability flags, last sync, last error."""
        sets: list[str] = []
        args: list[object] = []
        if role is not None:
            sets.append("role = ?")
            args.append(role)
        if user_external_id is not None:
            sets.append("user_external_id = ?")
            args.append(user_external_id)
        if capabilities is not None:
            sets.append("capabilities = ?")
            args.append(json.dumps(dict(capabilities), sort_keys=True))
        if synced_at is not None:
            sets.append("last_sync_at = ?")
            args.append(to_iso(synced_at))
        if error is not None:
            sets.append("last_error = ?")
            args.append(error)
        elif clear_error:
            sets.append("last_error = NULL")
        if sets:
            self.conn.execute(
                f"UPDATE accounts SET {', '.join(sets)} WHERE name = ?", (*args, account)
            )

    # ---------------------------------------------------------------- sync writes
    def get_cursor(self, account: str, resource: str) -> str | None:
        row = self.conn.execute(
            "SELECT cursor FROM sync_state WHERE account = ? AND resource = ?",
            (account, resource),
        ).fetchone()
        return row[0] if row else None

    def apply_page(self, account: str, page: Page) -> PageStats:
        """Upsert a page's records and store its cursor, in one transaction."""
        with self.transaction() as conn:
            for team in page.teams:
                self._upsert_team(account, team)
            for agent in page.agents:
                self._upsert_agent(account, agent)
            for contact in page.contacts:
                self._upsert_contact(account, contact)
            messages = 0
            for conversation in page.conversations:
                messages += self._upsert_conversation(account, conversation)
            for external_id in page.deleted_conversation_ids:
                self._tombstone(account, external_id)
            conn.execute(
                """INSERT INTO sync_state (account, resource, cursor, updated_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (account, resource) DO UPDATE
                   SET cursor = excluded.cursor, updated_at = excluded.updated_at""",
                (account, page.resource, page.cursor, to_iso(utcnow())),
            )
        return PageStats(
            conversations=len(page.conversations),
            messages=messages,
            contacts=len(page.contacts),
            agents=len(page.agents),
            teams=len(page.teams),
            deleted=len(page.deleted_conversation_ids),
        )

    def _upsert_team(self, account: str, team: TeamRecord) -> int:
        return self.conn.execute(
            """INSERT INTO teams (account, external_id, name) VALUES (?, ?, ?)
               ON CONFLICT (account, external_id) DO UPDATE SET name = excluded.name
               RETURNING id""",
            (account, team.external_id, team.name),
        ).fetchone()[0]

    def _upsert_agent(self, account: str, agent: AgentRecord) -> int:
        agent_id = self.conn.execute(
            """INSERT INTO agents (account, external_id, email, name, role, presence, capacity)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (account, external_id) DO UPDATE SET email = excluded.email,
                 name = excluded.name, role = excluded.role,
                 presence = coalesce(excluded.presence, agents.presence),
                 capacity = coalesce(excluded.capacity, agents.capacity)
               RETURNING id""",
            (
                account,
                agent.external_id,
                agent.email.lower(),
                agent.name,
                agent.role,
                agent.presence,
                agent.capacity,
            ),
        ).fetchone()[0]
        if agent.team_external_ids:
            self.conn.execute("DELETE FROM team_members WHERE agent_id = ?", (agent_id,))
            for team_external_id in agent.team_external_ids:
                team_id = self._team_id(account, team_external_id)
                if team_id is not None:
                    self.conn.execute(
                        "INSERT OR IGNORE INTO team_members (team_id, agent_id) VALUES (?, ?)",
                        (team_id, agent_id),
                    )
        return agent_id

    def _team_id(self, account: str, external_id: str | None) -> int | None:
        if external_id is None:
            return None
        row = self.conn.execute(
            "SELECT id FROM teams WHERE account = ? AND external_id = ?", (account, external_id)
        ).fetchone()
        if row is None:
            # A group we have not seen yet (sideloads can lag): keep the link with a stub name.
            return self._upsert_team(account, TeamRecord(external_id, f"group {external_id}"))
        return row[0]

    def _agent_id(self, account: str, external_id: str | None) -> int | None:
        if external_id is None:
            return None
        row = self.conn.execute(
            "SELECT id FROM agents WHERE account = ? AND external_id = ?", (account, external_id)
        ).fetchone()
        if row is None:
            return self._upsert_agent(
                account, AgentRecord(external_id, f"agent {external_id}", "")
            )
        return row[0]

    def _upsert_contact(self, account: str, contact: ContactRecord) -> int:
        conn = self.conn
        row = conn.execute(
            "SELECT customer_id FROM contacts WHERE account = ? AND external_id = ?",
            (account, contact.external_id),
        ).fetchone()
        customer_id: int | None = row[0] if row else None
        linking = [i for i in contact.identities if i.kind in LINKING_IDENTITY_KINDS]
        if customer_id is None and linking:
            clauses = " OR ".join("(kind = ? AND value = ?)" for _ in linking)
            args = [part for identity in linking for part in (identity.kind, identity.value)]
            match = conn.execute(
                f"SELECT customer_id FROM identities WHERE {clauses} ORDER BY customer_id LIMIT 1",
                args,
            ).fetchone()
            if match:
                customer_id = self._canonical_customer(match[0])
        now = to_iso(utcnow())
        email = next((i.value for i in contact.identities if i.kind == "email"), None)
        phone = next((i.value for i in contact.identities if i.kind == "phone"), None)
        attributes = json.dumps(dict(contact.attributes), sort_keys=True, default=str)
        if customer_id is None:
            customer_id = conn.execute(
                """INSERT INTO customers (name, email, phone, attributes, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (contact.name, email, phone, attributes, now, now),
            ).fetchone()[0]
        else:
            current = conn.execute(
                "SELECT attributes FROM customers WHERE id = ?", (customer_id,)
            ).fetchone()
            merged = json.loads(current[0]) if current else {}
            merged.update({k: v for k, v in contact.attributes.items() if v not in (None, "")})
            conn.execute(
                """UPDATE customers SET name = CASE WHEN name = '' OR name LIKE 'Unknown%'
                        THEN ? ELSE name END,
                     email = coalesce(email, ?), phone = coalesce(phone, ?),
                     attributes = ?, updated_at = ? WHERE id = ?""",
                (
                    contact.name,
                    email,
                    phone,
                    json.dumps(merged, sort_keys=True, default=str),
                    now,
                    customer_id,
                ),
            )
        conn.execute(
            """INSERT INTO contacts (account, external_id, customer_id, name, attributes, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (account, external_id) DO UPDATE SET name = excluded.name,
                 attributes = excluded.attributes, updated_at = excluded.updated_at""",
            (account, contact.external_id, customer_id, contact.name, attributes, now),
        )
        for identity in contact.identities:
            conn.execute(
                """INSERT OR IGNORE INTO identities (customer_id, account, external_id, kind, value)
                   VALUES (?, ?, ?, ?, ?)""",
                (customer_id, account, contact.external_id, identity.kind, identity.value),
            )
        return customer_id

    def _canonical_customer(self, customer_id: int) -> int:
        for _ in range(16):  # follow local merges; bounded in case of a cycle
            row = self.conn.execute(
                "SELECT merged_into FROM customers WHERE id = ?", (customer_id,)
            ).fetchone()
            if row is None or row[0] is None:
                return customer_id
            customer_id = row[0]
        return customer_id

    def _customer_id(self, account: str, contact_external_id: str | None) -> int | None:
        if contact_external_id is None:
            return None
        row = self.conn.execute(
            "SELECT customer_id FROM contacts WHERE account = ? AND external_id = ?",
            (account, contact_external_id),
        ).fetchone()
        if row:
            return row[0]
        return self._upsert_contact(
            account, ContactRecord(contact_external_id, f"Unknown customer {contact_external_id}")
        )

    def _upsert_conversation(self, account: str, record: ConversationRecord) -> int:
        conn = self.conn
        existing = conn.execute(
            "SELECT id, subject FROM conversations WHERE account = ? AND external_id = ?",
            (account, record.external_id),
        ).fetchone()
        values = {
            "account": account,
            "external_id": record.external_id,
            "channel": record.channel,
            "subject": record.subject,
            "status": record.status,
            "vendor_status": record.vendor_status,
            "priority": record.priority,
            "priority_rank": PRIORITY_RANK.get(record.priority, 1),
            "assignee_id": self._agent_id(account, record.assignee_external_id),
            "team_id": self._team_id(account, record.team_external_id),
            "customer_id": self._customer_id(account, record.customer_external_id),
            "tags": json.dumps(list(record.tags), ensure_ascii=False),
            "created_at": to_iso(record.created_at),
            "updated_at": to_iso(record.updated_at),
            "satisfaction": record.satisfaction,
            "web_url": record.web_url,
            "version": record.version,
        }
        if self._vendor_snoozes(account):
            values["snoozed_until"] = to_iso(record.snoozed_until) if record.snoozed_until else None
        if existing is None:
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            conversation_id = conn.execute(
                f"INSERT INTO conversations ({columns}) VALUES ({marks}) RETURNING id",
                tuple(values.values()),
            ).fetchone()[0]
        else:
            conversation_id = existing["id"]
            if existing["subject"] != record.subject:
                self._unindex_subject(conversation_id, existing["subject"])
            assignments = ", ".join(f"{k} = ?" for k in values)
            conn.execute(
                f"UPDATE conversations SET {assignments}, deleted_at = NULL WHERE id = ?",
                (*values.values(), conversation_id),
            )
            conn.execute(
                "DELETE FROM conversation_tags WHERE conversation_id = ?", (conversation_id,)
            )
        if existing is None or existing["subject"] != record.subject:
            conn.execute(
                "INSERT INTO search_subjects (rowid, subject) VALUES (?, ?)",
                (conversation_id, index_text(record.subject)),
            )
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_tags (conversation_id, tag) VALUES (?, ?)",
            [(conversation_id, tag) for tag in record.tags],
        )
        stored = 0
        if record.messages is not None:
            stored = self._upsert_messages(account, conversation_id, record.messages)
        self._refresh_derived(conversation_id, record)
        self.reapply_overlays(conversation_id)
        return stored

    def _upsert_messages(
        self, account: str, conversation_id: int, messages: Iterable[MessageRecord]
    ) -> int:
        conn = self.conn
        known = {
            row[0]: (row[1], row[2])
            for row in conn.execute(
                "SELECT external_id, id, body FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            )
        }
        count = 0
        for message in messages:
            attachments = json.dumps(
                [
                    {"name": a.name, "size": a.size, "content_type": a.content_type, "url": a.url}
                    for a in message.attachments
                ],
                ensure_ascii=False,
            )
            previous = known.get(message.external_id)
            if previous is not None and previous[1] == message.body:
                continue
            message_id = conn.execute(
                """INSERT INTO messages (conversation_id, account, external_id, kind, author_kind,
                     author_name, author_external_id, channel, body, attachments, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (account, external_id) DO UPDATE SET
                     conversation_id = excluded.conversation_id, kind = excluded.kind,
                     author_kind = excluded.author_kind, author_name = excluded.author_name,
                     author_external_id = excluded.author_external_id,
                     channel = excluded.channel, body = excluded.body,
                     attachments = excluded.attachments, created_at = excluded.created_at
                   RETURNING id""",
                (
                    conversation_id,
                    account,
                    message.external_id,
                    message.kind,
                    message.author_kind,
                    message.author_name,
                    message.author_external_id,
                    message.channel,
                    message.body,
                    attachments,
                    to_iso(message.created_at),
                ),
            ).fetchone()[0]
            if previous is not None:
                conn.execute(
                    "INSERT INTO search_bodies (search_bodies, rowid, body) VALUES ('delete', ?, ?)",
                    (previous[0], index_text(previous[1])),
                )
            conn.execute(
                "INSERT INTO search_bodies (rowid, body) VALUES (?, ?)",
                (message_id, index_text(message.body)),
            )
            count += 1
        return count

    def _refresh_derived(self, conversation_id: int, record: ConversationRecord) -> None:
        """Recompute what the inbox shows from the thread: waiting time, SLA due, preview."""
        conn = self.conn
        rows = conn.execute(
            """SELECT author_kind, kind, body, created_at FROM messages
               WHERE conversation_id = ? ORDER BY created_at, id""",
            (conversation_id,),
        ).fetchall()
        public = [r for r in rows if r["kind"] == "reply"]
        last_public = public[-1] if public else None
        waiting_since: str | None = None
        if last_public is not None and last_public["author_kind"] == "customer":
            # Waiting since the first customer message after the last agent reply.
            for r in reversed(public):
                if r["author_kind"] != "customer":
                    break
                waiting_since = r["created_at"]
        first_due: str | None = None
        next_due: str | None = None
        if record.status in OPEN_STATUSES and record.status != "on_hold":
            if not any(r["author_kind"] == "agent" for r in public):
                first_due = to_iso(sla.first_response_due(record.created_at, record.priority))
            elif waiting_since is not None:
                next_due = to_iso(sla.next_response_due(from_iso(waiting_since), record.priority))
        preview = (last_public["body"] if last_public else "")[:200].replace("\n", " ")
        conn.execute(
            """UPDATE conversations SET message_count = ?, last_message_at = ?,
                 waiting_since = ?, first_response_due = ?, next_response_due = ?, preview = ?
               WHERE id = ?""",
            (
                len(rows),
                rows[-1]["created_at"] if rows else None,
                waiting_since,
                first_due,
                next_due,
                preview,
                conversation_id,
            ),
        )

    def _vendor_snoozes(self, account: str) -> bool:
        row = self.conn.execute(
            "SELECT json_extract(capabilities, '$.can_snooze') FROM accounts WHERE name = ?",
            (account,),
        ).fetchone()
        return bool(row and row[0])

    def _tombstone(self, account: str, external_id: str) -> None:
        self.conn.execute(
            "UPDATE conversations SET deleted_at = ? WHERE account = ? AND external_id = ?",
            (to_iso(utcnow()), account, external_id),
        )

    def _unindex_subject(self, conversation_id: int, subject: str) -> None:
        self.conn.execute(
            "INSERT INTO search_subjects (search_subjects, rowid, subject) VALUES ('delete', ?, ?)",
            (conversation_id, index_text(subject)),
        )

    def _unindex_conversation(self, conversation_id: int, subject: str) -> None:
        self._unindex_subject(conversation_id, subject)
        for message_id, body in self.conn.execute(
            "SELECT id, body FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchall():
            self.conn.execute(
                "INSERT INTO search_bodies (search_bodies, rowid, body) VALUES ('delete', ?, ?)",
                (message_id, index_text(body)),
            )
