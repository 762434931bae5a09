"""The Zendesk dialect over real loopback HTTP: auth, pagination, export, search, control API."""

from __future__ import annotations

import base64
from collections import Counter

import httpx

from agentdesk.sim.server import SimHandle
from tests.sim.conftest import SCALE, client_for

EXPORT = "/api/v2/incremental/tickets/cursor.json"


# ------------------------------------------------------------------ auth
def test_missing_or_wrong_credentials_get_zendesk_401(sim: SimHandle) -> None:
    url = f"{sim.base_url}/api/v2/users/me.json"
    for auth in (None, (f"{sim.user}/token", "wrong"), ("nobody@example.com/token", sim.token),
                 (sim.user, sim.token)):  # fmt: skip
        response = httpx.get(url, auth=auth)
        assert response.status_code == 401, auth
        assert response.json() == {"error": "Couldn't authenticate you"}
    garbled = httpx.get(url, headers={"Authorization": "Basic !!!not-base64"})
    assert garbled.status_code == 401


def test_token_signs_in_as_the_admin_agent(api: httpx.Client, sim: SimHandle) -> None:
    me = api.get("/api/v2/users/me.json").json()["user"]
    assert me["email"] == sim.user and me["role"] == "admin"


def test_agent_token_is_refused_the_export_but_may_search(agent_sim: SimHandle) -> None:
    with client_for(agent_sim) as client:
        assert client.get("/api/v2/users/me.json").json()["user"]["role"] == "agent"
        refused = client.get(EXPORT, params={"start_time": 0})
        assert refused.status_code == 403
        assert refused.json()["error"] == "Forbidden"
        assert refused.json()["description"].startswith("You do not have access to this page")
        found = client.get("/api/v2/search.json", params={"query": "type:ticket status<solved"})
        assert found.status_code == 200 and found.json()["count"] > 0


def test_tokens_are_not_echoed_in_repr(sim: SimHandle) -> None:
    assert sim.token not in repr(sim) and sim.token not in repr(sim.credentials)


# ------------------------------------------------------------------ incremental export
def _walk_export(client: httpx.Client, params: dict[str, object]) -> tuple[list[dict], str]:
    tickets: list[dict] = []
    page = client.get(EXPORT, params=params).json()
    pages = 1
    while True:
        tickets.extend(page["tickets"])
        assert page["after_cursor"]
        if page["end_of_stream"]:
            return tickets, page["after_cursor"]
        page = client.get(page["after_url"]).json()
        pages += 1
        assert pages < 1000


def test_export_walk_returns_every_ticket_exactly_once_in_update_order(
    sim: SimHandle, api: httpx.Client
) -> None:
    # Move past the minute the export holds back, so that every ticket is due.
    httpx.post(f"{sim.base_url}/_sim/clock", json={"advance_seconds": 120})
    tickets, _cursor = _walk_export(api, {"start_time": 0, "per_page": 100})
    ids = [t["id"] for t in tickets]
    assert Counter(ids).most_common(1)[0][1] == 1
    assert len(ids) == SCALE
    stamps = [t["generated_timestamp"] for t in tickets]
    assert stamps == sorted(stamps)


def test_export_sideloads_the_users_and_groups_a_page_mentions(api: httpx.Client) -> None:
    page = api.get(EXPORT, params={"start_time": 0, "per_page": 50, "include": "users,groups"})
    body = page.json()
    users = {u["id"] for u in body["users"]}
    groups = {g["id"] for g in body["groups"]}
    for t in body["tickets"]:
        assert t["requester_id"] in users
        assert t["assignee_id"] is None or t["assignee_id"] in users
        assert t["group_id"] is None or t["group_id"] in groups


def test_export_page_size_defaults_to_and_is_capped_at_1000(api: httpx.Client) -> None:
    assert len(api.get(EXPORT, params={"start_time": 0}).json()["tickets"]) == 1000
    assert len(api.get(EXPORT, params={"start_time": 0, "per_page": 5000}).json()["tickets"]) == (
        1000
    )


def test_export_resumes_from_its_cursor_and_holds_back_the_last_minute(
    sim: SimHandle, api: httpx.Client
) -> None:
    _tickets, cursor = _walk_export(api, {"start_time": 0, "per_page": 500})
    nothing = api.get(EXPORT, params={"cursor": cursor}).json()
    assert nothing["tickets"] == [] and nothing["end_of_stream"] is True
    assert nothing["after_cursor"] == cursor  # poll again from the same place

    httpx.post(f"{sim.base_url}/_sim/clock", json={"freeze": True})
    ticket = sim.world.tickets[7]
    sim.world.touch(ticket)  # a change made right now...
    fresh = api.get(EXPORT, params={"cursor": cursor}).json()
    assert fresh["tickets"] == []  # ...is held back for a minute, as Zendesk does
    httpx.post(f"{sim.base_url}/_sim/clock", json={"advance_seconds": 61, "freeze": False})
    later = api.get(EXPORT, params={"cursor": cursor}).json()
    assert [t["id"] for t in later["tickets"]] == [7]
    assert later["end_of_stream"] is True


