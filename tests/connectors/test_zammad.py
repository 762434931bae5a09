"""The Zammad connector against the simulator's Zammad dialect, over real loopback HTTP.

What the requests and responses are based on (Zammad publishes no OpenAPI document):
* docs.zammad.org, API → Introduction: `Authorization: Token token=...`, `expand=true`,
  pagination by `page`/`per_page` with server-side caps and no total.
* API → Ticket: `GET /api/v1/tickets/search` (`sort_by`, `order_by`); `TicketsController#search`
  (per_page capped at 200) and `CanSearch#search_build_params` (a `*` is stripped from the
  query; a blank query is answered by SQL, sorted as asked — the no-Elasticsearch list).
* API → Articles: `/ticket_articles/by_ticket/{id}`, `POST /ticket_articles` with `type` and
  `internal` ("note" is not a communication article; an email-type article is sent).
* API → Tags: `GET /tags?object=Ticket&o_id=`, `POST /tags/add`, `DELETE /tags/remove`.
* `db/seeds/ticket_states.rb`, `ticket_state_types.rb`, `ticket_priorities.rb`: the stock
  states (typed), and priorities "1 low", "2 normal" (default_create), "3 high".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from agentdesk.connectors.base import AccountSettings, ConflictError, Invalid
from agentdesk.connectors.zammad import ZammadConnector
from agentdesk.model import MutationRequest
from agentdesk.sim.world import World, generate_world
from agentdesk.sim.zammad import ZammadDialect, build_app
from agentdesk.store import Store
from agentdesk.sync import SyncEngine
from tests.vendors.freshdesk.conftest import serve

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# world status → what agentdesk shows for a Zammad ticket in it (Zammad has one closed type).
SHOWN = {"new": "new", "open": "open", "pending": "pending", "hold": "pending",
         "solved": "solved", "closed": "solved"}  # fmt: skip
SHOWN_PRIORITY = {None: "normal", "low": "low", "normal": "normal", "high": "high",
                  "urgent": "urgent"}  # fmt: skip


@dataclass
class ZammadSim:
    base_url: str
    world: World
    dialect: ZammadDialect
    token: str
    user: str

    def connector(self, **settings: object) -> ZammadConnector:
        account = AccountSettings(name="zm", connector="zammad", base_url=self.base_url,
                                  user=self.user, **{"cache_days": 3650, **settings})  # fmt: skip
        return ZammadConnector(account, self.token)

    def admin(self, method: str, path: str, body: dict[str, object]) -> httpx.Response:
        """What the instance's admin does in Zammad's admin UI, through its REST API."""
        return httpx.request(method, f"{self.base_url}/api/v1{path}", json=body,
                             headers={"Authorization": f"Token token={self.token}"})  # fmt: skip


@contextlib.contextmanager
def running(
    *, elasticsearch: bool = True, scale: int = 60, role: str = "admin", now: datetime = NOW
) -> Iterator[ZammadSim]:
    world = generate_world(5, scale, instance="zammad", now=now)
    world.clock.freeze()
    app = build_app(world, elasticsearch=elasticsearch)
    user = world.agent_with_role(role)
    assert user.token and user.email
    with serve(app) as url:
        yield ZammadSim(url, world, app.state.dialect, user.token, user.email)


def _store(tmp_path) -> Store:
    store = Store.open(tmp_path / "cache.db")
    store.upsert_account("zm", "zammad", "http://sim", "agent@example")
    return store


async def _sync(store: Store, connector: ZammadConnector):
    result = await SyncEngine(store, {"zm": connector}).sync_account("zm")
    assert result.ok, result.error
    return result


async def _synced_once(sim: ZammadSim, tmp_path, **settings: object):
    """A store after one sync round of a fresh connector, and that round's result."""
    connector = sim.connector(**settings)
    store = _store(tmp_path)
    try:
        return store, await _sync(store, connector)
    finally:
        await connector.aclose()


def _row(store: Store, ticket_id: int) -> tuple[str, str, str]:
    return tuple(store.conn.execute(
        "SELECT status, vendor_status, priority FROM conversations WHERE external_id = ?",
        (str(ticket_id),),
    ).fetchone())  # fmt: skip


