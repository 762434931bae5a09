"""Intercom specifics the shared behaviour suite does not reach: how Intercom's words map to
agentdesk's, the resumable search cursor, check-before-resend, presence, and what it refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from agentdesk.connectors import intercom as intercom_module
from agentdesk.connectors.base import AccountSettings, Invalid
from agentdesk.connectors.http import HttpPolicy
from agentdesk.connectors.intercom import IntercomConnector, html_body
from agentdesk.model import ConversationRecord, MutationRequest
from agentdesk.sim.intercom import IntercomDialect
from agentdesk.sim.server import SimHandle, start_in_thread
from tests.connectors.backends import FaultTransport

FAST = HttpPolicy(max_attempts=1)
AGENTDESK_STATUS = {"open": "open", "snoozed": "pending", "closed": "solved"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_in_thread("intercom", seed=7, scale=60) as handle:
        yield handle


@pytest.fixture
def transport() -> FaultTransport:
    return FaultTransport()


@pytest.fixture
async def connector(sim: SimHandle, transport: FaultTransport) -> AsyncIterator[IntercomConnector]:
    settings = AccountSettings("ic", "intercom", sim.base_url, sim.user, cache_days=3650)
    built = IntercomConnector(settings, sim.token, policy=FAST, transport=transport)
    yield built
    await built.aclose()


async def pulled(connector: IntercomConnector, cursor: str | None = None) -> list:
    return [page async for page in connector.pull("conversations", cursor)]


async def everything(connector: IntercomConnector) -> dict[str, ConversationRecord]:
    return {c.external_id: c for page in await pulled(connector) for c in page.conversations}


async def test_states_channels_and_ratings_map_to_agentdesk_keeping_intercoms_words(
    connector, sim: SimHandle
):
    records = await everything(connector)
    assert len(records) == len(sim.world.tickets)
    intercom = IntercomDialect(sim.world)  # what the dialect shows (a lapsed snooze is open)
    for ticket in sim.world.tickets.values():
        record = records[str(ticket.id)]
        assert record.vendor_status == intercom.state_of(ticket)
        assert record.status == AGENTDESK_STATUS[record.vendor_status]
        if ticket.status in ("solved", "closed"):
            assert record.status == "solved"
        expected = "chat" if ticket.channel == "web" else ticket.channel  # forms come by Messenger
        assert record.channel == expected
        assert record.messages and len(record.messages) >= ticket.n_generated
        if record.vendor_status == "snoozed":
            assert record.snoozed_until is not None and record.status == "pending"
        if ticket.status in ("solved", "closed"):
            assert record.solved_at == datetime.fromtimestamp(ticket.solved_at, UTC)
            assert record.reopens == ticket.reopens
        expected_csat = {"good": "good", "bad": "bad", "offered": "offered"}
        assert record.satisfaction == expected_csat.get(ticket.satisfaction or "")
    assert {r.channel for r in records.values()} >= {"email", "chat", "sms", "voice"}


async def test_a_pull_interrupted_after_a_page_resumes_from_its_cursor(
    connector, sim: SimHandle, monkeypatch
):
    monkeypatch.setattr(intercom_module, "PER_PAGE", 25)
    first = None
    async for page in connector.pull("conversations", None):
        first = page  # the engine committed this page and its cursor; then the process died
        break
    assert first is not None and first.more and first.cursor
    rest = await pulled(connector, first.cursor)
    ids = [c.external_id for page in [first, *rest] for c in page.conversations]
    assert sorted(set(ids), key=int) == [str(i) for i in sorted(sim.world.tickets)]
    assert not rest[-1].more and rest[-1].cursor.endswith(":0:")
    # The next round asks only for what changed since (with a small overlap).
    assert len([c for page in await pulled(connector, rest[-1].cursor)
                for c in page.conversations]) < len(sim.world.tickets)  # fmt: skip


async def test_a_cursor_agentdesk_did_not_write_is_one_sentence(connector):
    with pytest.raises(Invalid) as info:
        await pulled(connector, "page:3")
    assert "sync --full" in str(info.value) and "\n" not in str(info.value)


async def test_find_sent_finds_only_the_reply_this_request_sent(connector, sim: SimHandle):
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
    cid = str(ticket.id)
    state = await connector.fetch_state(cid)
    made = datetime.fromtimestamp(sim.world.clock.timestamp(), UTC)
    reply = MutationRequest("m-1", "reply", cid, {"text": "Tracking: 1Z 999\n\nThanks!"},
                            state.version, created_at=made)  # fmt: skip
    assert await connector.find_sent(reply) is None
    written = await connector.apply(reply, state)
    assert await connector.find_sent(reply) == written.message_external_id is not None
    as_note = MutationRequest("m-2", "note", cid, dict(reply.payload), state.version,
                              created_at=made)  # fmt: skip
    assert await connector.find_sent(as_note) is None
    other = MutationRequest("m-3", "reply", cid, {"text": "Something else"}, state.version,
                            created_at=made)  # fmt: skip
    assert await connector.find_sent(other) is None


async def test_a_priority_change_is_refused_in_one_sentence_and_nothing_is_sent(
    connector, sim: SimHandle
):
    assert type(connector).capabilities.can_set_priority is False
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
    state = await connector.fetch_state(str(ticket.id))
    before = len(sim.world.writes.get(ticket.id, []))
    request = MutationRequest("m-4", "priority", str(ticket.id), {"priority": "urgent"},
                              state.version)  # fmt: skip
    with pytest.raises(Invalid) as info:
        await connector.apply(request, state)
    assert "priority" in str(info.value) and "\n" not in str(info.value)
    assert len(sim.world.writes.get(ticket.id, [])) == before


async def test_tags_are_created_once_by_name_and_removed_by_id(connector, sim: SimHandle):
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open" and t.tags)
    cid, gone = str(ticket.id), ticket.tags[0]
    for n in range(2):
        state = await connector.fetch_state(cid)
        request = MutationRequest(
            f"t-{n}", "tags", cid, {"add": ["Needs_Review"], "remove": [gone]}, state.version
        )
        await connector.apply(request, state)
    assert "Needs_Review" in ticket.tags and gone not in ticket.tags
    assert ticket.tags.count("Needs_Review") == 1


async def test_presence_is_intercoms_away_mode(connector, sim: SimHandle):
    assert await connector.set_presence("busy") == "busy"
    (page,) = [p async for p in connector.pull("agents", None)]
    me = next(a for a in page.agents if a.email == sim.user)
    assert me.presence == "busy"
    assert await connector.set_presence("online") == "online"
    (page,) = [p async for p in connector.pull("agents", None)]
    assert next(a for a in page.agents if a.email == sim.user).presence == "online"
    assert all(a.team_external_ids for a in page.agents if a.role == "agent")


def test_reply_text_becomes_escaped_html_paragraphs():
    assert html_body("a < b\nline two\n\nnext") == "<p>a &lt; b<br>line two</p><p>next</p>"


async def test_a_customer_on_intercom_and_zendesk_is_one_person_with_both_histories(tmp_path):
    """The same seed's people write to both helpdesks; the shared email links them."""
    from agentdesk.connectors.zendesk import ZendeskConnector
    from agentdesk.store import Store
    from agentdesk.sync.engine import SyncEngine

    store = Store.open(tmp_path / "cache.db")
    with (
        start_in_thread("intercom", seed=9, scale=60) as ic,
        start_in_thread("zendesk", seed=9, scale=60) as zd,
    ):
        connectors = {
            "ic": IntercomConnector(
                AccountSettings("ic", "intercom", ic.base_url, ic.user, cache_days=3650),
                ic.token, policy=FAST,
            ),
            "zd": ZendeskConnector(
                AccountSettings("zd", "zendesk", zd.base_url, zd.user, cache_days=3650),
                zd.token, policy=FAST,
            ),
        }  # fmt: skip
        try:
            engine = SyncEngine(store, connectors)
            for name in connectors:
                result = await engine.sync_account(name)
                assert result.ok, result.error
        finally:
            for built in connectors.values():
                await built.aclose()
    try:
        rows = store.conn.execute(
            "SELECT i.value, count(DISTINCT c.account), count(DISTINCT c.customer_id)"
            " FROM identities i JOIN conversations c ON c.customer_id = i.customer_id"
            " WHERE i.kind = 'email' GROUP BY i.value"
        ).fetchall()
    finally:
        store.close()
    both = [row for row in rows if row[1] == 2]
    assert both, "some customers wrote to both helpdesks"
    assert all(customers == 1 for _, _, customers in both)


