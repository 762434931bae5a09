"""Pull sync into a real SQLite file: full sync, idempotent replays, crash/resume, events."""

from __future__ import annotations

import json
import re
import threading

import httpx
import pytest
import respx

from agentdesk.connectors.base import AccountSettings
from agentdesk.connectors.http import HttpPolicy
from agentdesk.connectors.zendesk import ZendeskConnector
from agentdesk.store import Store
from agentdesk.sync import BackgroundSync, SyncEngine, sync_once
from agentdesk.syncapi import SyncEvent
from tests.connectors.zendesk_payloads import (
    AGENT,
    BASE,
    HANAKO,
    TOKEN,
    TOMB,
    USER,
    export_page,
    mount_world,
    ticket,
)

FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.002, max_attempts=2)
EXPORT = re.compile(rf"{re.escape(BASE)}/api/v2/incremental/tickets/cursor\.json.*")
# Columns that record *when agentdesk wrote*, not what the backend said.
WRITE_TIMES = {
    "accounts": {"last_sync_at"},
    "sync_state": {"updated_at"},
    "customers": {"updated_at", "created_at"},
    "contacts": {"updated_at"},
}


def settings(name: str = "acme", base: str = BASE) -> AccountSettings:
    # The payloads mock the pull endpoints only: the cache policy's extra passes (old open
    # tickets, customers' histories) are proven in tests/sync/test_cache_policy.py and the
    # behaviour suite.
    return AccountSettings(
        name=name, connector="zendesk", base_url=base, user=USER,
        cache_open=False, cache_history=False,
    )  # fmt: skip


def zendesk(name: str = "acme", base: str = BASE) -> ZendeskConnector:
    return ZendeskConnector(settings(name, base), TOKEN, policy=FAST)


def snapshot(store: Store) -> dict[str, list[tuple]]:
    tables = [
        r[0]
        for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'search_%'"
            " AND name NOT LIKE 'sqlite_%'"
        )
    ]
    out: dict[str, list[tuple]] = {}
    for table in tables:
        columns = [r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")]
        keep = [c for c in columns if c not in WRITE_TIMES.get(table, set())]
        rows = store.conn.execute(f"SELECT {', '.join(keep)} FROM {table}").fetchall()
        out[table] = sorted(tuple(r) for r in rows)
    return out


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    yield store
    store.close()


@respx.mock
async def test_full_sync_fills_the_cache_and_records_the_account(store):
    mount_world(respx.mock)
    events: list[SyncEvent] = []
    connector = zendesk()
    try:
        result = await SyncEngine(store, {"acme": connector}, events.append).sync_account("acme")
    finally:
        await connector.aclose()
    assert result.ok and result.conversations == 2 and result.messages == 4
    assert result.role == "agent"
    rows = store.conn.execute(
        "SELECT external_id, channel, status, priority, subject FROM conversations ORDER BY 1"
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        ("1", "email", "open", "high", "Ticket 1"),
        ("2", "chat", "open", "high", "Ticket 2"),
    ]
    assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 4
    emails = {r[0] for r in store.conn.execute("SELECT value FROM identities WHERE kind='email'")}
    assert emails == {"hanako@example.jp", "tom.baker@example.com"}
    members = store.conn.execute(
        """SELECT a.email, t.name FROM team_members m JOIN agents a ON a.id = m.agent_id
           JOIN teams t ON t.id = m.team_id ORDER BY 1, 2"""
    ).fetchall()
    assert ("tom@acme.com", "Billing") in [tuple(m) for m in members]
    account = store.conn.execute("SELECT * FROM accounts WHERE name = 'acme'").fetchone()
    assert account["role"] == "agent" and account["user_external_id"] == "901"
    assert json.loads(account["capabilities"])["can_safe_update"] is True
    assert account["last_sync_at"] and account["last_error"] is None
    assert store.get_cursor("acme", "tickets") == "CURSOR-1"
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "account_done"
    pages = [e for e in events if e.kind == "page"]
    assert {e.extra["resource"] for e in pages} == {"groups", "agents", "tickets"}
    assert all(TOKEN not in e.message for e in events)


@respx.mock
async def test_pulling_twice_changes_nothing(store):
    mount_world(respx.mock)
    connector = zendesk()
    engine = SyncEngine(store, {"acme": connector})
    try:
        assert (await engine.sync_account("acme")).ok
        first = snapshot(store)
        assert (await engine.sync_account("acme")).ok
        second = snapshot(store)
    finally:
        await connector.aclose()
    assert first == second
    assert len(first["conversations"]) == 2 and len(first["messages"]) == 4


@respx.mock
async def test_a_crash_between_pages_resumes_at_the_last_committed_cursor(store):
    mount_world(respx.mock)
    export = respx.get(url__regex=EXPORT)
    page1 = export_page([ticket(1)], [HANAKO, AGENT], after="C1", end=False)
    page2 = export_page([ticket(2, requester_id=1002)], [TOMB], after="C2", end=True)
    export.side_effect = [httpx.Response(200, json=page1), httpx.Response(500), httpx.Response(500)]
    events: list[SyncEvent] = []
    connector = zendesk()
    try:
        failed = await SyncEngine(store, {"acme": connector}, events.append).sync_account("acme")
        assert not failed.ok and failed.conversations == 1
        assert store.get_cursor("acme", "tickets") == "C1"  # page 1 and its cursor committed
        error = store.conn.execute("SELECT last_error FROM accounts").fetchone()[0]
        assert "HTTP 500" in error
        assert events[-1].kind == "error" and not failed.offline and "HTTP 500" in events[-1].message

        export.side_effect = [httpx.Response(200, json=page2)]
        resumed = await SyncEngine(store, {"acme": connector}).sync_account("acme")
    finally:
        await connector.aclose()
    assert resumed.ok
    assert export.calls.last.request.url.params["cursor"] == "C1"
    ids = [r[0] for r in store.conn.execute("SELECT external_id FROM conversations")]
    assert sorted(ids) == ["1", "2"]
    messages = [r[0] for r in store.conn.execute("SELECT external_id FROM messages")]
    assert len(messages) == len(set(messages)) == 4
    assert store.get_cursor("acme", "tickets") == "C2"
    assert store.conn.execute("SELECT last_error FROM accounts").fetchone()[0] is None


@respx.mock
async def test_one_failing_account_does_not_stop_the_others(store):
    mount_world(respx.mock)
    broken = "https://broken.zendesk.com"
    respx.get(f"{broken}/api/v2/users/me.json").respond(
        401, json={"error": "Couldn't authenticate you"}
    )
    events: list[SyncEvent] = []
    good, bad = zendesk(), zendesk("broken", broken)
    try:
        results = await SyncEngine(store, {"acme": good, "broken": bad}, events.append).sync_all()
    finally:
        await good.aclose()
        await bad.aclose()
    by_name = {r.account: r for r in results}
    assert by_name["acme"].ok and not by_name["broken"].ok
    assert "agentdesk accounts add broken" in by_name["broken"].error
    errors = [e for e in events if e.kind == "error"]
    assert [e.account for e in errors] == ["broken"] and TOKEN not in errors[0].message


async def test_an_unexpected_bug_becomes_an_event_not_a_traceback(store):
    class Buggy(ZendeskConnector):
        async def whoami(self):
            raise KeyError("oops")

    events: list[SyncEvent] = []
    connector = Buggy(settings(), TOKEN)
    try:
        result = await SyncEngine(store, {"acme": connector}, events.append).sync_account("acme")
    finally:
        await connector.aclose()
    assert not result.ok and "KeyError" in result.error and "log file" in result.error
    assert events[-1].kind == "error"


@respx.mock
async def test_rate_limit_waits_are_reported_as_events(store):
    mount_world(respx.mock)
    respx.get(f"{BASE}/api/v2/groups.json").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.01"}),
            httpx.Response(200, json={"groups": [], "meta": {"has_more": False}}),
        ]
    )
    events: list[SyncEvent] = []
    connector = zendesk()
    try:
        assert (await SyncEngine(store, {"acme": connector}, events.append).sync_account("acme")).ok
    finally:
        await connector.aclose()
    waits = [e for e in events if "rate_limit_wait" in e.extra]
    assert len(waits) == 1 and "slow down" in waits[0].message


