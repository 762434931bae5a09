"""The simulator's Zammad dialect answers as Zammad documents and its controllers do.

Based on: docs.zammad.org API → Introduction (token auth, `expand`, pagination without a
total), Ticket (search with `sort_by`/`order_by`), Articles, Tags; zammad/zammad
`TicketsController` (list capped at 100 per page, search at 200, default 50), `CanSearch`
(`*` stripped; a blank query is served by SQL in the asked order; without Elasticsearch a
query is a substring match), `HandlesErrors` (`{"error", "error_human"}`, `X-Failure` on
401/403), `config/initializers/rack_attack.rb` (core throttles no API route; Rack::Attack's
own answer is a bare 429 "Retry later").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from agentdesk.sim.server import start_in_thread
from agentdesk.sim.world import generate_world
from agentdesk.sim.zammad import NUMBER_BASE, build_app
from tests.sim.conftest import NOW
from tests.vendors.freshdesk.conftest import serve


@contextlib.contextmanager
def zammad(*, elasticsearch: bool = True, role: str = "admin") -> Iterator[httpx.Client]:
    world = generate_world(9, 300, instance="zammad", now=NOW)
    world.clock.freeze()
    user = world.agent_with_role(role)
    with serve(build_app(world, elasticsearch=elasticsearch)) as url:
        headers = {"Authorization": f"Token token={user.token}"}
        with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=10) as client:
            yield client


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    with zammad() as client:
        yield client


def test_token_and_bearer_authenticate_and_a_wrong_token_is_zammads_401(api):
    token = api.headers["Authorization"].removeprefix("Token token=")
    me = api.get("/users/me", params={"expand": "true"}).json()
    assert "Admin" in me["roles"]
    bearer = api.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert bearer.json()["id"] == me["id"]
    wrong = api.get("/users/me", headers={"Authorization": "Token token=nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == wrong.json()["error_human"] == wrong.headers["X-Failure"]


def test_lists_and_searches_are_capped_and_carry_no_total(api):
    assert len(api.get("/tickets", params={"per_page": 500}).json()) == 100
    assert len(api.get("/tickets/search", params={"query": "*", "expand": "true"}).json()) == 50
    found = api.get("/tickets/search", params={"query": "*", "per_page": 500}).json()
    assert len(found["tickets"]) == 200 and "total_count" not in found


def test_search_sorts_by_updated_at_and_reads_field_queries_with_elasticsearch(api):
    asc = api.get("/tickets/search", params={
        "query": "*", "sort_by": "updated_at", "order_by": "asc", "expand": "true",
        "per_page": 200}).json()  # fmt: skip
    stamps = [t["updated_at"] for t in asc]
    assert stamps == sorted(stamps)
    middle = stamps[100]
    ranged = api.get("/tickets/search", params={
        "query": f'updated_at:["{middle}" TO "2999-01-01T00:00:00Z"]', "expand": "true",
        "per_page": 200}).json()  # fmt: skip
    assert ranged and min(t["updated_at"] for t in ranged) >= middle
    customer = asc[0]["customer_id"]
    theirs = api.get("/tickets/search", params={"query": f"customer_id:{customer}",
                                                "expand": "true"}).json()  # fmt: skip
    assert theirs and {t["customer_id"] for t in theirs} == {customer}


def test_without_elasticsearch_a_field_query_finds_nothing_but_the_list_is_served():
    with zammad(elasticsearch=False) as api:
        number = NUMBER_BASE + 1
        assert api.get("/tickets/search", params={"query": f"number:{number}",
                                                  "expand": "true"}).json() == []  # fmt: skip
        by_number = api.get("/tickets/search", params={"query": str(number), "expand": "true"})
        assert [t["number"] for t in by_number.json()] == [str(number)]
        newest = api.get("/tickets/search", params={"query": "*", "expand": "true"}).json()
        stamps = [t["updated_at"] for t in newest]
        assert stamps == sorted(stamps, reverse=True)  # Zammad's default: updated_at desc


def test_a_pending_state_needs_a_pending_time_and_errors_are_zammads_shape(api):
    ticket = api.get("/tickets", params={"per_page": 1}).json()[0]
    refused = api.put(f"/tickets/{ticket['id']}", json={"state_id": 3})
    assert refused.status_code == 422
    assert refused.json()["error_human"] == "Missing required value for field 'pending_time'!"
    done = api.put(f"/tickets/{ticket['id']}",
                   json={"state_id": 3, "pending_time": "2030-01-01T09:00:00Z"})  # fmt: skip
    assert done.json()["state_id"] == 3 and done.json()["pending_time"].startswith("2030-01-01")
    missing = api.get("/tickets/999999")
    assert missing.status_code == 404
    assert missing.json()["error"] == "Couldn't find Ticket with 'id'=999999"


def test_states_and_priorities_are_the_instances_own_and_only_an_admin_changes_them():
    with zammad(role="agent") as agent:
        states = agent.get("/ticket_states", params={"expand": "true"}).json()
        assert {s["name"]: s["state_type"] for s in states}["pending close"] == "pending action"
        assert [p["name"] for p in agent.get("/ticket_priorities").json()][:3] == [
            "1 low", "2 normal", "3 high"]  # fmt: skip
        denied = agent.put("/ticket_states/2", json={"name": "Offen"})
        assert denied.status_code == 403 and denied.json()["error"] == "Not authorized"


def test_tags_are_added_and_removed_one_item_at_a_time(api):
    ticket_id = api.get("/tickets", params={"per_page": 1}).json()[0]["id"]
    target = {"object": "Ticket", "o_id": ticket_id, "item": "vip"}
    assert api.post("/tags/add", json=target).status_code == 201
    assert api.post("/tags/add", json=target).status_code == 201  # adding twice is harmless
    tags = api.get("/tags", params={"object": "Ticket", "o_id": ticket_id}).json()["tags"]
    assert tags.count("vip") == 1
    assert api.request("DELETE", "/tags/remove", json=target).status_code == 200
    assert "vip" not in api.get("/tags", params={"object": "Ticket",
                                                 "o_id": ticket_id}).json()["tags"]  # fmt: skip


def test_an_email_article_is_mailed_even_when_internal():
    world = generate_world(9, 50, instance="zammad", now=NOW)
    app = build_app(world)
    user = world.agent_with_role("admin")
    with serve(app) as url:
        headers = {"Authorization": f"Token token={user.token}"}
        body = {"ticket_id": world.ticket_ids[0], "body": "<p>secret</p>",
                "content_type": "text/html", "type": "email", "internal": True,
                "to": "someone@example.com"}  # fmt: skip
        created = httpx.post(f"{url}/api/v1/ticket_articles", json=body, headers=headers)
    assert created.status_code == 201 and created.json()["internal"] is True
    assert app.state.dialect.mailed == {created.json()["id"]}


def test_a_throttled_request_gets_rack_attacks_bare_429():
    with start_in_thread("zammad", seed=9, scale=50, now=NOW, rate_limit=1) as sim:
        headers = {"Authorization": f"Token token={sim.token}"}
        first = httpx.get(f"{sim.base_url}/api/v1/users/me", headers=headers)
        second = httpx.get(f"{sim.base_url}/api/v1/users/me", headers=headers)
    assert first.status_code == 200
    assert second.status_code == 429 and second.text == "Retry later\n"
    assert "retry-after" not in second.headers


def test_elasticsearch_answers_no_deeper_than_ten_thousand_results(api):
    deep = api.get("/tickets/search", params={"query": "customer_id:1", "page": 51,
                                              "per_page": 200})  # fmt: skip
    assert deep.status_code == 422 and "Result window is too large" in deep.json()["error"]


def test_the_shared_control_api_drives_the_zammad_dialect():
    with start_in_thread("zammad", seed=9, scale=50, now=NOW) as sim:
        headers = {"Authorization": f"Token token={sim.token}"}
        created = httpx.post(f"{sim.base_url}/_sim/inbound", json={
            "channel": "email", "customer_email": "x@example.org", "subject": "Hello",
            "text": "where is my order"}).json()  # fmt: skip
        cid = created["conversation_id"]
        httpx.post(f"{sim.base_url}/_sim/act", json={"conversation_id": cid, "status": "pending"})
        ticket = httpx.get(f"{sim.base_url}/api/v1/tickets/{cid}", params={"expand": "true"},
                           headers=headers).json()  # fmt: skip
        articles = httpx.get(f"{sim.base_url}/api/v1/ticket_articles/by_ticket/{cid}",
                             headers=headers).json()  # fmt: skip
    assert (ticket["title"], ticket["state"], ticket["customer"]) == (
        "Hello", "pending reminder", "x@example.org")  # fmt: skip
    assert ticket["pending_time"] is not None
    assert [(a["sender"], a["type"]) for a in articles] == [("Customer", "email")]
