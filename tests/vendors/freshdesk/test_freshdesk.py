"""The Freshdesk connector against the Freshdesk dialect of the simulator, over real loopback HTTP.

The world object is the oracle: what the simulator holds is what Freshdesk would hold.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from agentdesk.connectors.base import (
    AuthError,
    BackendError,
    ConflictError,
    MalformedResponse,
    PermissionDenied,
)
from agentdesk.connectors.freshdesk import FreshdeskConnector
from agentdesk.model import MutationRequest
from agentdesk.sim.freshdesk import STATUS_CODE, iso
from agentdesk.store import Store
from agentdesk.sync import SyncEngine
from tests.vendors.freshdesk.conftest import FreshdeskSim, running


def _store(tmp_path, name: str = "fd") -> Store:
    store = Store.open(tmp_path / "c.db")
    store.upsert_account(name, "freshdesk", "http://sim", "agent@example")
    return store


async def _call(method: str, url: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(method, url, **kw)  # type: ignore[arg-type]


def _count(store: Store, sql: str, *args: object) -> int:
    return store.conn.execute(sql, args).fetchone()[0]


def _request(
    action: str, ticket: int, payload: dict, base: str, rid: str = "m-1"
) -> MutationRequest:
    return MutationRequest(rid, action, str(ticket), payload, base)  # type: ignore[arg-type]


async def test_full_sync_fills_the_store_with_every_ticket_message_contact_and_agent(
    tmp_path, fd_sim: FreshdeskSim
):
    world = fd_sim.world
    connector = fd_sim.connector()
    store = _store(tmp_path)
    try:
        result = await SyncEngine(store, {"fd": connector}).sync_account("fd")
        assert result.ok, result.error
        assert result.role == "admin"
        assert _count(store, "SELECT count(*) FROM conversations") == len(world.tickets)
        total = sum(world.comment_count(t) for t in world.tickets.values())
        assert _count(store, "SELECT count(*) FROM messages") == total
        # Notes stay notes; statuses keep Freshdesk's own name beside agentdesk's.
        notes = sum(1 for t in world.tickets.values() for c in world.comments(t) if not c.public)
        assert _count(store, "SELECT count(*) FROM messages WHERE kind = 'note'") == notes
        held = [t.id for t in world.tickets.values() if t.status == "hold"]
        for tid in held:
            row = store.conn.execute(
                "SELECT status, vendor_status FROM conversations WHERE external_id = ?", (str(tid),)
            ).fetchone()
            assert tuple(row) == ("on_hold", "Waiting on Third Party")
        # A customer with every identity, normalised, and their custom attributes.
        requester = world.users[next(iter(world.tickets.values())).requester_id]
        ident = {
            (r[0], r[1])
            for r in store.conn.execute(
                "SELECT kind, value FROM identities WHERE account = 'fd' AND external_id = ?",
                (str(requester.id),),
            )
        }
        if requester.email:
            assert ("email", requester.email.lower()) in ident
        if requester.phone:
            assert ("phone", requester.phone) in ident
        attrs = store.conn.execute(
            "SELECT attributes FROM contacts WHERE account = 'fd' AND external_id = ?",
            (str(requester.id),),
        ).fetchone()[0]
        assert requester.user_fields["plan"] in attrs and "time_zone" in attrs
        assert _count(store, "SELECT count(*) FROM agents") >= len(world.agent_ids)
        assert _count(store, "SELECT count(*) FROM teams") == len(world.groups)
        rated = [t for t in world.tickets.values() if t.satisfaction in ("good", "bad")]
        assert _count(
            store, "SELECT count(*) FROM conversations WHERE satisfaction IS NOT NULL"
        ) == len(rated)
    finally:
        store.close()
        await connector.aclose()


async def test_incremental_sync_brings_only_what_changed(tmp_path, fd_sim: FreshdeskSim):
    world = fd_sim.world
    connector = fd_sim.connector()
    store = _store(tmp_path)
    try:
        engine = SyncEngine(store, {"fd": connector})
        assert (await engine.sync_account("fd")).ok
        before = _count(store, "SELECT count(*) FROM messages")
        world.clock.advance(120)
        ticket = world.tickets[min(world.tickets)]
        world.add_comment(ticket, ticket.requester_id, "Any news about my parcel?")
        second = await engine.sync_account("fd")
        assert second.ok, second.error
        # Only the changed ticket: the boundary second of the last pull is not replayed.
        assert second.conversations == 1
        assert _count(store, "SELECT count(*) FROM messages") == before + 1
        body = store.conn.execute(
            "SELECT m.body FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.external_id = ? ORDER BY m.created_at DESC LIMIT 1",
            (str(ticket.id),),
        ).fetchone()[0]
        assert body == "Any news about my parcel?"
    finally:
        store.close()
        await connector.aclose()


async def test_every_write_lands_in_the_world_through_freshdesks_endpoints(fd_sim: FreshdeskSim):
    world = fd_sim.world
    connector = fd_sim.connector()
    ticket = next(t for t in world.tickets.values() if t.status in ("open", "pending"))
    tid = ticket.id
    agent = next(a for a in world.agent_ids if a != ticket.assignee_id)
    group = next(g for g in world.groups if g != ticket.group_id)
    try:
        me = await connector.whoami()

        async def do(action: str, payload: dict) -> None:
            world.clock.advance(2)
            state = await connector.fetch_state(str(tid))
            await connector.apply(_request(action, tid, payload, state.version), state)

        await do("reply", {"text": "Hello <b>Sato</b>,\n\nit ships today & arrives tomorrow."})
        reply = ticket.extra[-1]
        assert reply.public and str(reply.author_id) == me.external_id
        assert reply.body == "Hello <b>Sato</b>,\nit ships today & arrives tomorrow."
        await do("note", {"text": "carrier confirmed"})
        assert not ticket.extra[-1].public and ticket.extra[-1].body == "carrier confirmed"
        await do("status", {"status": "on_hold"})
        assert ticket.status == "hold"
        assert fd_sim.dialect.status_code(ticket) == 7
        await do("status", {"status": "solved"})
        assert ticket.status == "solved"
        await do("priority", {"priority": "urgent"})
        assert ticket.priority == "urgent"
        old = list(ticket.tags)
        await do("tags", {"add": ["vip", "refund"], "remove": [old[0]]})
        assert set(ticket.tags) == (set(old) - {old[0]}) | {"vip", "refund"}
        await do("assign", {"agent_external_id": str(agent)})
        assert ticket.assignee_id == agent
        await do("assign", {"team_external_id": str(group)})
        assert ticket.group_id == group
        await do("assign", {"unassign": True})
        assert ticket.assignee_id is None
        assert not type(connector).capabilities.can_snooze
    finally:
        await connector.aclose()


async def test_someone_elses_change_shows_in_fetch_state_and_a_stale_write_is_refused(
    fd_sim: FreshdeskSim,
):
    world = fd_sim.world
    connector = fd_sim.connector()
    ticket = next(t for t in world.tickets.values() if t.assignee_id is not None)
    other = next(a for a in world.agent_ids if a != ticket.assignee_id)
    try:
        before = await connector.fetch_state(str(ticket.id))
        world.clock.advance(30)
        ticket.assignee_id = other  # a supervisor reassigns it in Freshdesk's own UI
        world.touch(ticket)
        after = await connector.fetch_state(str(ticket.id))
        assert after.assignee_external_id == str(other) != before.assignee_external_id
        assert after.version != before.version
        with pytest.raises(ConflictError):
            await connector.apply(
                _request("priority", ticket.id, {"priority": "high"}, before.version), before
            )
        assert ticket.assignee_id == other  # nothing overwritten
    finally:
        await connector.aclose()


class _LoseResponses(httpx.AsyncBaseTransport):
    """Forwards to the real server, then drops the response of POSTs: applied, answer lost."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST":
            await response.aread()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_reply_whose_response_was_lost_is_found_and_not_posted_twice(fd_sim: FreshdeskSim):
    world = fd_sim.world
    ticket = world.tickets[min(world.tickets)]
    lossy = fd_sim.connector(transport=_LoseResponses())
    connector = fd_sim.connector()
    try:
        state = await connector.fetch_state(str(ticket.id))
        world.clock.advance(5)
        request = _request("reply", ticket.id, {"text": "Refund issued."}, state.version)
        with pytest.raises(BackendError):
            await lossy.apply(request, state)
        assert [c.body for c in ticket.extra] == ["Refund issued."]  # it did land
        found = await connector.find_sent(request)
        assert found == str(ticket.extra[-1].id)
        # A note with the same text is a different message; a never-sent reply is not found.
        note = _request("note", ticket.id, {"text": "Refund issued."}, state.version, "m-2")
        assert await connector.find_sent(note) is None
        other = _request("reply", ticket.id, {"text": "Something else"}, state.version, "m-3")
        assert await connector.find_sent(other) is None
        assert len(ticket.extra) == 1
    finally:
        await lossy.aclose()
        await connector.aclose()


