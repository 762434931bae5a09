"""ONE behavioural suite for every connector, against each vendor's backend over loopback.

Parametrised over the vendors of `tests/connectors/backends.py` (see its docstring to add
one). Each scenario drives the real stack — connector, shared HTTP policy, sync and push
engines, a real SQLite file — and checks the outcome against the backend's own truth.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from agentdesk.connectors.base import AuthError, Connector, MalformedResponse
from agentdesk.connectors.http import RateLimitWait, report_waits_to
from agentdesk.store import Store
from agentdesk.sync.engine import AccountSyncResult, SyncEngine
from agentdesk.timeutil import to_iso, utcnow
from tests.connectors.backends import BackendHandle, factory_for, signature, vendors


@pytest.fixture(params=vendors())
def backend(request: pytest.FixtureRequest):
    vendor: str = request.param
    factory = factory_for(vendor)
    if factory is None:
        pytest.skip(
            f"PENDING: no {vendor} backend registered yet — add tests/vendors/{vendor}/"
            "backend.py (or tests/rt/backend.py) calling tests.connectors.backends.register"
        )
    with factory() as handle:
        yield handle


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    yield store
    store.close()


@pytest.fixture
async def connector(backend: BackendHandle) -> AsyncIterator[Connector]:
    built = backend.connector()
    yield built
    await built.aclose()


def needs_writes(backend: BackendHandle) -> None:
    if backend.writes_missing:
        pytest.skip(backend.writes_missing)


async def sync(backend: BackendHandle, store: Store, connector: Connector) -> AccountSyncResult:
    name = backend.settings.name
    return await SyncEngine(store, {name: connector}).sync_account(name)


async def push(backend: BackendHandle, store: Store, connector: Connector) -> AccountSyncResult:
    name = backend.settings.name
    return await SyncEngine(store, {name: connector}).push_account(name)


def open_conversations(store: Store, n: int = 1) -> list[tuple[int, str]]:
    rows = store.conn.execute(
        "SELECT id, external_id FROM conversations WHERE status IN ('new', 'open', 'pending')"
        " AND deleted_at IS NULL ORDER BY id LIMIT ?",
        (n,),
    ).fetchall()
    assert len(rows) == n, "the backend's world needs more open conversations"
    return [(r[0], r[1]) for r in rows]


def agents_other_than(store: Store, external_id: str | None) -> list[tuple[str, str]]:
    """(external id, email) of the account's agents, except `external_id`."""
    rows = store.conn.execute(
        "SELECT external_id, email FROM agents WHERE email != '' ORDER BY external_id"
    ).fetchall()
    return [(r[0], r[1]) for r in rows if r[0] != external_id]


async def synced(backend: BackendHandle, store: Store, connector: Connector) -> None:
    backend.settle()
    result = await sync(backend, store, connector)
    assert result.ok, result.error


def with_policy(backend: BackendHandle, **policy: object) -> Connector:
    """A connector for the account with its cache policy changed (cache_open, ...)."""
    backend.settings = dataclasses.replace(backend.settings, **policy)
    return backend.connector()


async def sync_once_with_policy(
    backend: BackendHandle, store: Store, **policy: object
) -> AccountSyncResult:
    """One sync round with the account's cache policy changed, by a connector of its own."""
    backend.settle()
    connector = with_policy(backend, **policy)
    try:
        return await sync(backend, store, connector)
    finally:
        await connector.aclose()


def window_start(backend: BackendHandle) -> str:
    return to_iso(utcnow() - timedelta(days=backend.settings.cache_days))


# ---------------------------------------------------------------- pull
async def test_full_sync_brings_every_conversation_of_the_cache_window(backend, store):
    result = await sync_once_with_policy(backend, store, cache_open=False, cache_history=False)
    assert result.ok, result.error
    cached = store.conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    assert cached == backend.conversation_count()
    assert result.messages >= cached


async def test_incremental_sync_brings_a_colleagues_change_and_a_new_customer_message(
    backend, store, connector
):
    await synced(backend, store, connector)
    (first_id, first), (_, second) = open_conversations(store, 2)
    backend.change_as_colleague(first, status="pending", add_tags=("escalated",))
    backend.add_customer_message(second, "Any news about my order?")
    backend.settle()
    again = await sync(backend, store, connector)
    assert again.ok, again.error
    assert 2 <= again.conversations < backend.conversation_count()
    status, tags = store.conn.execute(
        "SELECT status, tags FROM conversations WHERE id = ?", (first_id,)
    ).fetchone()
    # The store shows what the backend now holds. RT has no "pending": its stalled is on_hold.
    assert status == backend.oracle(first).status in ("pending", "on_hold")
    if type(connector).capabilities.can_tag:
        assert "escalated" in json.loads(tags)
    bodies = [
        r[0]
        for r in store.conn.execute(
            "SELECT body FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.external_id = ?",
            (second,),
        )
    ]
    assert "Any news about my order?" in bodies


