from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import pytest

from agentdesk.model import ContactRecord, ConversationRecord, Identity, MessageRecord, Page
from agentdesk.store import Store, StoreError
from agentdesk.store.schema import SCHEMA_VERSION

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

PUBLIC_TABLES = {
    "accounts", "customers", "identities", "agents", "teams", "conversations", "messages",
    "outbox", "sync_state",
}


def _conversation(external_id: str, customer: str, channel: str = "email", **kw) -> ConversationRecord:
    messages = kw.pop("messages", None)
    return ConversationRecord(
        external_id=external_id,
        channel=channel,
        subject=kw.pop("subject", f"subject {external_id}"),
        status=kw.pop("status", "open"),
        vendor_status="open",
        priority=kw.pop("priority", "normal"),
        created_at=T0,
        updated_at=kw.pop("updated_at", T0),
        version="v1",
        customer_external_id=customer,
        messages=messages,
        **kw,
    )


def _message(external_id: str, author_kind: str, body: str, minutes: int = 0) -> MessageRecord:
    return MessageRecord(
        external_id=external_id,
        kind="reply",
        author_kind=author_kind,
        author_name=author_kind,
        body=body,
        created_at=T0 + timedelta(minutes=minutes),
        channel="email",
    )


def test_new_file_is_migrated_private_and_in_wal(tmp_path):
    path = tmp_path / "cache.db"
    store = Store.open(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert PUBLIC_TABLES <= tables
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.close()
    # Re-opening an up-to-date file migrates nothing and keeps data.
    again = Store.open(path)
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again.close()


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.execute("INSERT INTO recipes VALUES ('soup')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an agentdesk cache"):
        Store.open(path)
    assert path.read_bytes() == before


def test_garbage_file_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="left untouched"):
        Store.open(path)
    assert path.read_bytes() == b"this is not sqlite at all" * 100


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer agentdesk"):
        Store.open(path)


def test_same_email_on_two_accounts_and_channels_is_one_customer(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "a@acme.com")
    store.upsert_account("chat", "chatwoot", "http://127.0.0.1:2", "a@acme.com")
    hanako = (Identity("email", "hanako@example.jp"), Identity("phone", "+819012345678"))
    store.apply_page("acme", Page("tickets", "c1", False,
        contacts=(ContactRecord("u1", "佐藤 花子", hanako),),
        conversations=(_conversation("1", "u1", "email"),)))
    store.apply_page("chat", Page("conversations", "c1", False,
        contacts=(ContactRecord("77", "Hanako Sato", (Identity("phone", "+819012345678"),)),),
        conversations=(_conversation("9", "77", "chat"),)))
    customers = store.conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    assert customers == 1
    history = store.customer_history(1)
    assert {(h.account, h.channel) for h in history} == {("acme", "email"), ("chat", "chat")}
    detail = store.customer(1)
    assert {(i.account, i.kind) for i in detail.identities} >= {("acme", "email"), ("chat", "phone")}


def test_applying_the_same_page_twice_changes_nothing(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "a@acme.com")
    page = Page("tickets", "c1", False,
        contacts=(ContactRecord("u1", "Tom Baker", (Identity("email", "tom@example.com"),)),),
        conversations=(_conversation("1", "u1", messages=(
            _message("m1", "customer", "Where is my refund for order 4411?"),
            _message("m2", "agent", "It was sent yesterday.", 5),
        )),))

    def snapshot():
        tables = ("customers", "identities", "conversations", "messages", "conversation_tags")
        return {t: store.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables} | {
            "fts": store.conn.execute(
                "SELECT rowid FROM search_bodies WHERE search_bodies MATCH 'refund'").fetchall()}

    store.apply_page("acme", page)
    first = {k: [tuple(r) for r in v] for k, v in snapshot().items()}
    store.apply_page("acme", page)
    second = {k: [tuple(r) for r in v] for k, v in snapshot().items()}
    # customers.updated_at moves; everything a user sees stays.
    first["customers"] = [r[:-1] for r in first["customers"]]
    second["customers"] = [r[:-1] for r in second["customers"]]
    assert first == second
    assert len(second["fts"]) == 1


def test_waiting_time_and_first_response_due_follow_the_thread(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "a@acme.com")
    unanswered = _conversation("1", "u1", priority="urgent", messages=(
        _message("m1", "customer", "VPN is down for the whole office", 0),))
    store.apply_page("acme", Page("tickets", "c", False, conversations=(unanswered,)))
    row = store.inbox_rows([1])[1]
    assert row.waiting_since == T0
    assert row.sla_due == T0 + timedelta(hours=1)
    answered = _conversation("1", "u1", priority="urgent", messages=(
        _message("m1", "customer", "VPN is down for the whole office", 0),
        _message("m2", "agent", "Restarting the gateway now.", 10)))
    store.apply_page("acme", Page("tickets", "c", False, conversations=(answered,)))
    row = store.inbox_rows([1])[1]
    assert row.waiting_since is None
    assert row.sla_due is None


def test_japanese_words_of_one_and_two_characters_are_found(tmp_path):
    from agentdesk.store.textindex import query_terms

    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "a@acme.com")
    store.apply_page("acme", Page("tickets", "c", False, conversations=(
        _conversation("1", "u1", subject="注文が届きません", messages=(
            _message("m1", "customer", "配送状況を教えてください。返品したいです"),)),
        _conversation("2", "u1", subject="Password reset", messages=(
            _message("m2", "customer", "I cannot log in"),)),
    )))

    def bodies(word):
        return [r[0] for r in store.conn.execute(
            "SELECT rowid FROM search_bodies WHERE search_bodies MATCH ?", (query_terms(word),))]

    assert bodies("返品") == [1]
    assert bodies("配送") == [1]
    assert bodies("返") == [1]
    assert bodies("log") == [2]
    assert bodies("届") == []
    subjects = store.conn.execute(
        "SELECT rowid FROM search_subjects WHERE search_subjects MATCH ?",
        (query_terms("届き"),)).fetchall()
    assert [r[0] for r in subjects] == [1]


def test_removing_an_account_purges_its_cache(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "a@acme.com")
    store.apply_page("acme", Page("tickets", "c", False,
        contacts=(ContactRecord("u1", "Tom", (Identity("email", "t@x.com"),)),),
        conversations=(_conversation("1", "u1", messages=(_message("m1", "customer", "refund"),)),)))
    store.remove_account("acme")
    for table in ("conversations", "messages", "customers", "identities", "sync_state"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    assert store.conn.execute(
        "SELECT count(*) FROM search_bodies WHERE search_bodies MATCH 'refund'").fetchone()[0] == 0
