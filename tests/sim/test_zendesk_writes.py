"""Zendesk writes over real loopback HTTP: safe_update, Idempotency-Key, tags, validation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agentdesk.sim.server import SimHandle, start_in_thread
from tests.sim.conftest import NOW, client_for

CONFLICT = {
    "error": "UpdateConflict",
    "description": "Safe Update prevented the update due to outdated ticket data. "
    "Please fetch the latest ticket data and try again.",
}


@pytest.fixture(scope="module")
def wsim() -> Iterator[SimHandle]:
    with start_in_thread("zendesk", seed=21, scale=300, now=NOW) as handle:
        yield handle


@pytest.fixture(scope="module")
def w(wsim: SimHandle) -> Iterator[httpx.Client]:
    with client_for(wsim) as client:
        yield client


def _open_ticket(w: httpx.Client) -> dict:
    found = w.get("/api/v2/search.json", params={"query": "type:ticket status:open"}).json()
    return found["results"][0]


def _state(sim: SimHandle, ticket_id: int) -> dict:
    body = httpx.get(f"{sim.base_url}/_sim/state", params={"ids": str(ticket_id)}).json()
    return body["conversations"][0]


def test_update_with_a_fresh_stamp_applies_and_a_stale_stamp_gets_409(
    wsim: SimHandle, w: httpx.Client
) -> None:
    ticket = _open_ticket(w)
    stamp = ticket["updated_at"]
    first = w.put(
        f"/api/v2/tickets/{ticket['id']}.json",
        json={"ticket": {"priority": "urgent", "safe_update": True, "updated_stamp": stamp}},
    )
    assert first.status_code == 200
    updated = first.json()["ticket"]
    assert updated["priority"] == "urgent" and updated["updated_at"] != stamp
    change = first.json()["audit"]["events"][0]
    assert change["type"] == "Change" and change["field_name"] == "priority"
    # The same stale stamp again: somebody (we) changed the ticket meanwhile.
    stale = w.put(
        f"/api/v2/tickets/{ticket['id']}.json",
        json={"ticket": {"status": "solved", "safe_update": "true", "updated_stamp": stamp}},
    )
    assert stale.status_code == 409 and stale.json() == CONFLICT
    assert _state(wsim, ticket["id"])["status"] == "open"


def test_comment_is_appended_once_with_its_marker_and_author(
    wsim: SimHandle, w: httpx.Client
) -> None:
    ticket = _open_ticket(w)
    before = _state(wsim, ticket["id"])["message_count"]
    response = w.put(
        f"/api/v2/tickets/{ticket['id']}.json",
        headers={"Idempotency-Key": "mut-123"},
        json={"ticket": {"comment": {"body": "Checking <b>now</b>", "public": False},
                         "metadata": {"agentdesk_mutation": "mut-123"},
                         "safe_update": True, "updated_stamp": ticket["updated_at"]}},
    )  # fmt: skip
    assert response.status_code == 200
    event = response.json()["audit"]["events"][0]
    assert event["type"] == "Comment" and event["public"] is False
    state = _state(wsim, ticket["id"])
    assert state["message_count"] == before + 1
    last = state["messages"][-1]
    assert last["marker"] == "mut-123" and last["body"] == "Checking <b>now</b>"
    me = w.get("/api/v2/users/me.json").json()["user"]["id"]
    assert last["author_id"] == me and last["public"] is False
    assert state["writes"][-1]["marker"] == "mut-123"
    comments = w.get(f"/api/v2/tickets/{ticket['id']}/comments.json").json()["comments"]
    assert comments[-1]["id"] == event["id"]
    assert comments[-1]["metadata"]["custom"] == {"agentdesk_mutation": "mut-123"}
    assert "&lt;b&gt;" in comments[-1]["html_body"]  # customer-safe: the text is escaped


def test_create_with_idempotency_key_replays_and_refuses_a_different_body(
    wsim: SimHandle, w: httpx.Client
) -> None:
    body = {"ticket": {"subject": "Printer on fire", "comment": {"body": "Help!"},
                       "requester": {"name": "Ada", "email": "ada@example.org"}}}  # fmt: skip
    headers = {"Idempotency-Key": "create-1"}
    first = w.post("/api/v2/tickets.json", json=body, headers=headers)
    assert first.status_code == 201 and first.headers["x-idempotency-lookup"] == "miss"
    again = w.post("/api/v2/tickets.json", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["x-idempotency-lookup"] == "hit"
    assert again.json() == first.json()
    other = w.post("/api/v2/tickets.json", json={"ticket": {**body["ticket"], "subject": "x"}},
                   headers=headers)  # fmt: skip
    assert other.status_code == 400 and other.json()["error"] == "IdempotentRequestError"
    created = first.json()["ticket"]
    state = _state(wsim, created["id"])
    assert state["message_count"] == 1 and state["messages"][0]["marker"] == "create-1"
    assert created["status"] == "new" and created["subject"] == "Printer on fire"
    requester = w.get(f"/api/v2/users/{created['requester_id']}.json").json()["user"]
    assert requester["email"] == "ada@example.org"


def test_tags_are_added_and_removed_as_sets_with_safe_update(
    wsim: SimHandle, w: httpx.Client
) -> None:
    ticket = _open_ticket(w)
    path = f"/api/v2/tickets/{ticket['id']}/tags.json"
    added = w.put(path, json={"tags": ["Escalated", "vip"]})
    assert added.status_code == 200
    assert {"escalated", "vip"} <= set(added.json()["tags"])
    assert added.json()["tags"].count("vip") == 1
    removed = w.request("DELETE", path, json={"tags": ["escalated"]})
    assert removed.status_code == 200 and "escalated" not in removed.json()["tags"]
    stale = w.put(path, json={"tags": ["x"], "safe_update": True,
                              "updated_stamp": ticket["updated_at"]})  # fmt: skip
    assert stale.status_code == 409 and stale.json() == CONFLICT
    assert "x" not in _state(wsim, ticket["id"])["tags"]


def test_invalid_values_unknown_tickets_and_closed_tickets(w: httpx.Client) -> None:
    ticket = _open_ticket(w)
    url = f"/api/v2/tickets/{ticket['id']}.json"
    for bad in ({"status": "done"}, {"priority": "asap"}, {"assignee_id": 42},
                {"comment": {"body": "  "}}):  # fmt: skip
        response = w.put(url, json={"ticket": bad})
        assert response.status_code == 422, bad
        body = response.json()
        assert (
            body["error"] == "RecordInvalid" and body["description"] == "Record validation errors"
        )
        assert body["details"]
    assert w.put("/api/v2/tickets/999999.json", json={"ticket": {}}).status_code == 404
    assert w.put(url, json={"nope": 1}).status_code == 400
    closed = w.get("/api/v2/search.json", params={"query": "status:closed"}).json()["results"][0]
    refused = w.put(f"/api/v2/tickets/{closed['id']}.json", json={"ticket": {"status": "open"}})
    assert refused.status_code == 422


def test_assigning_moves_the_group_and_solving_unassigned_assigns_the_solver(
    wsim: SimHandle, w: httpx.Client
) -> None:
    state = httpx.get(f"{wsim.base_url}/_sim/state", params={"messages": "0"}).json()
    new = next(c for c in state["conversations"] if c["status"] == "new" and not c["assignee_id"])
    me = w.get("/api/v2/users/me.json").json()["user"]
    solved = w.put(f"/api/v2/tickets/{new['id']}.json", json={"ticket": {"status": "solved"}})
    assert solved.status_code == 200
    assert solved.json()["ticket"]["assignee_id"] == me["id"]
    other = next(a for a in state["agents"] if a["id"] != me["id"] and a["role"] == "agent")
    moved = w.put(
        f"/api/v2/tickets/{new['id']}.json", json={"ticket": {"assignee_email": other["email"]}}
    ).json()["ticket"]
    assert moved["assignee_id"] == other["id"]
    members = w.get("/api/v2/group_memberships.json", params={"user_id": other["id"]}).json()
    assert moved["group_id"] in {m["group_id"] for m in members["group_memberships"]}


def test_an_agent_token_may_write_but_not_export(agent_sim: SimHandle) -> None:
    with client_for(agent_sim) as client:
        t = _open_ticket(client)
        done = client.put(f"/api/v2/tickets/{t['id']}.json", json={"ticket": {"priority": "high"}})
        assert done.status_code == 200
        export = client.get("/api/v2/incremental/tickets/cursor.json", params={"start_time": 0})
        assert export.status_code == 403