# ---------------------------------------------------------------- what is cached
OLD_OPEN = (
    "SELECT external_id FROM conversations WHERE status NOT IN ('solved', 'closed') "
    "AND updated_at < ? AND deleted_at IS NULL ORDER BY external_id"
)


async def test_an_open_conversation_older_than_the_cache_window_is_cached_after_the_first_sync(
    backend, store
):
    backend.settle()
    connector = with_policy(backend, cache_history=False)  # cache_open is on by default
    try:
        result = await sync(backend, store, connector)
        again = await sync(backend, store, connector)
    finally:
        await connector.aclose()
    assert result.ok and again.ok, (result.error, again.error)
    old_open = [r[0] for r in store.conn.execute(OLD_OPEN, (window_start(backend),))]
    assert old_open and result.backlog >= len(old_open)
    for external_id in old_open:  # really open on the backend, and with its thread
        assert backend.oracle(external_id).status not in ("solved", "closed")
        messages = store.conn.execute(
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.external_id = ?",
            (external_id,),
        ).fetchone()[0]
        assert messages >= 1
    assert again.backlog == 0  # fetched once; the incremental pull keeps them fresh


async def test_without_cache_open_only_the_window_is_cached(backend, store):
    result = await sync_once_with_policy(backend, store, cache_open=False, cache_history=False)
    assert result.ok, result.error
    assert store.conn.execute(OLD_OPEN, (window_start(backend),)).fetchall() == []


def older_solved_history(store: Store, since: str) -> list[str]:
    """Solved conversations older than the window whose customer also has one inside it."""
    rows = store.conn.execute(
        "SELECT old.external_id FROM conversations old WHERE old.status IN ('solved', 'closed')"
        " AND old.updated_at < ? AND EXISTS (SELECT 1 FROM conversations new"
        " WHERE new.customer_id = old.customer_id AND new.updated_at >= ?)",
        (since, since),
    )
    return [r[0] for r in rows]


async def test_a_customers_older_solved_conversation_appears_in_their_history_after_sync_rounds(
    backend, store
):
    backend.settle()
    connector = with_policy(backend, history_batch=1_000)
    try:
        first = await sync(backend, store, connector)
        assert first.ok, first.error
        since = window_start(backend)
        found = older_solved_history(store, since)
        assert found, "the world has returning customers with an old solved conversation"
        assert backend.oracle(found[0]).status in ("solved", "closed")
        assert first.histories > 0 and first.history_conversations >= len(found)
        due = store.conn.execute(
            "SELECT count(*) FROM contacts WHERE history_synced_at IS NULL AND account = ?",
            (backend.settings.name,),
        ).fetchone()[0]
        cached = store.conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        # Done once per customer: the next rounds neither lose nor fetch them again.
        backend.settle()
        again = await sync(backend, store, connector)
    finally:
        await connector.aclose()
    assert again.ok, again.error
    assert again.histories <= due and again.backlog == 0
    assert set(found) <= set(older_solved_history(store, since))
    assert store.conn.execute("SELECT count(*) FROM conversations").fetchone()[0] >= cached


async def test_history_fetch_is_bounded_per_round(backend, store):
    backend.settle()
    connector = with_policy(backend, cache_open=False, history_batch=2)
    account = backend.settings.name

    def done() -> int:
        return store.conn.execute(
            "SELECT count(*) FROM contacts WHERE history_synced_at IS NOT NULL AND account = ?",
            (account,),
        ).fetchone()[0]

    try:
        first = await sync(backend, store, connector)
        assert first.ok, first.error
        assert first.histories == 2 == done()
        left = store.conn.execute(
            "SELECT count(*) FROM contacts WHERE history_synced_at IS NULL AND account = ?",
            (account,),
        ).fetchone()[0]
        assert left >= 1, "the world needs more than two customers"
        second = await sync(backend, store, connector)
    finally:
        await connector.aclose()
    assert second.ok, second.error
    assert second.histories == min(2, left) and done() == 2 + min(2, left)


# ---------------------------------------------------------------- writes
WRITES = ["reply", "note", "status", "priority", "tags", "assign_agent", "assign_team", "snooze"]
CAPABILITY = {
    "reply": "can_reply", "note": "can_note", "status": "can_set_status",
    "priority": "can_set_priority", "tags": "can_tag", "assign_agent": "can_assign_agent",
    "assign_team": "can_assign_team",
}  # fmt: skip


