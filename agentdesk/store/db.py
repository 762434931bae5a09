"""The local cache: one SQLite file (WAL) per profile, the single source of truth for the UI.

Each thread that uses the store opens its own `Store` (SQLite connections are not shared
across threads). The sync engine writes pages; the screen reads windows.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from agentdesk import sla
from agentdesk.model import (
    OPEN_STATUSES,
    PRIORITIES,
    RESOLVED_STATUSES,
    AgentRecord,
    ContactRecord,
    ConversationRecord,
    MessageRecord,
    Page,
    TeamRecord,
)
from agentdesk.store.customers import Customers
from agentdesk.store.outbox import LIVE_STATES, LOCAL_MESSAGE_PREFIX, Outbox
from agentdesk.store.schema import ForeignDatabase, check_compatible, migrate
from agentdesk.store.textindex import index_text, thread_rowid
from agentdesk.timeutil import from_iso, to_iso, utcnow

PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
_OPEN = "('" + "','".join(OPEN_STATUSES) + "')"
LINKING_IDENTITY_KINDS = ("email", "phone")
_T = TypeVar("_T")


_CONVERSATION_COLUMNS = (
    "account", "external_id", "channel", "subject", "status", "vendor_status", "priority",
    "priority_rank", "assignee_id", "team_id", "customer_id", "tags", "created_at", "updated_at",
    "satisfaction", "web_url", "version", "solved_at", "reopen_count",
)  # fmt: skip
_CHUNK = 500  # ids per IN (...) list: far below SQLite's bound-parameter limit


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _attachments_json(message: MessageRecord) -> str:
    if not message.attachments:  # most messages: skip the encoder
        return "[]"
    return json.dumps(
        [
            {"name": a.name, "size": a.size, "content_type": a.content_type, "url": a.url}
            for a in message.attachments
        ],
        ensure_ascii=False,
    )


def _derived(
    thread: Sequence[tuple[str, str, str, str]], record: ConversationRecord
) -> tuple[object, ...]:
    """message_count, last_message_at, waiting_since, first/next response due, preview, from
    the thread's (author_kind, kind, created_at, reply body prefix) rows, oldest first."""
    public = [r for r in thread if r[1] == "reply"]
    last_public = public[-1] if public else None
    waiting_since: str | None = None
    if last_public is not None and last_public[0] == "customer":
        # Waiting since the first customer message after the last agent reply.
        for r in reversed(public):
            if r[0] != "customer":
                break
            waiting_since = r[2]
    first_due: str | None = None
    next_due: str | None = None
    if record.status in OPEN_STATUSES and record.status != "on_hold":
        if not any(r[0] == "agent" for r in public):
            first_due = to_iso(sla.first_response_due(record.created_at, record.priority))
        elif waiting_since is not None:
            next_due = to_iso(sla.next_response_due(from_iso(waiting_since), record.priority))
    preview = (last_public[3] if last_public else "")[:200].replace("\n", " ")
    return (
        len(thread),
        thread[-1][2] if thread else None,
        waiting_since,
        first_due,
        next_due,
        preview,
    )


def _resolution(
    record: ConversationRecord, before: tuple[str, str | None, int] | None
) -> tuple[str | None, int]:
    """solved_at and reopen_count to store: the vendor's figures where it gives them,
    otherwise what this upsert observes against the stored copy (`before`: its server status,
    '' when an outbox overlay hides it; its solved_at; its reopen count).

    Reopen counts only grow, so a vendor's count never undoes a reopen made here that the
    server has not seen yet (max), and a count the vendor does not keep adds what sync sees.
    """
    old_status, old_solved, old_reopens = before or ("", None, 0)
    resolved = record.status in RESOLVED_STATUSES
    entered = resolved and old_status not in RESOLVED_STATUSES
    reopened = old_status in RESOLVED_STATUSES and record.status in OPEN_STATUSES
    if record.solved_at is not None:
        solved_at: str | None = to_iso(record.solved_at)
    elif entered or (resolved and old_solved is None):
        # Moving into solved/closed, or solved before this cache kept the time: the update.
        solved_at = to_iso(record.updated_at)
    else:
        solved_at = old_solved
    if record.reopens is not None:
        reopens = max(record.reopens, old_reopens)
    else:
        reopens = old_reopens + (1 if reopened else 0)
    return solved_at, reopens


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


