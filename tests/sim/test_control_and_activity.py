"""The dialect-neutral control API (/_sim/inbound, /_sim/act) and live activity."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from agentdesk.sim.server import SimHandle, start_in_thread
from agentdesk.sim.world import generate_world
from tests.sim.conftest import NOW, client_for


@pytest.fixture(scope="module")
def csim() -> Iterator[SimHandle]:
    with start_in_thread("zendesk", seed=41, scale=200, now=NOW) as handle:
        yield handle


def _post(sim: SimHandle, path: str, **body: object) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/_sim/{path}", json=body)


def test_inbound_creates_a_conversation_then_appends_to_it(csim: SimHandle) -> None:
    first = _post(csim, "inbound", channel="sms", customer_email="New.Person@example.org",
                  customer_name="New Person", subject="", text="<b>hi</b> 届きません")  # fmt: skip
    assert first.status_code == 201 and first.json()["created"] is True
    cid = first.json()["conversation_id"]
    again = _post(csim, "inbound", channel="sms", customer_email="new.person@example.org",
                  subject="", text="still waiting", conversation_id=cid)  # fmt: skip
    assert again.json()["created"] is False
    assert again.json()["customer_id"] == first.json()["customer_id"]  # matched by email
    with client_for(csim) as api:
        ticket = api.get(f"/api/v2/tickets/{cid}.json").json()["ticket"]
        assert ticket["via"]["channel"] == "sms"
        comments = api.get(f"/api/v2/tickets/{cid}/comments.json").json()["comments"]
    assert [c["body"] for c in comments] == ["<b>hi</b> 届きません", "still waiting"]
    assert (
        _post(csim, "inbound", channel="fax", customer_email="a@b.c", text="x").status_code == 422
    )


def test_act_as_a_supervisor_reassigns_and_the_agent_sees_a_conflict(csim: SimHandle) -> None:
    with client_for(csim) as api:
        ticket = api.get("/api/v2/search.json", params={"query": "status:open"}).json()
        ticket = ticket["results"][0]
        state = httpx.get(f"{csim.base_url}/_sim/state", params={"messages": "0"}).json()
        other = next(a for a in state["agents"] if a["id"] != ticket["assignee_id"]
                     and a["role"] == "agent" and a["email"] != csim.user)  # fmt: skip
        acted = _post(csim, "act", conversation_id=ticket["id"], assign=other["email"],
                      status="pending", note="taking this over", marker="sup-1")  # fmt: skip
        assert acted.status_code == 200
        row = acted.json()["conversation"]
        assert row["assignee_id"] == other["id"] and row["status"] == "pending"
        assert row["writes"][-1]["source"] == "control"
        stale = api.put(f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {
            "status": "solved", "safe_update": True, "updated_stamp": ticket["updated_at"]}})  # fmt: skip
        assert stale.status_code == 409
    assert _post(csim, "act", conversation_id=ticket["id"], assign="nobody@x.y").status_code == 422
    assert _post(csim, "act", conversation_id=10**9, status="open").status_code == 404


def test_activity_is_deterministic_and_follows_the_simulated_clock() -> None:
    def run() -> list[tuple[str, int]]:
        with start_in_thread("zendesk", seed=8, scale=300, now=NOW, activity=6) as sim:
            _post(sim, "clock", freeze=True)
            start = len(sim.world.tickets)
            _post(sim, "clock", advance_seconds=600)  # ten simulated minutes, ~60 events
            events = httpx.get(f"{sim.base_url}/_sim/activity").json()
            assert len(sim.world.tickets) > start  # new conversations arrived
            return [(e["kind"], e["conversation_id"]) for e in events["recent"]]

    first = run()
    assert 30 <= len(first) <= 100
    kinds = Counter(kind for kind, _ in first)
    assert {"new_conversation", "customer_followup", "agent_reply", "supervisor_reassign"} <= set(
        kinds
    )
    assert first == run()


def test_a_clock_jump_plays_its_events_when_they_fell_due_never_in_the_future() -> None:
    # Stamped at the end of the jump (and a busy conversation's writes pushed a second apart
    # past the clock), the events hid what they touched from the export for over a minute.
    with start_in_thread("zendesk", seed=8, scale=150, now=NOW, activity=20) as sim:
        before = _post(sim, "clock", freeze=True).json()["timestamp"]
        after = _post(sim, "clock", advance_seconds=120).json()["timestamp"]
        recent = httpx.get(f"{sim.base_url}/_sim/activity").json()["recent"]  # the last 50
        stamps = [e["at"] for e in recent if e["at"] > before]
        assert 20 <= len(stamps) < 50
        assert stamps == sorted(stamps)
        assert min(stamps) < before + 30 and max(stamps) > after - 30  # spread over the jump
        world = sim.world
        assert max(t.updated_at for t in world.tickets.values()) <= after
        newest = [t for t in world.tickets.values() if t.updated_at > before]
        assert any(t.updated_at <= after - 60 for t in newest)  # the export sees them now


def test_activity_rate_changes_at_runtime_and_a_frozen_clock_stops_it(csim: SimHandle) -> None:
    _post(csim, "clock", freeze=True)
    _post(csim, "activity", rate=30)
    before = httpx.get(f"{csim.base_url}/_sim/activity").json()["events"]
    assert httpx.get(f"{csim.base_url}/_sim/activity").json()["events"] == before
    _post(csim, "clock", advance_seconds=60)
    after = _post(csim, "activity", rate=0).json()["events"]
    assert after > before
    _post(csim, "clock", freeze=False)


def test_control_api_refuses_non_json_and_unknown_routes(csim: SimHandle) -> None:
    bad = httpx.post(f"{csim.base_url}/_sim/act", content=b"not json")
    assert bad.status_code == 400
    assert httpx.get(f"{csim.base_url}/_sim/nope").status_code == 404
    assert _post(csim, "faults", spec="boom=1").status_code == 400


def test_demo_backlog_is_recent_and_wide() -> None:
    world = generate_world(11, 1500, now=NOW)
    now = world.now
    open_ish = [t for t in world.tickets.values() if t.status in ("new", "open", "pending", "hold")]
    assert len(open_ish) >= 250
    assert len({t.channel for t in open_ish}) >= 4
    assert sorted(now - t.created_at for t in open_ish)[len(open_ish) // 2] < 4 * 86400
    old = [t for t in world.tickets.values() if now - t.created_at > 28 * 86400]
    assert sum(t.status in ("solved", "closed") for t in old) > 0.95 * len(old)
    hot = [t for t in open_ish if t.priority in ("high", "urgent") and t.status in ("new", "open")
           and now - t.created_at < 6 * 3600]  # fmt: skip
    assert len(hot) >= 5
    channels: dict[int, set[str]] = {}
    for t in world.tickets.values():
        person = world.users[t.requester_id].person
        if person is not None:
            channels.setdefault(person, set()).add(t.channel)
    assert sum(len(c) >= 2 for c in channels.values()) >= 10


@pytest.mark.parametrize("dialect", ["freshdesk", "chatwoot"])
def test_every_dialect_is_served_with_the_shared_control_api(dialect: str) -> None:
    with start_in_thread(dialect, seed=3, scale=80, now=NOW) as sim:
        created = _post(sim, "inbound", channel="email", customer_email="x@example.org",
                        subject="Hello", text="where is my order")  # fmt: skip
        cid = created.json()["conversation_id"]
        if dialect == "freshdesk":
            seen = httpx.get(f"{sim.base_url}/api/v2/tickets/{cid}", auth=(sim.token, "X"))
        else:
            assert sim.account_id == 1
            seen = httpx.get(
                f"{sim.base_url}/api/v1/accounts/{sim.account_id}/conversations/{cid}",
                headers={"api_access_token": sim.token},
            )
        assert seen.status_code == 200, seen.text


def test_serve_forever_prints_the_chatwoot_account_id() -> None:
    code = (
        "from agentdesk.sim.server import serve_forever; "
        "serve_forever('chatwoot', '127.0.0.1', 0, seed=5, scale=100, role='agent', "
        "faults='latency=1ms', activity=2)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        info = dict(process.stdout.readline().strip().split(": ", 1) for _ in range(4))
        assert list(info) == ["base_url", "user", "token", "account_id"]
        profile = httpx.get(
            f"{info['base_url']}/api/v1/profile", headers={"api_access_token": info["token"]}
        )
        assert profile.status_code == 200 and profile.json()["email"] == info["user"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