@pytest.mark.parametrize("write", WRITES)
async def test_every_write_reaches_the_backend_once(backend, store, connector, write):
    needs_writes(backend)
    await synced(backend, store, connector)
    ((cid, external_id),) = open_conversations(store)
    before = backend.oracle(external_id)
    text = f"{write} from agentdesk {uuid.uuid4().hex[:8]}"
    if write in ("reply", "note"):
        store.queue(cid, write, {"text": text})
    elif write == "status":
        store.queue(cid, "status", {"status": "solved"})
    elif write == "priority":
        wanted = "urgent" if before.priority != "urgent" else "low"
        store.queue(cid, "priority", {"priority": wanted})
    elif write == "tags":
        removable = sorted(before.tags)[:1]
        store.queue(cid, "tags", {"add": ["agentdesk_vip"], "remove": removable})
    elif write == "assign_agent":
        other, email = agents_other_than(store, before.assignee_external_id)[0]
        store.queue(cid, "assign", {"agent_email": email})
    elif write == "assign_team":
        team = store.conn.execute(
            "SELECT name, external_id FROM teams WHERE external_id IS NOT ? ORDER BY name",
            (before.team_external_id,),
        ).fetchone()
        store.queue(cid, "assign", {"team": team[0]})
    else:
        store.queue(cid, "snooze", {"until": "2030-01-01T09:00:00Z"})
    flag = CAPABILITY.get(write)
    if flag and not getattr(type(connector).capabilities, flag):
        # The vendor cannot (RT: tags). The flag is in the store for the screen to disable the
        # action; one queued anyway fails with a sentence, never "sent", backend untouched.
        (account,) = [a for a in store.accounts() if a.name == backend.settings.name]
        assert account.capabilities[flag] is False
        result = await push(backend, store, connector)
        assert result.sent == 0 and result.failed_mutations == 1, result
        (mutation,) = store.mutations()
        assert mutation.state == "failed" and mutation.error and "\n" not in mutation.error
        assert backend.oracle(external_id) == before
        return
    result = await push(backend, store, connector)
    assert result.ok and result.sent == 1, result
    assert [m.state for m in store.mutations()] == ["applied"]
    after = backend.oracle(external_id)
    if write in ("reply", "note"):
        assert after.count(text) == 1
        (message,) = [m for m in after.messages if m.body.strip() == text]
        assert message.public is (write == "reply")
        # The local copy became the server's message: no duplicate after the next pull.
        await synced(backend, store, connector)
        copies = store.conn.execute(
            "SELECT count(*) FROM messages WHERE conversation_id = ? AND body = ?", (cid, text)
        ).fetchone()[0]
        assert copies == 1
    elif write == "status":
        assert after.status == "solved"
    elif write == "priority":
        assert after.priority == wanted
    elif write == "tags":
        assert after.tags == (before.tags | {"agentdesk_vip"}) - set(removable)
    elif write == "assign_agent":
        assert after.assignee_external_id == other
    elif write == "assign_team":
        assert after.team_external_id == team[1]
    else:
        caps = type(connector).capabilities
        if not caps.can_snooze:  # local snooze: nothing sent, the conversation hides locally
            assert after == before
        snoozed = store.conn.execute(
            "SELECT snoozed_until FROM conversations WHERE id = ?", (cid,)
        ).fetchone()[0]
        assert snoozed == "2030-01-01T09:00:00Z"


async def test_a_colleagues_reassignment_is_a_conflict_not_an_overwrite(backend, store, connector):
    needs_writes(backend)
    await synced(backend, store, connector)
    ((cid, external_id),) = open_conversations(store)
    current = backend.oracle(external_id).assignee_external_id
    (theirs, _), (_, mine) = agents_other_than(store, current)[:2]
    store.queue(cid, "assign", {"agent_email": mine})
    backend.change_as_colleague(external_id, assignee_external_id=theirs)
    result = await push(backend, store, connector)
    assert result.conflicts == 1 and result.sent == 0
    (mutation,) = store.mutations()
    assert mutation.state == "conflict" and theirs in (mutation.error or "")
    assert backend.oracle(external_id).assignee_external_id == theirs


async def test_an_ambiguous_send_posts_the_reply_exactly_once(backend, store, connector):
    needs_writes(backend)
    await synced(backend, store, connector)
    ((cid, external_id),) = open_conversations(store)
    text = f"Exactly once, please {uuid.uuid4().hex[:8]}"
    store.queue(cid, "reply", {"text": text})
    backend.faults.plan("lose", writes_only=True)
    first = await push(backend, store, connector)
    assert first.sent == 0 and first.retrying == 1
    assert backend.oracle(external_id).count(text) == 1  # it landed; we did not hear back
    store.conn.execute("UPDATE outbox SET next_attempt_at = NULL")  # its back-off is over
    second = await push(backend, store, connector)
    assert second.sent == 1
    assert backend.oracle(external_id).count(text) == 1
    assert store.mutations()[0].state == "applied"