class Store(Outbox, Customers):
    """A connection to the cache with the reads and writes the rest of agentdesk uses."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self._full = False  # the connection's synchronous level is FULL (Store.open: NORMAL)

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
        """One write transaction; `durable` makes its commit synchronous=FULL.

        The pragma is switched only when the kind of transaction changes: actions come in
        runs, and two extra statements per action cost ~0.1× a FULL commit (bench: outbox)."""
        conn = self.conn
        if durable != self._full:
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._full = durable
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise self._write_failure(exc) from None

    def _write_failure(self, exc: sqlite3.OperationalError) -> Exception:
        """A write the disk refused, as a sentence: nothing of the transaction was kept."""
        text = str(exc)
        if "full" in text:
            return StoreError(
                f"{self.path}: the disk is full; nothing of this change was saved (what was "
                "already queued is intact) — free some space and try again"
            )
        if "readonly" in text or "read-only" in text:
            return StoreError(
                f"{self.path} cannot be written (read-only file or folder); nothing of this "
                "change was saved — check the permissions of the data folder"
            )
        return exc

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
        warning: str | None = None,
    ) -> None:
        """What sync learned about an account: role, capability flags, last sync, last error,
        and what it could not read (`warning`; an empty string clears it)."""
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
            # Server text quoted in an error may hold lone surrogates SQLite cannot store.
            args.append(error.encode("utf-8", "replace").decode("utf-8"))
        elif clear_error:
            sets.append("last_error = NULL")
        if warning is not None:
            sets.append("sync_warning = ?")
            args.append(warning.encode("utf-8", "replace").decode("utf-8") or None)
        if sets:
            try:
                self.conn.execute(
                    f"UPDATE accounts SET {', '.join(sets)} WHERE name = ?", (*args, account)
                )
            except sqlite3.OperationalError as exc:
                raise self._write_failure(exc) from None

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
            stats = self._upsert_page(account, page)
            conn.execute(
                """INSERT INTO sync_state (account, resource, cursor, updated_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (account, resource) DO UPDATE
                   SET cursor = excluded.cursor, updated_at = excluded.updated_at""",
                (account, page.resource, page.cursor, to_iso(utcnow())),
            )
        return stats

    def _upsert_page(self, account: str, page: Page) -> PageStats:
        """A page's records, inside the caller's transaction."""
        conn = self.conn
        for team in page.teams:
            self._upsert_team(account, team)
        for agent in page.agents:
            self._upsert_agent(account, agent)
        if page.agents:
            # The agent's own presence set here (not sent yet, or local where the vendor
            # has none) stays over the pulled one: see store/presence.py.
            conn.execute(
                """UPDATE agents SET presence = (SELECT CASE
                     WHEN presence_pending LIKE 'local:%' THEN substr(presence_pending, 7)
                     ELSE presence_pending END FROM accounts WHERE name = ?)
                   WHERE account = ? AND external_id =
                     (SELECT user_external_id FROM accounts WHERE name = ?
                      AND presence_pending IS NOT NULL
                      AND presence_pending NOT LIKE 'refused:%')""",
                (account, account, account),
            )
        for contact in page.contacts:
            self._upsert_contact(account, contact)
        messages = self._upsert_conversations(account, page.conversations)
        for external_id in page.deleted_conversation_ids:
            self._tombstone(account, external_id)
        return PageStats(
            conversations=len(page.conversations),
            messages=messages,
            contacts=len(page.contacts),
            agents=len(page.agents),
            teams=len(page.teams),
            deleted=len(page.deleted_conversation_ids),
        )

    # ---------------------------------------------------------------- cache policy
    def history_due(self, account: str, limit: int) -> list[str]:
        """Contacts of `account` with a cached conversation whose whole history (their other
        conversations) was not fetched yet; at most `limit`, in a stable order."""
        rows = self.conn.execute(
            """SELECT c.external_id FROM contacts c
               WHERE c.account = ? AND c.history_synced_at IS NULL
                 AND EXISTS (SELECT 1 FROM conversations v
                             WHERE v.customer_id = c.customer_id AND v.account = c.account)
               ORDER BY c.external_id LIMIT ?""",
            (account, max(0, limit)),
        ).fetchall()
        return [r[0] for r in rows]

    def apply_history_page(
        self, account: str, contact_external_id: str, page: Page, *, done: bool
    ) -> PageStats:
        """Upsert one page of a contact's history; with `done`, mark their history fetched in
        the same transaction (a crash before it fetches the history again: harmless upserts).
        No cursor is stored: history pages are not a resumable pull."""
        with self.transaction() as conn:
            stats = self._upsert_page(account, page)
            if done:
                conn.execute(
                    """UPDATE contacts SET history_synced_at = ?
                       WHERE account = ? AND external_id = ?""",
                    (to_iso(utcnow()), account, contact_external_id),
                )
        return stats

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
                customer_id = self.canonical_customer(match[0])
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

    # A page's conversations and messages are written in bulk: one lookup of what is already
    # stored, then `executemany` per table. Per-row statements cost ~9k messages/s; this runs
    # at the speed of SQLite's inserts (see bench/). Row ids of new rows are assigned here
    # (max + 1, as SQLite would) so the FTS rows can be written in bulk too; the page's
    # transaction holds the write lock, so nobody else can take them meanwhile.
    def _upsert_conversations(self, account: str, records: Sequence[ConversationRecord]) -> int:
        conn = self.conn
        if not records:
            return 0
        existing: dict[str, tuple[int, str]] = {}
        history: dict[str, tuple[str, str | None, int]] = {}  # status, solved_at, reopens
        external_ids = [r.external_id for r in records]
        for chunk in _chunks(external_ids):
            for row in conn.execute(
                f"""SELECT external_id, id, subject, status, solved_at, reopen_count,
                      EXISTS (SELECT 1 FROM outbox o WHERE o.conversation_id = conversations.id
                        AND o.action = 'status' AND o.state IN ('pending', 'sending')) AS local
                    FROM conversations WHERE account = ?
                    AND external_id IN ({",".join("?" * len(chunk))})""",
                (account, *chunk),
            ):
                existing[row[0]] = (row[1], row[2])
                # A status the outbox overlaid is not the server's: no transition to see.
                status = "" if row[6] else row[3]
                history[row[0]] = (status, row[4], row[5])
        snoozes = self._vendor_snoozes(account)
        agents: dict[str | None, int | None] = {None: None}
        teams: dict[str | None, int | None] = {None: None}
        customers: dict[str | None, int | None] = {None: None}
        next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM conversations").fetchone()[0]
        columns = list(_CONVERSATION_COLUMNS) + (["snoozed_until"] if snoozes else [])
        inserts: list[tuple[object, ...]] = []
        updates: list[tuple[object, ...]] = []
        subjects_out: list[tuple[int, str]] = []
        subjects_in: list[tuple[int, str]] = []
        tags: list[tuple[int, str]] = []
        retagged: list[tuple[int]] = []
        ids: dict[str, int] = {}  # external id -> conversation id, within this page
        subjects_in_page: dict[str, str] = {}
        for record in records:
            if record.assignee_external_id not in agents:
                agents[record.assignee_external_id] = self._agent_id(
                    account, record.assignee_external_id
                )
            if record.team_external_id not in teams:
                teams[record.team_external_id] = self._team_id(account, record.team_external_id)
            if record.customer_external_id not in customers:
                customers[record.customer_external_id] = self._customer_id(
                    account, record.customer_external_id
                )
            values: list[object] = [
                account,
                record.external_id,
                record.channel,
                record.subject,
                record.status,
                record.vendor_status,
                record.priority,
                PRIORITY_RANK.get(record.priority, 1),
                agents[record.assignee_external_id],
                teams[record.team_external_id],
                customers[record.customer_external_id],
                json.dumps(list(record.tags), ensure_ascii=False),
                to_iso(record.created_at),
                to_iso(record.updated_at),
                record.satisfaction,
                record.web_url,
                record.version,
                *_resolution(record, history.get(record.external_id)),
            ]
            if snoozes:
                values.append(to_iso(record.snoozed_until) if record.snoozed_until else None)
            found = existing.get(record.external_id)
            if found is None and record.external_id in ids:
                # The same conversation twice in one page: the later copy wins, as before.
                found = (ids[record.external_id], subjects_in_page[record.external_id])
            if found is None:
                conversation_id = next_id
                next_id += 1
                inserts.append((conversation_id, *values))
                subjects_in.append((conversation_id, index_text(record.subject)))
            else:
                conversation_id, old_subject = found
                updates.append((*values, conversation_id))
                retagged.append((conversation_id,))
                if old_subject != record.subject:
                    subjects_out.append((conversation_id, index_text(old_subject)))
                    subjects_in.append((conversation_id, index_text(record.subject)))
            ids[record.external_id] = conversation_id
            subjects_in_page[record.external_id] = record.subject
            tags.extend((conversation_id, tag) for tag in record.tags)
        if inserts:
            conn.executemany(
                f"INSERT INTO conversations (id, {', '.join(columns)}) "
                f"VALUES ({', '.join('?' * (len(columns) + 1))})",
                inserts,
            )
        if updates:
            assignments = ", ".join(f"{k} = ?" for k in columns)
            conn.executemany(
                f"UPDATE conversations SET {assignments}, deleted_at = NULL WHERE id = ?",
                updates,
            )
            conn.executemany("DELETE FROM conversation_tags WHERE conversation_id = ?", retagged)
        if subjects_out:
            conn.executemany(
                "INSERT INTO search_subjects (search_subjects, rowid, subject) "
                "VALUES ('delete', ?, ?)",
                subjects_out,
            )
            conn.executemany(
                "INSERT INTO search_threads (search_threads, rowid, text) "
                "VALUES ('delete', ?, ?)",
                [(thread_rowid(c), text) for c, text in subjects_out],
            )
        conn.executemany(
            "INSERT INTO search_subjects (rowid, subject) VALUES (?, ?)", subjects_in
        )
        conn.executemany(
            "INSERT INTO search_threads (rowid, text) VALUES (?, ?)",
            [(thread_rowid(c), text) for c, text in subjects_in],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_tags (conversation_id, tag) VALUES (?, ?)", tags
        )
        stored = self._upsert_messages(
            account,
            [
                (ids[r.external_id], m)
                for r in records
                if r.messages is not None
                for m in r.messages
            ],
        )
        touched = list(dict.fromkeys(ids[r.external_id] for r in records))
        self._refresh_derived(touched, {ids[r.external_id]: r for r in records})
        for conversation_id in self._with_live_mutations(touched):
            self.reapply_overlays(conversation_id)
        return stored

    def _with_live_mutations(self, conversation_ids: Sequence[int]) -> list[int]:
        found: set[int] = set()
        for chunk in _chunks(conversation_ids):
            found.update(
                row[0]
                for row in self.conn.execute(
                    f"""SELECT DISTINCT conversation_id FROM outbox WHERE state IN
                        ({",".join("?" * len(LIVE_STATES))})
                        AND conversation_id IN ({",".join("?" * len(chunk))})""",
                    (*LIVE_STATES, *chunk),
                )
            )
        return [c for c in conversation_ids if c in found]

    def _upsert_messages(
        self, account: str, messages: Sequence[tuple[int, MessageRecord]]
    ) -> int:
        if not messages:
            return 0
        conn = self.conn
        known: dict[str, tuple[int, int, str]] = {}  # external id -> (id, conversation, body)
        for chunk in _chunks([m.external_id for _, m in messages]):
            for row in conn.execute(
                f"""SELECT external_id, id, conversation_id, body FROM messages WHERE account = ?
                    AND external_id IN ({",".join("?" * len(chunk))})""",
                (account, *chunk),
            ):
                known[row[0]] = (row[1], row[2], row[3])
        next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
        inserts: list[tuple[object, ...]] = []
        updates: list[tuple[object, ...]] = []
        index_out: list[tuple[int, str]] = []
        index_in: list[tuple[int, str]] = []
        threads_out: list[tuple[int, str]] = []
        threads_in: list[tuple[int, str]] = []
        for conversation_id, message in messages:
            previous = known.get(message.external_id)
            if previous is not None and previous[1] == conversation_id and (
                previous[2] == message.body
            ):
                continue
            values = (
                conversation_id,
                account,
                message.external_id,
                message.kind,
                message.author_kind,
                message.author_name,
                message.author_external_id,
                message.channel,
                message.body,
                _attachments_json(message),
                to_iso(message.created_at),
            )
            if previous is None:
                message_id = next_id
                next_id += 1
                inserts.append((message_id, *values))
            else:
                message_id = previous[0]
                updates.append((*values, message_id))
                old_text = index_text(previous[2])
                index_out.append((message_id, old_text))
                threads_out.append((thread_rowid(previous[1], message_id), old_text))
            # A repeat within the page is then an update of the row just written.
            known[message.external_id] = (message_id, conversation_id, message.body)
            text = index_text(message.body)
            index_in.append((message_id, text))
            threads_in.append((thread_rowid(conversation_id, message_id), text))
        conn.executemany(
            """INSERT INTO messages (id, conversation_id, account, external_id, kind,
                 author_kind, author_name, author_external_id, channel, body, attachments,
                 created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            inserts,
        )
        conn.executemany(
            """UPDATE messages SET conversation_id = ?, account = ?, external_id = ?, kind = ?,
                 author_kind = ?, author_name = ?, author_external_id = ?, channel = ?,
                 body = ?, attachments = ?, created_at = ? WHERE id = ?""",
            updates,
        )
        conn.executemany(
            "INSERT INTO search_bodies (search_bodies, rowid, body) VALUES ('delete', ?, ?)",
            index_out,
        )
        conn.executemany("INSERT INTO search_bodies (rowid, body) VALUES (?, ?)", index_in)
        if threads_out:
            conn.executemany(
                "INSERT INTO search_threads (search_threads, rowid, text) VALUES ('delete', ?, ?)",
                threads_out,
            )
        conn.executemany("INSERT INTO search_threads (rowid, text) VALUES (?, ?)", threads_in)
        return len(index_in)

    def _refresh_derived(
        self, conversation_ids: Sequence[int], records: Mapping[int, ConversationRecord]
    ) -> None:
        """Recompute what the inbox shows from the thread: waiting time, SLA due, preview."""
        threads: dict[int, list[tuple[str, str, str, str]]] = {c: [] for c in conversation_ids}
        for chunk in _chunks(conversation_ids):
            for row in self.conn.execute(
                f"""SELECT conversation_id, author_kind, kind, created_at,
                      CASE WHEN kind = 'reply' THEN substr(body, 1, 200) ELSE '' END
                    FROM messages WHERE conversation_id IN ({",".join("?" * len(chunk))})
                    ORDER BY conversation_id, created_at, id""",
                chunk,
            ):
                threads[row[0]].append((row[1], row[2], row[3], row[4]))
        updates = [
            (*_derived(threads[c], records[c]), c) for c in conversation_ids
        ]
        self.conn.executemany(
            """UPDATE conversations SET message_count = ?, last_message_at = ?,
                 waiting_since = ?, first_response_due = ?, next_response_due = ?, preview = ?
               WHERE id = ?""",
            updates,
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
        text = index_text(subject)
        self.conn.execute(
            "INSERT INTO search_subjects (search_subjects, rowid, subject) VALUES ('delete', ?, ?)",
            (conversation_id, text),
        )
        self.conn.execute(
            "INSERT INTO search_threads (search_threads, rowid, text) VALUES ('delete', ?, ?)",
            (thread_rowid(conversation_id), text),
        )

    def _unindex_conversation(self, conversation_id: int, subject: str) -> None:
        self._unindex_subject(conversation_id, subject)
        for message_id, external_id, body in self.conn.execute(
            "SELECT id, external_id, body FROM messages WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchall():
            text = index_text(body)
            self.conn.execute(
                "INSERT INTO search_bodies (search_bodies, rowid, body) VALUES ('delete', ?, ?)",
                (message_id, text),
            )
            if external_id.startswith(LOCAL_MESSAGE_PREFIX):
                continue  # the outbox's optimistic rows live in search_bodies only
            self.conn.execute(
                "INSERT INTO search_threads (search_threads, rowid, text) VALUES ('delete', ?, ?)",
                (thread_rowid(conversation_id, message_id), text),
            )
