"""The cache's schema and its forward migrations (`PRAGMA user_version`).

Table and column names are a public interface: users query the cache with sqlite-utils or
datasette, so a rename is a migration plus a note in docs/schema.md, never a silent change.
Times are ISO 8601 UTC text (`2026-11-23T09:12:00Z`), which sorts correctly as text.
"""

from __future__ import annotations

import sqlite3

from agentdesk.store.textindex import index_text

# Each entry migrates from version N to N+1. Append only; never edit a released step.
MIGRATIONS: list[str] = [
    # 0 -> 1: the walking skeleton's schema.
    """
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        connector TEXT NOT NULL,
        base_url TEXT NOT NULL,
        user TEXT NOT NULL,
        role TEXT,
        user_external_id TEXT,
        capabilities TEXT NOT NULL DEFAULT '{}',
        last_sync_at TEXT,
        last_error TEXT
    );

    CREATE TABLE customers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT,
        phone TEXT,
        attributes TEXT NOT NULL DEFAULT '{}',
        merged_into INTEGER REFERENCES customers(id) ON DELETE SET NULL,
        created_at TEXT,
        updated_at TEXT
    );

    -- A customer as one account knows them (Zendesk end-user, Chatwoot contact, RT user).
    CREATE TABLE contacts (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        external_id TEXT NOT NULL,
        customer_id INTEGER NOT NULL REFERENCES customers(id),
        name TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT,
        PRIMARY KEY (account, external_id)
    ) WITHOUT ROWID;
    CREATE INDEX contacts_customer ON contacts(customer_id);

    -- Normalised ways to reach a customer; shared email/phone values link contacts across
    -- accounts and channels to one customer.
    CREATE TABLE identities (
        id INTEGER PRIMARY KEY,
        customer_id INTEGER NOT NULL REFERENCES customers(id),
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        external_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        UNIQUE (account, external_id, kind, value)
    );
    CREATE INDEX identities_value ON identities(kind, value);
    CREATE INDEX identities_customer ON identities(customer_id);

    CREATE TABLE agents (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        external_id TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'agent',
        presence TEXT,
        capacity INTEGER,
        UNIQUE (account, external_id)
    );
    CREATE INDEX agents_email ON agents(email);

    CREATE TABLE teams (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        external_id TEXT NOT NULL,
        name TEXT NOT NULL,
        UNIQUE (account, external_id)
    );

    CREATE TABLE team_members (
        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
        agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        PRIMARY KEY (team_id, agent_id)
    ) WITHOUT ROWID;

    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        external_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        vendor_status TEXT NOT NULL DEFAULT '',
        priority TEXT NOT NULL DEFAULT 'normal',
        priority_rank INTEGER NOT NULL DEFAULT 1,
        assignee_id INTEGER REFERENCES agents(id) ON DELETE SET NULL,
        team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL,
        customer_id INTEGER REFERENCES customers(id),
        tags TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_message_at TEXT,
        waiting_since TEXT,
        first_response_due TEXT,
        next_response_due TEXT,
        snoozed_until TEXT,
        message_count INTEGER NOT NULL DEFAULT 0,
        preview TEXT NOT NULL DEFAULT '',
        satisfaction TEXT,
        web_url TEXT,
        version TEXT NOT NULL DEFAULT '',
        deleted_at TEXT,
        UNIQUE (account, external_id)
    );
    CREATE INDEX conversations_updated ON conversations(updated_at DESC, id DESC);
    CREATE INDEX conversations_status_updated
        ON conversations(status, updated_at DESC, id DESC);
    CREATE INDEX conversations_assignee ON conversations(assignee_id, status);
    CREATE INDEX conversations_customer ON conversations(customer_id, created_at DESC);

    CREATE TABLE conversation_tags (
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (conversation_id, tag)
    ) WITHOUT ROWID;
    CREATE INDEX conversation_tags_tag ON conversation_tags(tag);

    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        account TEXT NOT NULL,
        external_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        author_kind TEXT NOT NULL,
        author_name TEXT NOT NULL,
        author_external_id TEXT,
        channel TEXT NOT NULL,
        body TEXT NOT NULL,
        attachments TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        UNIQUE (account, external_id)
    );
    CREATE INDEX messages_thread ON messages(conversation_id, created_at, id);

    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        account TEXT NOT NULL,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        action TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}',
        base TEXT NOT NULL DEFAULT '{}',
        base_version TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'sending', 'applied', 'conflict', 'failed', 'cancelled')),
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX outbox_state ON outbox(state, conversation_id, seq);

    CREATE TABLE sync_state (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        resource TEXT NOT NULL,
        cursor TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (account, resource)
    ) WITHOUT ROWID;

    CREATE TABLE drafts (
        conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL DEFAULT 'reply',
        body TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    -- Full-text search. Contentless: the text lives once, in conversations/messages. CJK runs
    -- are bigram-indexed at ingest (see store/textindex.py) so short Japanese words match.
    CREATE VIRTUAL TABLE search_subjects USING fts5(subject, content='', tokenize='unicode61');
    CREATE VIRTUAL TABLE search_bodies USING fts5(body, content='', tokenize='unicode61');
    """,
    # 1 -> 2: search by conversation without a join through messages. One row per subject
    # (rowid = conversation id << 32) and per message (rowid = conversation id << 32 | message
    # id), so `rowid >> 32` is the conversation and a common word over 1M messages costs one
    # FTS5 doclist walk, not a messages lookup per match. Written beside search_bodies /
    # search_subjects by Store (not the outbox's optimistic `local:` messages: search.py finds
    # those through search_bodies); agentdesk_index_text is registered by migrate().
    """
    CREATE VIRTUAL TABLE search_threads USING fts5(text, content='', tokenize='unicode61');
    INSERT INTO search_threads (rowid, text)
        SELECT id << 32, agentdesk_index_text(subject) FROM conversations;
    INSERT INTO search_threads (rowid, text)
        SELECT (conversation_id << 32) | id, agentdesk_index_text(body) FROM messages
        WHERE external_id NOT LIKE 'local:%';
    """,
    # 2 -> 3: opening a conversation follows local customer merges; without this index SQLite
    # built a temporary one over every customer on each open (bench: 57 ms at 100k).
    """
    CREATE INDEX customers_merged ON customers(merged_into) WHERE merged_into IS NOT NULL;
    """,
    # 3 -> 4: what the cache policy and the supervisor metrics need.
    # - contacts.history_synced_at: when this contact's whole history (their other
    #   conversations) was last fetched; NULL = not yet (the partial index finds those).
    # - conversations.solved_at / reopen_count: when it last became solved or closed and how
    #   often it was reopened, from the vendor where it says so, else as sync observed it.
    # - accounts.presence_pending: the agent's own presence, set while offline, not yet sent.
    """
    ALTER TABLE contacts ADD COLUMN history_synced_at TEXT;
    CREATE INDEX contacts_history_due ON contacts(account) WHERE history_synced_at IS NULL;
    ALTER TABLE conversations ADD COLUMN solved_at TEXT;
    ALTER TABLE conversations ADD COLUMN reopen_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN presence_pending TEXT;
    """,
    # 4 -> 5: accounts.sync_warning: what the last round could not read while its
    # conversations still synced (agents, teams, histories), one sentence; NULL = nothing.
    """
    ALTER TABLE accounts ADD COLUMN sync_warning TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class ForeignDatabase(Exception):
    """The file is SQLite but not an agentdesk cache (or is from a newer agentdesk)."""


def check_compatible(conn: sqlite3.Connection) -> int:
    """Raise ForeignDatabase unless the file is empty or an agentdesk cache we can migrate."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise ForeignDatabase(
            f"the cache was written by a newer agentdesk (schema {found}, this one knows "
            f"{SCHEMA_VERSION}); upgrade agentdesk or point AGENTDESK_HOME elsewhere"
        )
    if found == 0:
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).fetchone()[0]
        if tables:
            raise ForeignDatabase(
                "the file holds tables but is not an agentdesk cache; it was left untouched"
            )
    return found


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before migrating."""
    found = check_compatible(conn)
    # Backfills index text exactly as ingest does (CJK bigrams): Python, not SQL.
    conn.create_function("agentdesk_index_text", 1, index_text, deterministic=True)
    for version in range(found, SCHEMA_VERSION):
        # executescript commits first; the migration and its version bump commit together.
        conn.executescript(
            "BEGIN IMMEDIATE;\n"
            + MIGRATIONS[version]
            + f"\nPRAGMA user_version = {version + 1};\nCOMMIT;"
        )
    return found
