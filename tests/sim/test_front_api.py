"""The simulator's Front dialect answers as Front documents: auth, paging, the event feed,
writes, error bodies and both rate limits (company budget and burst tier)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agentdesk.sim.front import front_id, world_id
from agentdesk.sim.server import SimHandle, start_in_thread
from tests.sim.conftest import NOW


@pytest.fixture(scope="module")
def front() -> Iterator[SimHandle]:
    with start_in_thread("front", seed=11, scale=300, now=NOW) as handle:
        yield handle


@pytest.fixture
def api(front: SimHandle) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=front.base_url, headers={"Authorization": f"Bearer {front.token}"}, timeout=10
    ) as client:
        yield client


def _open(front: SimHandle) -> str:
    ticket = next(t for t in front.world.tickets.values() if t.status == "open")
    return front_id("conversation", ticket.id)


def test_a_missing_or_wrong_token_is_401_in_fronts_error_shape(front: SimHandle) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": front.token}):
        response = httpx.get(f"{front.base_url}/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["_error"]["status"] == 401


def test_conversations_page_by_token_without_gaps_or_repeats(api: httpx.Client) -> None:
    seen: list[str] = []
    url, params = "/conversations", {"limit": 100}
    while url:
        body = api.get(url, params=params).raise_for_status().json()
        seen += [c["id"] for c in body["_results"]]
        url, params = body["_pagination"]["next"], None  # the next URL carries everything
    assert len(seen) == len(set(seen)) == 300
    assert api.get("/conversations", params={"limit": 101}).status_code == 400
    assert api.get("/conversations", params={"page_token": "%%%"}).status_code == 400


def test_statuses_filter_the_list_and_archived_means_resolved(api: httpx.Client) -> None:
    body = api.get("/conversations", params={"q[statuses][]": "archived", "limit": 100}).json()
    assert body["_results"]
    assert {c["status_category"] for c in body["_results"]} == {"resolved"}
    bad = api.get("/conversations", params={"q[statuses][]": "snoozed"})
    assert bad.status_code == 400 and "snoozed" in bad.json()["_error"]["message"]


def test_the_event_feed_pages_15_at_most_and_shows_a_new_customer_message(
    front: SimHandle, api: httpx.Client
) -> None:
    assert api.get("/events", params={"limit": 16}).status_code == 400
    cid = _open(front)
    mark = front.world.clock.timestamp()
    front.world.clock.advance(5)
    httpx.post(
        f"{front.base_url}/_sim/inbound",
        json={
            "conversation_id": world_id("conversation", cid),
            "text": "Still waiting",
            "customer_email": front.world.users[
                front.world.tickets[world_id("conversation", cid)].requester_id
            ].email
            or "x@example.com",
        },
    ).raise_for_status()
    body = api.get("/events", params={"q[after]": mark, "sort_order": "asc", "limit": 15}).json()
    (event,) = [e for e in body["_results"] if e["target"]["data"].get("text") == "Still waiting"]
    assert event["type"] == "inbound" and event["conversation"]["id"] == cid
    assert event["emitted_at"] > mark
    assert all(e["emitted_at"] > mark for e in body["_results"])


def test_a_reply_archives_unless_told_not_to_and_is_found_by_its_uid(
    front: SimHandle, api: httpx.Client
) -> None:
    ids = [
        front_id("conversation", t.id) for t in front.world.tickets.values() if t.status == "open"
    ][:2]
    kept = api.post(
        f"/conversations/{ids[0]}/messages",
        json={"body": "<p>Kept open</p>", "options": {"archive": False}},
    )
    assert kept.status_code == 202 and kept.json()["status"] == "accepted"
    message = api.get(f"/messages/alt:uid:{kept.json()['message_uid']}").json()
    assert message["text"] == "Kept open" and not message["is_inbound"]
    assert api.get(f"/conversations/{ids[0]}").json()["status_category"] == "open"
    api.post(f"/conversations/{ids[1]}/messages", json={"body": "Done"}).raise_for_status()
    assert api.get(f"/conversations/{ids[1]}").json()["status"] == "archived"
    assert api.post(f"/conversations/{ids[0]}/messages", json={}).status_code == 400


def test_snooze_is_a_reminder_and_unknown_things_are_404s(
    front: SimHandle, api: httpx.Client
) -> None:
    cid = _open(front)
    me = api.get(f"/teammates/alt:email:{front.user}").json()["id"]
    at = front.world.clock.timestamp() + 3_600
    snoozed = api.patch(
        f"/conversations/{cid}/reminders", json={"teammate_id": me, "scheduled_at": at}
    )
    assert snoozed.status_code == 204
    conversation = api.get(f"/conversations/{cid}").json()
    assert [r["scheduled_at"] for r in conversation["scheduled_reminders"]] == [at]
    assert conversation["status_category"] == "waiting"
    past = api.patch(f"/conversations/{cid}/reminders", json={"teammate_id": me, "scheduled_at": 1})
    assert past.status_code == 400
    for path in ("/conversations/cnv_zzzzzz", "/contacts/crd_0", "/teammates/tea_0"):
        missing = api.get(path)
        assert missing.status_code == 404 and missing.json()["_error"]["title"] == "Not found"
    assert (
        api.put(f"/conversations/{cid}/assignee", json={"assignee_id": "tea_1"}).status_code == 404
    )


def test_a_burst_on_one_conversation_is_429_while_the_company_budget_has_requests_left(
    front: SimHandle, api: httpx.Client
) -> None:
    cid = _open(front)
    control = f"{front.base_url}/_sim"
    httpx.post(f"{control}/ratelimit", json={"per_minute": 1000}).raise_for_status()
    httpx.post(f"{control}/clock", json={"freeze": True}).raise_for_status()
    try:
        answers = [api.get(f"/conversations/{cid}") for _ in range(6)]
        other = api.get("/teams")
    finally:
        httpx.post(f"{control}/clock", json={"freeze": False})
        httpx.post(f"{control}/ratelimit", json={"per_minute": None})
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    burst = answers[-1]
    assert burst.headers["retry-after"] == "1" and burst.headers["x-front-tier"]
    assert int(burst.headers["x-ratelimit-remaining"]) > 0
    assert burst.json()["_error"]["status"] == 429
    assert other.status_code == 200  # another resource has its own burst budget


def test_the_company_budget_runs_out_with_retry_after_and_remaining_zero(
    front: SimHandle, api: httpx.Client
) -> None:
    control = f"{front.base_url}/_sim"
    httpx.post(f"{control}/ratelimit", json={"per_minute": 2}).raise_for_status()
    try:
        answers = [api.get("/me") for _ in range(3)]
    finally:
        httpx.post(f"{control}/ratelimit", json={"per_minute": None})
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "2"
    assert answers[-1].headers["x-ratelimit-remaining"] == "0"
    assert float(answers[-1].headers["retry-after"]) >= 1
