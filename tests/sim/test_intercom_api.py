"""The Intercom dialect answers as Intercom documents: auth, search and its limits, cursors,
snoozes that end, rate limits in 10-second windows, and the shared world's customers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agentdesk.sim.server import SimHandle, start_in_thread
from agentdesk.sim.world import generate_world
from tests.sim.conftest import NOW


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_in_thread("intercom", seed=11, scale=120, now=NOW) as handle:
        yield handle


@pytest.fixture
def api(sim: SimHandle) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sim.token}", "Intercom-Version": "2.16"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=10) as client:
        yield client


def search(api: httpx.Client, query: dict, **pagination: object) -> httpx.Response:
    return api.post("/conversations/search", json={"query": query, "pagination": pagination})


def test_a_wrong_token_is_a_401_error_list(sim: SimHandle):
    response = httpx.get(f"{sim.base_url}/me", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error.list" and body["errors"][0]["code"] == "unauthorized"
    assert httpx.get(f"{sim.base_url}/me").status_code == 401


def test_an_unknown_api_version_is_refused(api):
    assert api.get("/me").status_code == 200
    refused = api.get("/me", headers={"Intercom-Version": "9.9"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "intercom_version_invalid"


def test_search_pages_with_starting_after_and_every_match_comes_once(api, sim: SimHandle):
    query = {"field": "updated_at", "operator": ">", "value": 0}
    seen: list[str] = []
    after = None
    while True:
        extra = {"starting_after": after} if after else {}
        page = search(api, query, per_page=7, **extra).json()
        seen += [c["id"] for c in page["conversations"]]
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert sorted(seen, key=int) == [str(i) for i in sorted(sim.world.tickets)]


def test_search_refuses_more_than_150_a_page_deep_nesting_and_16_filters(api):
    one = {"field": "state", "operator": "=", "value": "open"}
    assert search(api, one, per_page=150).status_code == 200
    too_big = search(api, one, per_page=151)
    assert too_big.status_code == 400 and too_big.json()["type"] == "error.list"
    two_deep = {"operator": "AND", "value": [{"operator": "OR", "value": [one, one]}, one]}
    assert search(api, two_deep).status_code == 200
    three_deep = {"operator": "AND", "value": [{"operator": "OR", "value": [two_deep]}]}
    assert search(api, three_deep).status_code == 400
    assert search(api, {"operator": "OR", "value": [one] * 15}).status_code == 200
    assert search(api, {"operator": "OR", "value": [one] * 16}).status_code == 400


def test_history_by_contact_ids_finds_every_conversation_of_the_customer(api, sim: SimHandle):
    requester, tickets = max(sim.world.by_requester.items(), key=lambda kv: len(kv[1]))
    contact = f"{requester:024x}"
    found = search(api, {"field": "contact_ids", "operator": "=", "value": contact}).json()
    assert sorted(int(c["id"]) for c in found["conversations"]) == sorted(tickets)
    person = api.get(f"/contacts/{contact}").json()
    assert person["email"] == sim.world.users[requester].email
    assert "plan" in person["custom_attributes"]


def test_a_snooze_ends_at_its_time_or_when_the_customer_replies(api, sim: SimHandle):
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
    me = api.get("/me").json()["id"]
    now = sim.world.clock.timestamp()
    snoozed = api.post(f"/conversations/{ticket.id}/parts",
                       json={"message_type": "snoozed", "admin_id": me,
                             "snoozed_until": now + 3600}).json()  # fmt: skip
    assert snoozed["state"] == "snoozed" and snoozed["snoozed_until"] == now + 3600
    assert snoozed["conversation_parts"]["conversation_parts"][-1]["part_type"] == "snoozed"
    customer = sim.world.users[ticket.requester_id]
    httpx.post(f"{sim.base_url}/_sim/inbound", json={
        "conversation_id": ticket.id, "customer_email": customer.email or "x@example.com",
        "text": "Any news?", "channel": ticket.channel}).raise_for_status()  # fmt: skip
    woken = api.get(f"/conversations/{ticket.id}").json()
    assert woken["state"] == "open" and woken["snoozed_until"] is None
    past = api.post(
        f"/conversations/{ticket.id}/parts",
        json={"message_type": "snoozed", "admin_id": me, "snoozed_until": now - 1},
    )
    assert past.status_code == 400


def test_rate_limits_count_in_10_second_windows_and_reset_is_a_unix_time(api, sim: SimHandle):
    control = f"{sim.base_url}/_sim"
    httpx.post(f"{control}/clock", json={"freeze": True}).raise_for_status()
    httpx.post(f"{control}/ratelimit", json={"per_minute": 60}).raise_for_status()
    try:
        answers = [api.get("/admins") for _ in range(11)]
        assert [a.status_code for a in answers] == [200] * 10 + [429]
        assert answers[0].headers["X-RateLimit-Limit"] == "10"  # 60 a minute, 10 a window
        assert answers[9].headers["X-RateLimit-Remaining"] == "0"
        refused = answers[10]
        assert "retry-after" not in refused.headers
        assert refused.json()["errors"][0]["code"] == "rate_limit_exceeded"
        now = sim.world.clock.timestamp()
        assert now < int(refused.headers["X-RateLimit-Reset"]) <= now + 10
        httpx.post(f"{control}/clock", json={"advance_seconds": 10}).raise_for_status()
        assert api.get("/admins").status_code == 200
    finally:
        httpx.post(f"{control}/ratelimit", json={"per_minute": None}).raise_for_status()
        httpx.post(f"{control}/clock", json={"freeze": False}).raise_for_status()


def test_the_same_seed_gives_intercom_and_zendesk_customers_in_common():
    """Each instance draws its customers from the seed's people: many write to both, with the
    same name, email and phone, so agentdesk can merge them into one person."""
    intercom = generate_world(11, 120, instance="intercom", now=NOW)
    zendesk = generate_world(11, 120, instance="zendesk", now=NOW)

    def customers(world) -> dict[str, tuple[str, str | None]]:
        return {u.email: (u.name, u.phone) for u in world.users.values()
                if u.role == "end-user" and u.email}  # fmt: skip

    ours, theirs = customers(intercom), customers(zendesk)
    shared = ours.keys() & theirs.keys()
    assert len(shared) >= 10
    assert all(ours[email] == theirs[email] for email in shared)