def test_export_rejects_a_start_time_within_the_last_minute_and_bad_cursors(
    sim: SimHandle, api: httpx.Client
) -> None:
    now = int(httpx.get(f"{sim.base_url}/_sim/clock").json()["timestamp"])
    too_recent = api.get(EXPORT, params={"start_time": now})
    assert too_recent.status_code == 400
    assert api.get(EXPORT).status_code == 400
    assert api.get(EXPORT, params={"cursor": "%%%"}).status_code == 400


def test_export_cursor_looks_like_zendesks(api: httpx.Client) -> None:
    body = api.get(EXPORT, params={"start_time": 0, "per_page": 3}).json()
    decoded = base64.b64decode(body["after_cursor"]).decode()
    last = body["tickets"][-1]
    assert decoded == f"{last['generated_timestamp']}.0||{last['id']}|"


# ------------------------------------------------------------------ list endpoints
def test_ticket_list_cursor_walk_sees_every_ticket_once(api: httpx.Client) -> None:
    ids: list[int] = []
    url: str | None = "/api/v2/tickets.json?page[size]=100"
    while url:
        body = api.get(url).json()
        ids.extend(t["id"] for t in body["tickets"])
        url = body["links"]["next"] if body["meta"]["has_more"] else None
    assert ids == sorted(set(ids)) and len(ids) == SCALE


def test_previous_page_link_goes_back(api: httpx.Client) -> None:
    first = api.get("/api/v2/tickets.json", params={"page[size]": 10}).json()
    second = api.get(first["links"]["next"]).json()
    back = api.get(second["links"]["prev"]).json()
    assert [t["id"] for t in back["tickets"]] == [t["id"] for t in first["tickets"]]


def test_offset_pagination_reports_count_and_next_page(api: httpx.Client) -> None:
    body = api.get("/api/v2/tickets.json", params={"per_page": 100, "page": 2}).json()
    assert body["count"] == SCALE
    assert [t["id"] for t in body["tickets"]][:2] == [101, 102]
    assert body["next_page"].endswith("page=3") and body["previous_page"].endswith("page=1")


def test_comment_walk_of_a_long_thread_sees_every_comment_once(
    sim: SimHandle, api: httpx.Client
) -> None:
    ticket = max(sim.world.tickets.values(), key=lambda t: t.n_generated)
    assert ticket.n_generated >= 100
    seen: list[int] = []
    url: str | None = f"/api/v2/tickets/{ticket.id}/comments.json?page[size]=25&include=users"
    while url:
        body = api.get(url).json()
        seen.extend(c["id"] for c in body["comments"])
        authors = {u["id"] for u in body["users"]}
        assert all(c["author_id"] in authors for c in body["comments"])
        url = body["links"]["next"] if body["meta"]["has_more"] else None
    assert len(seen) == len(set(seen)) == ticket.n_generated


def test_comments_carry_zendesk_fields(sim: SimHandle, api: httpx.Client) -> None:
    email = next(t for t in sim.world.tickets.values() if t.channel == "email")
    comments = api.get(f"/api/v2/tickets/{email.id}/comments.json").json()["comments"]
    first = comments[0]
    assert first["author_id"] == email.requester_id
    assert first["html_body"].startswith("<div") and first["plain_body"] == first["body"]
    assert first["via"]["channel"] == "email"
    assert first["created_at"].endswith("Z")
    ticket = api.get(f"/api/v2/tickets/{email.id}.json").json()["ticket"]
    assert ticket["description"] == first["body"]


def test_users_filter_by_role_and_requested_tickets(sim: SimHandle, api: httpx.Client) -> None:
    staff = api.get("/api/v2/users.json?role[]=agent&role[]=admin&page[size]=100").json()
    roles = Counter(u["role"] for u in staff["users"])
    assert roles["admin"] == 2 and roles["agent"] >= 10
    requester = Counter(t.requester_id for t in sim.world.tickets.values()).most_common(1)[0]
    body = api.get(f"/api/v2/users/{requester[0]}/tickets/requested.json").json()
    assert len(body["tickets"]) == min(100, requester[1])
    assert {t["requester_id"] for t in body["tickets"]} == {requester[0]}


