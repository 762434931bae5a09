"""Faults and rate limits, the same middleware for every dialect, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agentdesk.sim.faults import FaultSpec, FaultSpecError
from agentdesk.sim.server import SimHandle, start_in_thread
from tests.sim.conftest import NOW, client_for


@pytest.fixture(scope="module")
def fsim() -> Iterator[SimHandle]:
    with start_in_thread("zendesk", seed=31, scale=150, now=NOW) as handle:
        yield handle


def _control(sim: SimHandle, path: str, **body: object) -> dict:
    response = httpx.post(f"{sim.base_url}/_sim/{path}", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_fault_spec_syntax() -> None:
    spec = FaultSpec.parse("429=0.1, 500=0.05,drop=0.02,timeout=0.01,lost=0.02,latency=50ms")
    assert spec.rates == {"429": 0.1, "500": 0.05, "drop": 0.02, "timeout": 0.01, "lost": 0.02}
    assert spec.latency_ms == 50
    assert FaultSpec.parse("latency=0.2s").latency_ms == 200
    assert FaultSpec.parse(spec.render()).rates == spec.rates
    for bad in ("boom=0.1", "429=2", "drop", "latency=fast", "429=0.6,500=0.6"):
        with pytest.raises(FaultSpecError):
            FaultSpec.parse(bad)


def test_lost_response_still_applies_the_write(fsim: SimHandle) -> None:
    with client_for(fsim) as api:
        ticket = api.get("/api/v2/search.json", params={"query": "status:open"}).json()
        tid = ticket["results"][0]["id"]
        _control(fsim, "faults", spec="lost=1")
        try:
            with pytest.raises(httpx.RemoteProtocolError):
                api.put(
                    f"/api/v2/tickets/{tid}.json",
                    headers={"Idempotency-Key": "lost-1"},
                    json={"ticket": {"comment": {"body": "did this arrive?"}}},
                )
        finally:
            _control(fsim, "faults", spec="")
        state = httpx.get(f"{fsim.base_url}/_sim/state", params={"ids": tid}).json()
        markers = [m["marker"] for m in state["conversations"][0]["messages"]]
        assert markers.count("lost-1") == 1  # applied exactly once, answer never seen


def test_drop_500_and_429_faults_answer_the_vendor_way(fsim: SimHandle) -> None:
    with client_for(fsim) as api:
        try:
            _control(fsim, "faults", spec="drop=1")
            with pytest.raises(httpx.RemoteProtocolError):
                api.get("/api/v2/users/me.json")
            _control(fsim, "faults", spec="500=1")
            assert api.get("/api/v2/users/me.json").status_code == 500
            _control(fsim, "faults", spec="429=1")
            throttled = api.get("/api/v2/users/me.json")
            assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
            # The control API itself is never faulted.
            assert httpx.get(f"{fsim.base_url}/_sim/faults").json()["injected"]["429"] >= 1
        finally:
            _control(fsim, "faults", spec="")
        assert api.get("/api/v2/users/me.json").status_code == 200


def test_timeout_holds_the_request_past_the_client_timeout(fsim: SimHandle) -> None:
    with client_for(fsim) as api:
        _control(fsim, "faults", spec="timeout=1")
        try:
            with pytest.raises(httpx.ReadTimeout):
                api.get("/api/v2/users/me.json", timeout=0.3)
        finally:
            _control(fsim, "faults", spec="")


def test_faults_are_deterministic_per_seed() -> None:
    def outcomes() -> list[int | str]:
        spec = "500=0.3,429=0.2"
        with (
            start_in_thread("zendesk", seed=5, scale=50, now=NOW, faults=spec) as sim,
            client_for(sim) as api,
        ):
            return [api.get("/api/v2/users/me.json").status_code for _ in range(30)]

    first = outcomes()
    assert first == outcomes()
    assert {200, 429, 500} <= set(first)


def test_zendesk_rate_limit_counts_on_the_simulated_clock(fsim: SimHandle) -> None:
    with client_for(fsim) as api:
        _control(fsim, "clock", freeze=True)
        _control(fsim, "ratelimit", per_minute=5)
        try:
            # Start at the top of a simulated minute so the window cannot roll mid-test.
            now = httpx.get(f"{fsim.base_url}/_sim/clock").json()["timestamp"]
            _control(fsim, "clock", advance_seconds=60 - now % 60)
            answers = [api.get("/api/v2/users/me.json") for _ in range(6)]
            assert [a.status_code for a in answers] == [200] * 5 + [429]
            assert answers[0].headers["X-Rate-Limit"] == "5"
            assert answers[4].headers["X-Rate-Limit-Remaining"] == "0"
            assert answers[5].json()["error"] == "APIRateLimitExceeded"
            assert int(answers[5].headers["Retry-After"]) == 60
            _control(fsim, "clock", advance_seconds=30)
            assert int(api.get("/api/v2/users/me.json").headers["Retry-After"]) == 30
            _control(fsim, "clock", advance_seconds=30)  # a new minute, a new budget
            assert api.get("/api/v2/users/me.json").status_code == 200
        finally:
            _control(fsim, "ratelimit", per_minute=None)
            _control(fsim, "clock", freeze=False)


@pytest.mark.parametrize("dialect", ["freshdesk", "chatwoot"])
def test_other_dialects_get_the_rate_limit_in_their_own_style(dialect: str) -> None:
    with start_in_thread(dialect, seed=3, scale=60, now=NOW, rate_limit=2) as sim:
        httpx.post(f"{sim.base_url}/_sim/clock", json={"freeze": True})
        if dialect == "freshdesk":
            client = httpx.Client(base_url=sim.base_url, auth=(sim.token, "X"))
            path = "/api/v2/agents/me"
        else:
            client = httpx.Client(base_url=sim.base_url, headers={"api_access_token": sim.token})
            path = "/api/v1/profile"
        with client:
            answers = [client.get(path) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    if dialect == "freshdesk":
        assert answers[0].headers["X-RateLimit-Total"] == "2"
        assert answers[1].headers["X-RateLimit-Remaining"] == "0"
        assert answers[0].headers["X-RateLimit-Used-CurrentRequest"] == "1"
        assert int(refused.headers["Retry-After"]) >= 1
    else:  # Chatwoot (Rack::Attack): a bare 429, no hint
        assert "retry-after" not in refused.headers
        assert refused.text.strip() == "Retry later"