async def test_an_instance_whose_admin_renamed_its_states_and_priorities_still_maps_correctly(
    tmp_path,
):
    with running() as sim:
        # The admin renames everything, retires the stock pending state for one of their own
        # (a new id) and renames the priorities: no name or id agentdesk could have assumed.
        for state_id, name in ((1, "Neu"), (2, "In Bearbeitung"), (4, "Erledigt")):
            assert sim.admin("PUT", f"/ticket_states/{state_id}", {"name": name}).is_success
        assert sim.admin("PUT", "/ticket_states/3", {"active": False}).is_success
        created = sim.admin("POST", "/ticket_states", {"name": "Warten auf Kunde",
                                                        "state_type_id": 3})  # fmt: skip
        assert created.status_code == 201
        waiting = created.json()["id"]
        for priority_id, name in ((1, "Niedrig"), (2, "Mittel"), (3, "Hoch"), (4, "Kritisch")):
            assert sim.admin("PUT", f"/ticket_priorities/{priority_id}", {"name": name}).is_success
        connector = sim.connector()
        store = _store(tmp_path)
        try:
            await _sync(store, connector)
            waiting_name = "Warten auf Kunde"
            names = {"new": "Neu", "open": "In Bearbeitung", "pending": waiting_name,
                     "hold": waiting_name, "solved": "Erledigt", "closed": "Erledigt"}  # fmt: skip
            for t in sim.world.tickets.values():
                assert _row(store, t.id) == (SHOWN[t.status], names[t.status],
                                             SHOWN_PRIORITY[t.priority])  # fmt: skip
            # Writes pick the instance's own records: the admin's pending state (with the
            # pending time Zammad demands) and the renamed fourth priority.
            ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
            current = await connector.fetch_state(str(ticket.id))
            for action, payload in (("status", {"status": "pending"}),
                                    ("priority", {"priority": "urgent"})):  # fmt: skip
                request = MutationRequest(f"m-{action}", action, str(ticket.id), payload,
                                          current.version)  # fmt: skip
                await connector.apply(request, current)
                current = await connector.fetch_state(str(ticket.id))
        finally:
            await connector.aclose()
        shown = sim.dialect._ticket(ticket, True)
        assert (shown["state_id"], shown["state"], shown["priority"]) == (
            waiting, "Warten auf Kunde", "Kritisch")  # fmt: skip
        assert shown["pending_time"] is not None
        assert (current.status, current.priority) == ("pending", "urgent")


async def test_without_elasticsearch_the_pull_reads_the_list_and_stays_incremental(tmp_path):
    with running(elasticsearch=False) as sim:
        connector = sim.connector()
        store = _store(tmp_path)
        try:
            first = await _sync(store, connector)
            assert await connector.search_works() is False
            assert first.conversations == len(sim.world.tickets)
            changed = sim.world.tickets[sim.world.ticket_ids[3]]
            sim.world.clock.advance(5)
            sim.world.add_comment(changed, changed.requester_id, "Still waiting on this one")
            again = await _sync(store, connector)
            history = [p async for p in connector.contact_history(str(changed.requester_id))]
        finally:
            await connector.aclose()
        assert again.conversations == 1
        bodies = [r[0] for r in store.conn.execute(
            "SELECT m.body FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.external_id = ?", (str(changed.id),))]  # fmt: skip
        assert "Still waiting on this one" in bodies
        theirs = {str(i) for i in sim.world.by_requester[changed.requester_id]}
        assert {c.external_id for p in history for c in p.conversations} == theirs