async def test_a_refused_write_says_why_in_intercoms_own_words(connector, sim: SimHandle):
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
    state = await connector.fetch_state(str(ticket.id))
    past = MutationRequest(
        "s-1", "snooze", str(ticket.id), {"until": "2001-01-01T00:00:00Z"}, state.version
    )
    with pytest.raises(Invalid) as info:
        await connector.apply(past, state)
    message = str(info.value)
    assert "snoozed_until must be in the future" in message and "\n" not in message


async def test_a_conversation_deleted_between_search_and_read_is_a_tombstone(
    connector, transport: FaultTransport, sim: SimHandle
):
    gone = str(min(sim.world.tickets))
    transport.plan(
        "respond",
        response=httpx.Response(
            404, json={"type": "error.list", "errors": [{"code": "not_found", "message": "x"}]}
        ),
        match=lambda r: r.method == "GET" and r.url.path == f"/conversations/{gone}",
    )
    pages = await pulled(connector)
    assert [gone] == [i for page in pages for i in page.deleted_conversation_ids]
    assert gone not in {c.external_id for page in pages for c in page.conversations}


async def test_the_next_round_reads_only_what_changed_and_an_uncommitted_page_again(
    connector, sim: SimHandle
):
    rounds = await pulled(connector)
    cursor = rounds[-1].cursor
    quiet = await pulled(connector, cursor)  # the overlap brings back only unchanged ones
    assert [c for page in quiet for c in page.conversations] == []
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
    async with httpx.AsyncClient(base_url=f"{sim.base_url}/_sim") as control:  # a colleague
        (await control.post("/clock", json={"advance_seconds": 1})).raise_for_status()
        act = {"conversation_id": ticket.id, "add_tags": ["vip"]}
        (await control.post("/act", json=act)).raise_for_status()
    pages = connector.pull("conversations", quiet[-1].cursor)
    first = await anext(pages)
    assert [c.external_id for c in first.conversations] == [str(ticket.id)]
    await pages.aclose()  # the engine failed to commit it: the change must come back
    again = await pulled(connector, quiet[-1].cursor)
    assert [c.external_id for page in again for c in page.conversations] == [str(ticket.id)]
    assert "vip" in again[0].conversations[0].tags