@respx.mock
async def test_sync_once_summarises_each_account(tmp_path):
    mount_world(respx.mock)
    summary = await sync_once(
        tmp_path / "cache.db",
        [(settings(), TOKEN)],
        connector_factory=lambda s, t: ZendeskConnector(s, t, policy=FAST),
    )
    assert summary["ok"] is True
    (account,) = summary["accounts"]
    assert account["account"] == "acme" and account["conversations"] == 2
    assert TOKEN not in json.dumps(summary)


@respx.mock
def test_background_sync_goes_offline_recovers_and_stops_promptly(tmp_path):
    mount_world(respx.mock)
    me = respx.get(f"{BASE}/api/v2/users/me.json")
    me.side_effect = [
        httpx.ConnectError("refused"),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"user": AGENT}),
    ]
    events: list[SyncEvent] = []
    back_online = threading.Event()

    def on_event(event: SyncEvent) -> None:
        events.append(event)
        if event.kind == "idle" and event.extra.get("online"):
            back_online.set()

    runner = BackgroundSync(
        tmp_path / "cache.db",
        [(settings(), TOKEN)],
        interval=30,
        offline_retry=0.01,
        connector_factory=lambda s, t: ZendeskConnector(s, t, policy=FAST),
    )
    stop = threading.Event()
    worker = threading.Thread(target=runner.run, args=(on_event, stop))
    worker.start()
    try:
        assert back_online.wait(10), [e.kind for e in events]
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()  # woke from the 30 s interval at once
    kinds = [e.kind for e in events]
    assert "offline" in kinds and kinds.index("offline") < kinds.index("account_done")
    assert events[-1].message == "back online; up to date"
    offline = next(e for e in events if e.kind == "offline")
    assert "cannot reach Zendesk" in offline.message and TOKEN not in offline.message
    assert TOKEN not in repr(runner)
    check = Store.open(tmp_path / "cache.db")
    try:
        assert check.conn.execute("SELECT count(*) FROM conversations").fetchone()[0] == 2
    finally:
        check.close()


def test_background_sync_reports_an_unknown_connector_and_keeps_running(tmp_path):
    odd = AccountSettings(name="odd", connector="jira", base_url=BASE, user=USER)
    events: list[SyncEvent] = []
    idle = threading.Event()

    def on_event(event: SyncEvent) -> None:
        events.append(event)
        if event.kind == "idle":
            idle.set()

    stop = threading.Event()
    worker = threading.Thread(
        target=BackgroundSync(tmp_path / "c.db", [(odd, TOKEN)], interval=30).run,
        args=(on_event, stop),
    )
    worker.start()
    try:
        assert idle.wait(10)
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()
    assert events[0].kind == "error" and "zendesk" in events[0].message
    assert "jira" in events[0].message