def test_groups_and_memberships(api: httpx.Client) -> None:
    groups = api.get("/api/v2/groups.json").json()["groups"]
    assert len(groups) == 4
    memberships = api.get("/api/v2/group_memberships.json?page[size]=100").json()
    assert {m["group_id"] for m in memberships["group_memberships"]} == {g["id"] for g in groups}


def test_missing_records_and_endpoints_answer_like_zendesk(api: httpx.Client) -> None:
    missing = api.get("/api/v2/tickets/99999999.json")
    assert missing.status_code == 404
    assert missing.json() == {"error": "RecordNotFound", "description": "Not found"}
    assert api.get("/api/v2/users/1.json").status_code == 404
    assert api.get("/api/v2/no_such_thing.json").json()["error"] == "InvalidEndpoint"


# ------------------------------------------------------------------ search
def test_search_updated_since_ascending_walks_in_order(sim: SimHandle, api: httpx.Client) -> None:
    cutoff = sorted(t.updated_at for t in sim.world.tickets.values())[-250]
    from agentdesk.sim.zendesk import iso

    params = {"query": f"type:ticket updated>{iso(cutoff)}", "sort_by": "updated_at",
              "sort_order": "asc", "per_page": 100}  # fmt: skip
    found: list[dict] = []
    url: str | None = "/api/v2/search.json"
    body = api.get(url, params=params).json()
    while True:
        found.extend(body["results"])
        if not body["next_page"]:
            break
        body = api.get(body["next_page"]).json()
    expected = sorted(
        (t.updated_at, t.id) for t in sim.world.tickets.values() if t.updated_at > cutoff
    )
    assert [r["id"] for r in found] == [tid for _u, tid in expected]
    assert all(r["result_type"] == "ticket" for r in found)
    assert body["count"] == len(expected)


def test_search_stops_at_1000_results_with_422(api: httpx.Client) -> None:
    body = api.get("/api/v2/search.json", params={"query": "type:ticket", "page": 10}).json()
    assert body["count"] == SCALE and body["next_page"] is None
    past = api.get("/api/v2/search.json", params={"query": "type:ticket", "page": 11})
    assert past.status_code == 422


def test_search_filters_by_status_and_requester(sim: SimHandle, api: httpx.Client) -> None:
    open_count = sum(1 for t in sim.world.tickets.values() if t.status in ("new", "open"))
    body = api.get("/api/v2/search.json", params={"query": "type:ticket status<pending"}).json()
    assert body["count"] == open_count
    ticket = sim.world.tickets[3]
    email = sim.world.users[ticket.requester_id].email
    if email:
        body = api.get("/api/v2/search.json", params={"query": f"requester:{email}"}).json()
        assert 3 in {r["id"] for r in body["results"]}


# ------------------------------------------------------------------ control API and speed
def test_clock_can_be_frozen_set_and_advanced(sim: SimHandle) -> None:
    clock = f"{sim.base_url}/_sim/clock"
    frozen = httpx.post(clock, json={"freeze": True, "set": "2025-06-03T00:00:00Z"}).json()
    assert frozen["frozen"] is True and frozen["now"].startswith("2025-06-03T00:00:00")
    assert httpx.get(clock).json()["now"] == frozen["now"]
    moved = httpx.post(clock, json={"advance_seconds": 90}).json()
    assert moved["now"].startswith("2025-06-03T00:01:30")
    assert httpx.post(clock, json={"advance_seconds": -5}).status_code == 400
    httpx.post(clock, json={"freeze": False})


def test_state_lists_conversations_with_messages(sim: SimHandle) -> None:
    state = httpx.get(f"{sim.base_url}/_sim/state", params={"ids": "1,2"}).json()
    assert state["dialect"] == "zendesk" and len(state["agents"]) == 12
    assert [c["id"] for c in state["conversations"]] == [1, 2]
    first = state["conversations"][0]
    assert len(first["messages"]) == first["message_count"] >= 1
    light = httpx.get(f"{sim.base_url}/_sim/state", params={"messages": "0"}).json()
    assert len(light["conversations"]) == SCALE and "messages" not in light["conversations"][0]


def test_small_responses_are_not_delayed_by_nagle(api: httpx.Client) -> None:
    import time

    api.get("/api/v2/users/me.json")
    started = time.perf_counter()
    for _ in range(10):
        api.get("/api/v2/users/me.json")
    # Without TCP_NODELAY each small response waits ~40 ms for a delayed ACK.
    assert (time.perf_counter() - started) / 10 < 0.02