async def test_a_note_is_never_mailed_and_a_reply_is_mailed_to_the_customer():
    with running() as sim:
        world = sim.world
        ticket = next(t for t in world.tickets.values()
                      if t.status == "open" and world.users[t.requester_id].email)  # fmt: skip
        connector = sim.connector()
        try:
            current = await connector.fetch_state(str(ticket.id))
            sent = {}
            for action in ("note", "reply"):
                request = MutationRequest(f"m-{action}", action, str(ticket.id),
                                          {"text": f"the {action}"}, current.version)  # fmt: skip
                sent[action] = (await connector.apply(request, current)).message_external_id
        finally:
            await connector.aclose()
        async with httpx.AsyncClient() as client:
            listed = await client.get(
                f"{sim.base_url}/api/v1/ticket_articles/by_ticket/{ticket.id}",
                headers={"Authorization": f"Token token={sim.token}"},
            )
        articles = {str(a["id"]): a for a in listed.json()}
        note, reply = articles[sent["note"]], articles[sent["reply"]]
        assert (note["type"], note["internal"]) == ("note", True)
        assert (reply["type"], reply["internal"]) == ("email", False)
        assert {int(sent["reply"])} == sim.dialect.mailed


async def test_a_reply_to_a_customer_without_an_email_is_a_public_note_mailed_to_nobody():
    with running(scale=200) as sim:
        world = sim.world
        ticket = next(t for t in world.tickets.values() if not world.users[t.requester_id].email)
        connector = sim.connector()
        try:
            current = await connector.fetch_state(str(ticket.id))
            request = MutationRequest("m-1", "reply", str(ticket.id), {"text": "Call us back"},
                                      current.version)  # fmt: skip
            await connector.apply(request, current)
        finally:
            await connector.aclose()
        (comment,) = [c for c in world.comments(ticket) if c.body == "Call us back"]
        assert comment.public and not sim.dialect.mailed


async def test_a_write_based_on_an_older_updated_at_is_refused_and_changes_nothing():
    with running() as sim:
        ticket = next(t for t in sim.world.tickets.values()
                      if t.status == "open" and t.priority != "low")  # fmt: skip
        before = ticket.priority
        connector = sim.connector()
        try:
            current = await connector.fetch_state(str(ticket.id))
            sim.world.clock.advance(2)
            sim.world.touch(ticket)  # a colleague saved the ticket meanwhile
            request = MutationRequest("m-1", "priority", str(ticket.id), {"priority": "low"},
                                      current.version)  # fmt: skip
            with pytest.raises(ConflictError) as info:
                await connector.apply(request, current)
        finally:
            await connector.aclose()
        assert "zm" in str(info.value) and ticket.priority == before
        assert sim.world.writes.get(ticket.id) is None


async def test_full_sync_brings_customers_agents_groups_and_every_article_as_zammad_has_them(
    tmp_path,
):
    with running() as sim:
        world = sim.world
        store, result = await _synced_once(sim, tmp_path)
        assert result.role == "admin"
        count = lambda sql, *a: store.conn.execute(sql, a).fetchone()[0]
        assert count("SELECT count(*) FROM teams") == len(world.groups)
        roles = dict(store.conn.execute("SELECT external_id, role FROM agents").fetchall())
        for agent_id in world.agent_ids:
            assert roles[str(agent_id)] == ("admin" if world.users[agent_id].role == "admin"
                                            else "agent")  # fmt: skip
        comments = [c for t in world.tickets.values() for c in world.comments(t)]
        assert count("SELECT count(*) FROM messages") == len(comments)
        assert count("SELECT count(*) FROM messages WHERE kind = 'note'") == sum(
            not c.public for c in comments)  # fmt: skip
        assert count("SELECT count(*) FROM messages WHERE attachments != '[]'") == sum(
            bool(c.attachments) for c in comments)  # fmt: skip
        # The first article's type is the channel: a phone call is voice, a tweet social.
        channels = dict(store.conn.execute("SELECT external_id, channel FROM conversations"))
        for t in world.tickets.values():
            assert channels[str(t.id)] == ("chat" if t.via == "native_messaging" else t.channel)
        customer = world.users[next(iter(world.tickets.values())).requester_id]
        identities = {tuple(r) for r in store.conn.execute(
            "SELECT kind, value FROM identities WHERE account = 'zm' AND external_id = ?",
            (str(customer.id),))}  # fmt: skip
        expected = {("email", customer.email)} if customer.email else set()
        expected |= {("phone", customer.phone)} if customer.phone else set()
        assert identities == expected