async def test_rate_limit_is_a_429_with_retry_after_that_the_connector_waits_out():
    with running(rate_limit=4) as sim:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:  # the simulated minute passes instantly
            waits.append(seconds)
            sim.world.clock.advance(seconds)

        raw = await _call("GET", f"{sim.base_url}/api/v2/groups", auth=(sim.key, "X"))
        assert raw.headers["X-RateLimit-Total"] == "4"
        assert raw.headers["X-RateLimit-Remaining"] == "3"
        for _ in range(3):
            await _call("GET", f"{sim.base_url}/api/v2/groups", auth=(sim.key, "X"))
        limited = await _call("GET", f"{sim.base_url}/api/v2/groups", auth=(sim.key, "X"))
        assert limited.status_code == 429
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        connector = sim.connector(sleep=sleep)
        try:
            me = await connector.whoami()
        finally:
            await connector.aclose()
        assert me.role == "admin"
        assert waits and waits[0] == pytest.approx(retry_after)


async def test_wrong_key_is_401_and_a_sentence_without_the_key(fd_sim: FreshdeskSim):
    wrong = "not-the-key-0123456789"
    raw = await _call("GET", f"{fd_sim.base_url}/api/v2/tickets", auth=(wrong, "X"))
    assert raw.status_code == 401 and raw.json()["code"] == "invalid_credentials"
    assert (await _call("GET", f"{fd_sim.base_url}/api/v2/tickets")).status_code == 401
    connector = fd_sim.connector(key=wrong)
    try:
        with pytest.raises(AuthError) as caught:
            await connector.whoami()
    finally:
        await connector.aclose()
    assert wrong not in str(caught.value) and "fd" in str(caught.value)
    assert fd_sim.key not in str(caught.value)


