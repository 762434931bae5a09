"""The Chatwoot connector against the Chatwoot dialect of the simulator, over loopback HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import respx
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from agentdesk.connectors.base import (
    AccountSettings,
    AuthError,
    BackendError,
    MalformedResponse,
    RateLimited,
)
from agentdesk.connectors.chatwoot import ChatwootConnector
from agentdesk.model import MutationRequest
from agentdesk.sim.world import generate_world
from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from tests.vendors.chatwoot.conftest import FAST, NOW, SCALE, SEED, Sim, serve

SPEC = Path("/work/shared/specs/chatwoot-swagger.json")
if not SPEC.exists():  # the specs live beside the checkout
    SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / "chatwoot-swagger.json"


def _open_ticket(sim: Sim):
    return next(t for t in sim.world.tickets.values() if t.status == "open")


async def _sync(sim: Sim, path: Path, name: str = "chat"):
    store = Store.open(path)
    connector = sim.connector(name)
    try:
        store.upsert_account(name, "chatwoot", sim.settings(name).base_url, sim.user)
        result = await SyncEngine(store, {name: connector}).sync_account(name)
    finally:
        await connector.aclose()
        store.close()
    return result


# ---------------------------------------------------------------- read
async def test_full_sync_fills_a_real_store_with_every_conversation_and_contact(sim, tmp_path):
    result = await _sync(sim, tmp_path / "c.db")
    assert result.ok, result.error
    # The first pass caches the last `cache_days`; the open backlog and the customers'
    # histories then bring the rest of this small world.
    window = time.time() - sim.settings().cache_days * 86_400
    in_window = sum(1 for t in sim.world.tickets.values() if t.updated_at >= window)
    assert result.role == "agent" and result.conversations == in_window < SCALE
    assert result.backlog >= 1 and result.history_conversations >= 1
    store = Store.open(tmp_path / "c.db")
    try:
        q = store.conn.execute
        # Everything the policy covers once the histories are in (one batch a round): the
        # window, every open one, and each of those customers' whole history.
        tickets = sim.world.tickets.values()
        kept = {
            t.requester_id
            for t in tickets
            if t.updated_at >= window or t.status not in ("solved", "closed")
        }
        assert result.histories == min(len(kept), sim.settings().history_batch)
        store.close()
        assert (await _sync(sim, tmp_path / "c.db")).ok
        store = Store.open(tmp_path / "c.db")
        q = store.conn.execute
        expected = sum(1 for t in tickets if t.requester_id in kept)
        assert q("SELECT count(*) FROM conversations").fetchone()[0] == expected
        assert q("SELECT count(DISTINCT channel) FROM conversations").fetchone()[0] >= 4
        kinds = {r[0] for r in q("SELECT DISTINCT kind FROM messages")}
        assert {"reply", "note"} <= kinds
        assert q("SELECT count(*) FROM agents").fetchone()[0] >= 10
        assert q("SELECT count(*) FROM teams").fetchone()[0] == 4
        ident = {r[0] for r in q("SELECT DISTINCT kind FROM identities")}
        assert {"email", "phone"} <= ident
        phones = [r[0] for r in q("SELECT value FROM identities WHERE kind = 'phone'")]
        assert phones and all(p.startswith("+") for p in phones)
        attrs = q("SELECT attributes FROM customers WHERE attributes LIKE '%plan%'").fetchone()
        assert attrs is not None and "lifetime_value" in attrs[0] and "time_zone" in attrs[0]
        flags = q("SELECT * FROM accounts WHERE name = 'chat'").fetchone()
        assert flags is not None
        cursor = store.get_cursor("chat", "conversations")
        assert cursor is not None and cursor.startswith("since:")
    finally:
        store.close()


async def test_incremental_sync_brings_only_the_conversation_that_changed(sim, tmp_path):
    assert (await _sync(sim, tmp_path / "c.db")).ok
    ticket = _open_ticket(sim)
    with sim.dialect.lock:
        sim.world.clock.advance(3600)
        customer = sim.world.users[ticket.requester_id]
        sim.world.add_comment(ticket, customer.id, "Any news on this? 📦", channel=ticket.via)
    second = await _sync(sim, tmp_path / "c.db")
    assert second.ok and second.conversations == 1
    store = Store.open(tmp_path / "c.db")
    try:
        row = store.conn.execute(
            "SELECT count(*) FROM messages WHERE body = 'Any news on this? 📦'"
        ).fetchone()
        assert row[0] == 1
    finally:
        store.close()


async def test_messages_map_notes_events_attachments_and_csat(sim):
    rated = next(t for t in sim.world.tickets.values() if t.satisfaction in ("good", "bad"))
    connector = sim.connector()
    try:
        messages = await connector._messages(str(rated.id))
        show = await connector._show(str(rated.id))
        record = connector._conversation(show, messages)
    finally:
        await connector.aclose()
    assert record.satisfaction == rated.satisfaction
    assert record.status == "solved" and record.vendor_status == "resolved"
    assert any(m.kind == "event" and m.author_kind == "system" for m in record.messages or ())
    assert len([m for m in messages if m.kind != "event"]) == sim.world.comment_count(rated)


async def test_contact_history_lists_the_contacts_other_conversations(sim):
    requester = max(sim.world.by_requester, key=lambda u: len(sim.world.by_requester[u]))
    cid = str(sim.dialect.user_cid(sim.world.users[requester]))
    connector = sim.connector()
    try:
        history = await connector.contact_conversations(cid)
    finally:
        await connector.aclose()
    assert len(history) == len(sim.world.by_requester[requester]) >= 1
    assert all(c.customer_external_id == cid for c in history)


# ---------------------------------------------------------------- write
def _request(action: str, ticket_id: int, payload: dict, version: str = "0") -> MutationRequest:
    return MutationRequest(f"m-{action}", action, str(ticket_id), payload, version)  # type: ignore[arg-type]


async def test_every_write_lands_in_the_world(sim):
    ticket = _open_ticket(sim)
    tid = ticket.id
    other = next(
        sim.world.users[a] for a in sim.world.agent_ids
        if a != ticket.assignee_id and not sim.world.users[a].is_bot
    )  # fmt: skip
    connector = sim.connector()
    try:
        state = await connector.fetch_state(str(tid))
        reply = await connector.apply(_request("reply", tid, {"text": "On its way!"}), state)
        note = await connector.apply(_request("note", tid, {"text": "carrier delayed"}), state)
        await connector.apply(_request("priority", tid, {"priority": "urgent"}), state)
        await connector.apply(_request("tags", tid, {"add": ["vip2"], "remove": []}), state)
        first_tag = ticket.tags[0]
        await connector.apply(_request("tags", tid, {"add": [], "remove": [first_tag]}), state)
        agent_cid = str(sim.dialect.user_cid(other))
        await connector.apply(_request("assign", tid, {"agent_external_id": agent_cid}), state)
        await connector.apply(_request("assign", tid, {"team_external_id": "2"}), state)
        await connector.apply(_request("status", tid, {"status": "solved"}), state)
        assert ticket.status == "solved"
        until = (NOW + timedelta(days=2)).isoformat()
        written = await connector.apply(_request("snooze", tid, {"until": until}), state)
        after = await connector.fetch_state(str(tid))
    finally:
        await connector.aclose()
    bodies = {(c.body, c.public) for c in ticket.extra}
    assert ("On its way!", True) in bodies and ("carrier delayed", False) in bodies
    assert reply.message_external_id and note.message_external_id
    assert ticket.priority == "urgent" and "vip2" in ticket.tags and first_tag not in ticket.tags
    assert ticket.assignee_id == other.id
    assert ticket.group_id == sorted(sim.world.groups)[1]
    assert ticket.status == "hold" and after.status == "on_hold"
    assert after.snoozed_until is not None and int(after.snoozed_until.timestamp()) == int(
        (NOW + timedelta(days=2)).timestamp()
    )
    assert written.version == after.version
    assert after.assignee_external_id == agent_cid and after.priority == "urgent"


async def test_someone_elses_change_shows_in_fetch_state_for_the_conflict_check(sim):
    ticket = _open_ticket(sim)
    connector = sim.connector()
    try:
        before = await connector.fetch_state(str(ticket.id))
        supervisor = sim.world.agent_with_role("admin")
        with sim.dialect.lock:
            sim.world.clock.advance(5)
            ticket.assignee_id = supervisor.id
            sim.world.touch(ticket)
        after = await connector.fetch_state(str(ticket.id))
    finally:
        await connector.aclose()
    assert after.version != before.version
    assert after.assignee_external_id == str(sim.dialect.user_cid(supervisor))
    assert after.assignee_external_id != before.assignee_external_id


class _LoseResponses(httpx.AsyncBaseTransport):
    """Forwards every request, then loses the response of message creates (applied, lost)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/messages"):
            await response.aread()
            raise httpx.ReadError("connection reset after the write", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_ambiguous_send_is_found_and_never_posted_twice(sim):
    ticket = _open_ticket(sim)
    lossy = sim.connector(transport=_LoseResponses())
    try:
        state = await lossy.fetch_state(str(ticket.id))
        request = _request("reply", ticket.id, {"text": "Refund issued today."}, state.version)
        with pytest.raises(BackendError):
            await lossy.apply(request, state)
        found = await lossy.find_sent(request)
        other = await lossy.find_sent(_request("note", ticket.id, {"text": "Refund issued today."}))
    finally:
        await lossy.aclose()
    landed = [c for c in ticket.extra if c.body == "Refund issued today."]
    assert len(landed) == 1 and found == str(landed[0].id)
    assert other is None  # a note with the same text is another message


async def test_find_sent_ignores_an_identical_reply_from_before_the_request(sim):
    ticket = _open_ticket(sim)
    me = next(u for u in sim.world.users.values() if u.email == sim.user)
    with sim.dialect.lock:
        sim.world.add_comment(ticket, me.id, "Thanks!", channel=ticket.via)
        sim.world.clock.advance(60)
        sim.world.touch(ticket)
    connector = sim.connector()
    try:
        state = await connector.fetch_state(str(ticket.id))
        found = await connector.find_sent(
            _request("reply", ticket.id, {"text": "Thanks!"}, state.version)
        )
    finally:
        await connector.aclose()
    assert found is None


# ---------------------------------------------------------------- errors
async def test_rate_limit_is_a_bare_429_and_becomes_rate_limited(sim):
    sim.dialect.rate_limit = 2
    async with httpx.AsyncClient(base_url=sim.base_url) as raw:
        headers = {"api_access_token": sim.token}
        codes = [(await raw.get("/api/v1/profile", headers=headers)) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert "retry-after" not in codes[2].headers and codes[2].text == "Retry later\n"
    connector = sim.connector()
    try:
        with pytest.raises(RateLimited) as caught:
            await connector.whoami()
    finally:
        await connector.aclose()
    assert "chat" in str(caught.value) and sim.token not in str(caught.value)
    sim.world.clock.advance(60)  # a new minute: the budget is back
    connector = sim.connector()
    try:
        assert (await connector.whoami()).email == sim.user
    finally:
        await connector.aclose()


async def test_a_wrong_token_is_401_and_one_sentence_without_the_token(sim, tmp_path):
    bad = ChatwootConnector(sim.settings(), "not-the-token-123", policy=FAST)
    try:
        with pytest.raises(AuthError) as caught:
            await bad.whoami()
    finally:
        await bad.aclose()
    message = str(caught.value)
    assert "Chatwoot rejected the token" in message and "not-the-token-123" not in message
    async with httpx.AsyncClient(base_url=sim.base_url) as raw:
        missing = await raw.get("/api/v1/accounts/1/conversations")
    assert missing.status_code == 401 and "error" in missing.json()


@respx.mock
async def test_malformed_json_and_odd_payloads_are_malformed_response():
    base = "https://chat.example.com"
    account = AccountSettings("chat", "chatwoot", f"{base}/app/accounts/3", "a@b.c")
    respx.get(f"{base}/api/v1/profile").mock(return_value=httpx.Response(200, text="<html>oops"))
    respx.get(f"{base}/api/v1/accounts/3/conversations").mock(
        return_value=httpx.Response(200, json={"data": {"payload": [{"id": None}]}})
    )
    connector = ChatwootConnector(account, "secret-token", policy=FAST)
    try:
        with pytest.raises(MalformedResponse) as not_json:
            await connector.whoami()
        with pytest.raises(MalformedResponse) as odd:
            async for _ in connector.pull("conversations", None):
                pass
    finally:
        await connector.aclose()
    assert "chat" in str(not_json.value) and "secret-token" not in str(not_json.value)
    assert "conversations" in str(odd.value)


# ---------------------------------------------------------------- the vendor's spec
def _validate(openapi: OpenAPI, base: str, method: str, path: str, response: httpx.Response,
              body: object = None, query: dict | None = None) -> None:  # fmt: skip
    request = MockRequest(
        "https://app.chatwoot.com", method.lower(), path, args=query or {},
        data=json.dumps(body) if body is not None else None,
        headers={"api_access_token": "x"}, content_type="application/json",
    )  # fmt: skip
    if body is not None:
        openapi.validate_request(request)
    mock = MockResponse(
        response.content, status_code=response.status_code,
        content_type=response.headers.get("content-type", "application/json").split(";")[0],
    )  # fmt: skip
    openapi.validate_response(request, mock)


async def test_dialect_requests_and_responses_validate_against_chatwoots_spec(sim):
    openapi = OpenAPI.from_file_path(str(SPEC))
    ticket = _open_ticket(sim)
    p = "/api/v1/accounts/1"
    c = f"{p}/conversations/{ticket.id}"
    gets = ["/api/v1/profile", f"{p}/agents", f"{p}/teams", f"{p}/inboxes", c,
            f"{c}/messages", f"{c}/labels"]  # fmt: skip
    posts = [
        (f"{c}/messages", {"content": "Hi", "message_type": "outgoing", "private": False,
                           "content_type": "text"}),
        (f"{c}/toggle_status", {"status": "open"}),
        (f"{c}/toggle_priority", {"priority": "high"}),
        (f"{c}/labels", {"labels": ["billing", "vip"]}),
        (f"{c}/assignments", {"assignee_id": sim.dialect.user_cid(sim.world.users[sim.world.agent_ids[0]])}),
    ]  # fmt: skip
    headers = {"api_access_token": sim.token}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as raw:
        for path in gets:
            _validate(openapi, sim.base_url, "GET", path, await raw.get(path))
        listing = await raw.get(f"{p}/conversations", params={"status": "open"})
        _validate(openapi, sim.base_url, "GET", f"{p}/conversations", listing,
                  query={"status": "open"})  # fmt: skip
        for path, body in posts:
            _validate(openapi, sim.base_url, "POST", path, await raw.post(path, json=body), body)
        contact = sim.dialect.user_cid(sim.world.users[ticket.requester_id])
        for path in (f"{p}/contacts/{contact}", f"{p}/contacts/{contact}/conversations"):
            _validate(openapi, sim.base_url, "GET", path, await raw.get(path))


# ---------------------------------------------------------------- one world, two backends
async def test_a_customer_of_zendesk_and_chatwoot_is_one_person_with_both_histories(tmp_path):
    server_mod = pytest.importorskip("agentdesk.sim.server")
    from agentdesk.connectors.base import AccountSettings
    from agentdesk.connectors.zendesk import ZendeskConnector

    scale = 400  # enough conversations on each side that some people wrote to both
    world = generate_world(SEED, scale, instance="chatwoot", now=NOW)
    from agentdesk.sim.chatwoot import ChatwootDialect

    dialect = ChatwootDialect(world)
    base_url, server, thread = serve(dialect)
    email, token = dialect.credentials("agent")
    chat = Sim(world, dialect, base_url, email, token)
    path = tmp_path / "two.db"
    try:
        with server_mod.start_in_thread(dialect="zendesk", seed=SEED, scale=scale) as zd:
            store = Store.open(path)
            zconn = ZendeskConnector(
                AccountSettings("acme", "zendesk", zd.base_url, zd.user), zd.token
            )
            cconn = chat.connector("chat")
            try:
                store.upsert_account("acme", "zendesk", zd.base_url, zd.user)
                store.upsert_account("chat", "chatwoot", chat.settings().base_url, email)
                engine = SyncEngine(store, {"acme": zconn, "chat": cconn})
                results = await engine.sync_all()
                assert all(r.ok for r in results), [r.error for r in results]
                row = store.conn.execute(
                    """SELECT customer_id FROM conversations GROUP BY customer_id
                       HAVING count(DISTINCT account) = 2 LIMIT 1"""
                ).fetchone()
            finally:
                await zconn.aclose()
                await cconn.aclose()
                store.close()
    finally:
        server.should_exit = True
        thread.join(5)
    assert row is not None, "no customer has conversations on both backends"


# ---------------------------------------------------------------- snooze is Chatwoot's own
async def test_a_snooze_made_in_chatwoot_is_pulled_into_the_store_and_ends_on_reopen(sim, tmp_path):
    """Chatwoot can snooze (`can_snooze`): the conversation's `snoozed_until` is read on every
    pull and kept by the store, so the inbox hides it until then — and shows it again once
    someone reopens it in Chatwoot."""
    assert ChatwootConnector.capabilities.can_snooze
    assert (await _sync(sim, tmp_path / "c.db")).ok
    ticket = _open_ticket(sim)
    until = NOW + timedelta(days=3)
    with sim.dialect.lock:  # a colleague snoozes it in Chatwoot's UI
        sim.world.clock.advance(60)
        agent = sim.world.users[sim.world.agent_ids[0]]
        sim.dialect.set_status(ticket, "snoozed", int(until.timestamp()), agent)
    assert (await _sync(sim, tmp_path / "c.db")).ok
    store = Store.open(tmp_path / "c.db")
    try:
        row = store.conn.execute(
            "SELECT status, snoozed_until FROM conversations WHERE external_id = ?",
            (str(ticket.id),),
        ).fetchone()
        assert tuple(row) == ("on_hold", until.strftime("%Y-%m-%dT%H:%M:%SZ"))
        caps = store.conn.execute(
            "SELECT json_extract(capabilities, '$.can_snooze') FROM accounts WHERE name = 'chat'"
        ).fetchone()[0]
        assert caps == 1  # the screen reads the flag: snooze is sent, not local
    finally:
        store.close()
    with sim.dialect.lock:
        sim.world.clock.advance(60)
        sim.dialect.set_status(ticket, "open", None, agent)
    assert (await _sync(sim, tmp_path / "c.db")).ok
    store = Store.open(tmp_path / "c.db")
    try:
        row = store.conn.execute(
            "SELECT status, snoozed_until FROM conversations WHERE external_id = ?",
            (str(ticket.id),),
        ).fetchone()
        assert tuple(row) == ("open", None)
    finally:
        store.close()