async def test_a_pull_longer_than_the_search_window_restarts_from_the_last_update_seen(
    tmp_path, monkeypatch
):
    from agentdesk.connectors import zammad

    monkeypatch.setattr(zammad, "RUN_PAGES", 2)  # 400 results a stretch instead of 9,000
    with running(scale=900) as sim:
        searches: list[str] = []
        connector = sim.connector()
        original = connector._search

        async def counted(query: str, **kw):
            searches.append(query)
            return await original(query, **kw)

        connector._search = counted  # type: ignore[method-assign]
        store = _store(tmp_path)
        try:
            result = await _sync(store, connector)
        finally:
            await connector.aclose()
        cached = {r[0] for r in store.conn.execute("SELECT external_id FROM conversations")}
        assert cached == {str(i) for i in sim.world.ticket_ids}
        assert result.conversations == len(sim.world.tickets)  # none fetched twice
        assert len({q for q in searches if q.startswith("updated_at")}) >= 3


async def test_an_agent_who_may_not_list_groups_learns_them_from_the_tickets(tmp_path):
    with running(role="agent") as sim:
        store, result = await _synced_once(sim, tmp_path)
        assert result.role == "agent"
        teams = dict(store.conn.execute("SELECT external_id, name FROM teams").fetchall())
        used = {t.group_id for t in sim.world.tickets.values() if t.group_id is not None}
        assert teams == {str(g): sim.world.groups[g].name for g in used}
        assigned = store.conn.execute(
            "SELECT count(*) FROM conversations WHERE team_id IS NOT NULL"
        ).fetchone()[0]
        assert assigned == sum(t.group_id is not None for t in sim.world.tickets.values())


async def test_a_sent_reply_is_found_again_even_with_characters_html_escapes():
    with running() as sim:
        ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
        text = "1. *Refund* of #4411 <b>not</b> bold & 100% sure_thing"
        connector = sim.connector()
        try:
            current = await connector.fetch_state(str(ticket.id))
            request = MutationRequest("m-1", "reply", str(ticket.id), {"text": text},
                                      current.version, created_at=NOW)  # fmt: skip
            written = await connector.apply(request, current)
            found = await connector.find_sent(request)
            other = MutationRequest("m-2", "reply", str(ticket.id), {"text": text + "!"},
                                    current.version, created_at=NOW)  # fmt: skip
            not_sent = await connector.find_sent(other)
            as_note = await connector.find_sent(MutationRequest(
                "m-3", "note", str(ticket.id), {"text": text}, current.version))  # fmt: skip
        finally:
            await connector.aclose()
        assert found == written.message_external_id is not None
        assert not_sent is None and as_note is None


@pytest.mark.parametrize("elasticsearch", [True, False])
async def test_old_open_tickets_are_found_with_and_without_elasticsearch(tmp_path, elasticsearch):
    with running(elasticsearch=elasticsearch, scale=300, now=datetime.now(UTC)) as sim:
        store, result = await _synced_once(sim, tmp_path, cache_days=90, cache_history=False)
        window = AccountSettings("zm", "zammad", sim.base_url, sim.user, cache_days=90)
        before = window.backlog_before().timestamp()
        old_open = {str(t.id) for t in sim.world.tickets.values()
                    if t.status not in ("solved", "closed") and t.updated_at < before}  # fmt: skip
        assert old_open and result.backlog == len(old_open)
        cached = {r[0] for r in store.conn.execute("SELECT external_id FROM conversations")}
        assert old_open <= cached


async def test_a_status_the_instance_has_no_active_state_for_is_one_sentence_not_a_guess():
    with running() as sim:
        assert sim.admin("PUT", "/ticket_states/4", {"active": False}).is_success  # no "closed"
        ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
        connector = sim.connector()
        try:
            current = await connector.fetch_state(str(ticket.id))
            request = MutationRequest("m-1", "status", str(ticket.id), {"status": "solved"},
                                      current.version)  # fmt: skip
            with pytest.raises(Invalid) as info:
                await connector.apply(request, current)
        finally:
            await connector.aclose()
        message = str(info.value)
        assert "zm" in message and "'solved'" in message and "\n" not in message
        assert ticket.status == "open" and sim.world.writes.get(ticket.id) is None