# ---------------------------------------------------------------- failures
async def test_a_429_in_the_vendors_style_is_waited_out(backend, store, connector):
    waits: list[RateLimitWait] = []
    backend.faults.plan("429")
    with report_waits_to(waits.append):
        me = await connector.whoami()
    assert me.external_id
    assert [w.reason for w in waits][:1] == ["429"] and 0 < waits[0].seconds <= 5


async def test_a_rejected_token_is_one_sentence_without_the_token(backend, store):
    wrong = backend.connector(token=backend.wrong_token)
    try:
        with pytest.raises(AuthError) as info:
            await wrong.whoami()
        result = await sync(backend, store, wrong)
    finally:
        await wrong.aclose()
    message = str(info.value)
    assert backend.settings.name in message and "\n" not in message
    assert backend.wrong_token not in message and backend.token not in message
    assert not result.ok and not result.offline and result.error == message


async def test_malformed_json_is_a_typed_error_not_a_traceback(backend, store, connector):
    import httpx

    garbage = httpx.Response(
        200, headers={"Content-Type": "application/json"}, content=b"<html>Oops</html>"
    )
    backend.faults.plan("respond", response=garbage)
    with pytest.raises(MalformedResponse):
        await connector.whoami()
    backend.faults.plan("respond", response=garbage)
    result = await sync(backend, store, connector)
    assert not result.ok and result.error and "Traceback" not in result.error
    assert backend.vendor.lower() in result.error.lower() or "answered" in result.error


# ---------------------------------------------------------------- auxiliary resources
async def _requests_of(backend: BackendHandle, step) -> set[str]:  # type: ignore[no-untyped-def]
    """The requests `step(connector)` makes, by a connector of its own (nothing cached)."""
    recorder = backend.connector()
    backend.faults.recording = []
    try:
        await step(recorder)
        return set(backend.faults.recording)
    finally:
        backend.faults.recording = None
        await recorder.aclose()


async def _own_requests_of_each_auxiliary_resource(backend: BackendHandle) -> dict[str, set[str]]:
    """For each auxiliary resource, the requests only its pull makes: not the conversations'
    pull, and not sign-in's where it has others (a request sign-in also needs is broken only
    when the resource has no other: sign-in must then survive losing it too)."""

    def pulling(resource: str):  # type: ignore[no-untyped-def]
        async def step(connector: Connector) -> None:
            async for _page in connector.pull(resource, None):
                pass

        return step

    async def signing_in(connector: Connector) -> None:
        await connector.whoami()

    probe = backend.connector()
    *auxiliary, conversations = type(probe).resources
    await probe.aclose()
    primary = await _requests_of(backend, pulling(conversations))
    whoami = await _requests_of(backend, signing_in)
    own: dict[str, set[str]] = {}
    for resource in auxiliary:
        mine = await _requests_of(backend, pulling(resource)) - primary
        own[resource] = (mine - whoami) or mine
    return own


@pytest.mark.parametrize("answer", ["404", "403", "garbage"])
async def test_an_auxiliary_resource_that_cannot_be_read_is_one_sentence_not_a_failed_account(
    backend, store, answer
):
    import httpx

    own_requests = await _own_requests_of_each_auxiliary_resource(backend)
    responses = {
        "404": httpx.Response(404, json={"error": "Not Found"}),
        "403": httpx.Response(403, json={"error": "Forbidden"}),
        "garbage": httpx.Response(
            200, headers={"Content-Type": "application/json"}, content=b"<html>Oops</html>"
        ),
    }
    for resource, own in own_requests.items():
        if resource in backend.read_with_conversations:
            assert not own  # declared so, and still so
            continue
        assert own, f"{resource} has no request of its own to break"
        backend.faults.clear()
        backend.faults.plan(
            "respond", response=responses[answer], every=True,
            match=lambda request, own=own: signature(request) in own,
        )  # fmt: skip
        result = await sync_once_with_policy(backend, store, cache_history=False)
        assert result.ok, result.error
        assert store.conn.execute("SELECT count(*) FROM conversations").fetchone()[0] > 0
        if answer == "403" and resource in backend.recovers_when_refused:
            assert result.warning is None  # read another way: nothing is missing
            assert store.conn.execute("SELECT count(*) FROM teams").fetchone()[0] > 0
            continue
        assert result.warning and resource in result.warning and "\n" not in result.warning
        assert backend.token not in result.warning
        (shown,) = store.conn.execute(
            "SELECT sync_warning FROM accounts WHERE name = ?", (backend.settings.name,)
        ).fetchone()
        assert shown == result.warning
    backend.faults.clear()
    healthy = await sync_once_with_policy(backend, store, cache_history=False)
    assert healthy.ok and healthy.warning is None
    assert store.conn.execute("SELECT sync_warning FROM accounts").fetchone()[0] is None