async def test_an_agent_key_syncs_with_the_agent_role():
    with running(role="agent") as sim:
        raw = await _call("GET", f"{sim.base_url}/api/v2/roles", auth=(sim.key, "X"))
        assert raw.status_code == 403 and raw.json()["code"] == "access_denied"
        connector = sim.connector()
        try:
            me = await connector.whoami()
        finally:
            await connector.aclose()
        assert me.role == "agent"


@respx.mock
async def test_a_body_that_is_not_json_or_not_a_list_is_a_malformed_response():
    connector = FreshdeskConnector(
        __import__("agentdesk.connectors.base", fromlist=["AccountSettings"]).AccountSettings(
            name="acme", connector="freshdesk", base_url="https://acme.freshdesk.com", user="a@b.c"
        ),
        "secret-key-xyz",
    )
    try:
        respx.get("https://acme.freshdesk.com/api/v2/groups").mock(
            return_value=httpx.Response(200, text="<html>maintenance</html>")
        )
        with pytest.raises(MalformedResponse) as caught:
            [p async for p in connector.pull("groups", None)]
        assert "secret-key-xyz" not in str(caught.value)
        respx.get("https://acme.freshdesk.com/api/v2/agents").mock(
            return_value=httpx.Response(200, json={"agents": []})
        )
        with pytest.raises(MalformedResponse):
            [p async for p in connector.pull("agents", None)]
        respx.get("https://acme.freshdesk.com/api/v2/agents/me").mock(
            return_value=httpx.Response(403, json={"code": "access_denied", "message": "no"})
        )
        with pytest.raises(PermissionDenied):
            await connector.whoami()
    finally:
        await connector.aclose()


async def test_tickets_list_pages_with_a_link_header_and_hides_old_tickets_by_default(
    fd_sim: FreshdeskSim,
):
    world = fd_sim.world
    auth = (fd_sim.key, "X")
    recent = (
        await _call("GET", f"{fd_sim.base_url}/api/v2/tickets?per_page=100", auth=auth)
    ).json()
    floor = world.clock.timestamp() - 30 * 86400
    assert {t["id"] for t in recent} == {
        t.id for t in world.tickets.values() if t.created_at >= floor
    }
    since = iso(world.now - 365 * 86400)
    first = await _call(
        "GET",
        f"{fd_sim.base_url}/api/v2/tickets",
        params={
            "updated_since": since,
            "per_page": 10,
            "order_by": "updated_at",
            "order_type": "asc",
        },
        auth=auth,
    )
    assert len(first.json()) == 10 and 'rel="next"' in first.headers["link"]
    assert [t["status"] for t in first.json()] == [
        fd_sim.dialect.status_code(world.tickets[t["id"]]) for t in first.json()
    ]
    assert all(t["status"] in set(STATUS_CODE.values()) for t in first.json())
    too_far = await _call("GET", f"{fd_sim.base_url}/api/v2/tickets?page=301", auth=auth)
    assert too_far.status_code == 400 and too_far.json()["errors"][0]["field"] == "page"
    bad = await _call("PUT", f"{fd_sim.base_url}/api/v2/tickets/1", json={"status": 9}, auth=auth)
    assert bad.status_code == 400 and bad.json()["description"] == "Validation failed"
    missing = await _call("GET", f"{fd_sim.base_url}/api/v2/tickets/999999", auth=auth)
    assert missing.status_code == 404
    history = await _call(
        "GET",
        f"{fd_sim.base_url}/api/v2/tickets",
        params={"requester_id": world.tickets[1].requester_id},
        auth=auth,
    )
    assert 1 in {t["id"] for t in history.json()}
