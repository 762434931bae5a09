"""Every connector against a hostile backend (`hostile.py`): one misbehaviour per mode, on the
writes of a queued reply and on the reads of a sync round, then the backend heals.

After every adversarial sync: it returned (within seconds), no change is left in `sending`,
no next attempt lies beyond the push cap, the error is one clean sentence (never
"unexpected"), memory stayed bounded; once healthy, the queued reply arrives exactly once.
Small caps keep it fast: a 3 s deadline, a 1 MiB body cap, waits of at most 0.5 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import resource
import time
import uuid
from datetime import timedelta

import pytest

from agentdesk.connectors.base import (
    BackendError,
    Connector,
    ConnectorError,
    MalformedResponse,
    RateLimited,
)
from agentdesk.connectors.http import ApiClient, Unreachable
from agentdesk.sanitize import clean
from agentdesk.store import Store
from agentdesk.sync.engine import AccountSyncResult, SyncEngine
from agentdesk.sync.push import MAX_BACKOFF_SECONDS
from agentdesk.timeutil import from_iso, utcnow
from tests.adversarial.hostile import HOSTILE_TEXT, HostileBackend, hostile_in_front_of
from tests.connectors.backends import BackendHandle
from tests.connectors.test_behaviour import (  # noqa: F401 - fixtures
    backend,
    needs_writes,
    open_conversations,
    store,
)

CAPS = {
    "request_deadline": 3.0, "max_body_bytes": 1024 * 1024, "max_wait": 0.5,
    "backoff_base": 0.001, "backoff_max": 0.005, "max_attempts": 3,
}  # fmt: skip
ROUND_LIMIT = 15.0
"""Seconds one adversarial sync may take at most: a hang fails the test instead."""
RSS_GROWTH_LIMIT_MB = 200

# (mode, value): what the backend does; on which side it is tried.
ON_WRITES = [
    ("retry_after", "1e11"),
    ("retry_after", "inf"),
    ("retry_after", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ("retry_after", "0"),
    ("retry_after", "-5"),
    ("unavailable", "1e9"),
    ("remaining", "-1"),
    ("trickle", ""),
    ("silent", ""),
]
ON_READS = [
    *ON_WRITES,
    ("huge", ""),
    ("gzip_bomb", ""),
    ("deep_json", ""),
    ("client_error", ""),
    ("escapes", ""),
]


def tightened(connector: Connector) -> Connector:
    """The connector with the test's small caps (every connector holds one ApiClient)."""
    for value in vars(connector).values():
        if isinstance(value, ApiClient):
            value.policy = dataclasses.replace(value.policy, **CAPS)
            return connector
    raise AssertionError(f"{type(connector).__name__} holds no ApiClient")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def assert_invariants(store: Store, result: AccountSyncResult, rss_before: float) -> None:
    assert store.conn.execute("SELECT count(*) FROM outbox WHERE state = 'sending'").fetchone()[
        0
    ] == 0, "a change was left in `sending`"
    latest = utcnow() + timedelta(seconds=MAX_BACKOFF_SECONDS + 5)
    for (when,) in store.conn.execute(
        "SELECT next_attempt_at FROM outbox WHERE next_attempt_at IS NOT NULL"
    ):
        assert from_iso(when) <= latest, f"next attempt parked at {when}"
    if result.error:
        assert "failed unexpectedly" not in result.error, result.error  # a traceback's words
        assert clean(result.error) == result.error, result.error
        assert "\n" not in result.error
    assert peak_rss_mb() - rss_before < RSS_GROWTH_LIMIT_MB


async def one_round(
    backend: BackendHandle, store: Store, connector: Connector, *, later: bool = False
) -> AccountSyncResult:
    engine = SyncEngine(store, {backend.settings.name: connector})
    if later:  # every back-off within the cap is over
        engine.pusher.now = lambda: utcnow() + timedelta(seconds=MAX_BACKOFF_SECONDS + 1)
    return await asyncio.wait_for(engine.sync_account(backend.settings.name), ROUND_LIMIT)


@pytest.fixture
def hostile(backend: BackendHandle):
    with hostile_in_front_of(backend.settings.base_url) as proxy:
        backend.faults.route_through = proxy.url
        try:
            yield proxy
        finally:
            backend.faults.route_through = None


@pytest.mark.parametrize(("mode", "value"), ON_WRITES, ids=[f"{m}={v}" for m, v in ON_WRITES])
async def test_a_reply_sent_into_a_hostile_backend_arrives_once_it_heals(
    backend: BackendHandle, store: Store, hostile: HostileBackend, mode: str, value: str
):
    needs_writes(backend)
    connector = tightened(backend.connector())
    try:
        backend.settle()
        assert (await one_round(backend, store, connector)).ok
        ((cid, external_id),) = open_conversations(store)
        text = f"Hostile round {mode} {uuid.uuid4().hex[:8]}"
        store.queue(cid, "reply", {"text": text})
        rss = peak_rss_mb()
        hostile.plan(mode, value, times=10, writes_only=True)
        result = await one_round(backend, store, connector)
        assert hostile.injected.get(mode), "the misbehaviour never happened"
        assert_invariants(store, result, rss)

        hostile.clear()
        backend.settle()
        healed = await one_round(backend, store, connector, later=True)
        assert healed.ok, healed.error
        assert backend.oracle(external_id).count(text) == 1
        assert [m.state for m in store.mutations()] == ["applied"]
    finally:
        await connector.aclose()


@pytest.mark.parametrize(("mode", "value"), ON_READS, ids=[f"{m}={v}" for m, v in ON_READS])
async def test_a_sync_round_against_a_hostile_backend_ends_in_a_sentence_or_records(
    backend: BackendHandle, store: Store, hostile: HostileBackend, mode: str, value: str
):
    connector = tightened(backend.connector())
    try:
        rss = peak_rss_mb()
        # "Now" (0, -5) twice: the third attempt, after a back-off, gets through.
        times = 1000 if mode == "escapes" else 2 if value in ("0", "-5") else 3
        hostile.plan(mode, value, times=times, reads_only=True)
        result = await one_round(backend, store, connector)
        assert hostile.injected.get(mode), "the misbehaviour never happened"
        assert_invariants(store, result, rss)
        if mode in ("remaining", "escapes") or value in ("0", "-5"):
            assert result.ok, result.error  # slowed down, or odd text: still a sync
        else:
            assert not result.ok and result.error
        if mode == "escapes":
            stored = store.conn.execute("SELECT group_concat(subject, '') FROM conversations")
            assert "PWNTITLE" in stored.fetchone()[0]  # kept as data; shown only cleaned
        hostile.clear()
        backend.settle()
        healed = await one_round(backend, store, connector)
        assert healed.ok, healed.error
    finally:
        await connector.aclose()


def test_the_hostile_text_is_what_the_sanitizer_must_change() -> None:
    assert clean(HOSTILE_TEXT) != HOSTILE_TEXT and "\x1b" not in clean(HOSTILE_TEXT)


# ---------------------------------------------------------------- the policy, one mode at a time
class RecordedSleep:
    """The pauses the policy takes, without sleeping through them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def lone_hostile():
    with hostile_in_front_of("http://127.0.0.1:9") as proxy:  # nothing is ever forwarded
        yield proxy


def policy_client(proxy: HostileBackend, sleep: RecordedSleep, **policy: float) -> ApiClient:
    from agentdesk.connectors.base import AccountSettings
    from agentdesk.connectors.http import HttpPolicy

    settings = AccountSettings("acme", "zendesk", proxy.url, "agent@acme.example")
    return ApiClient(settings, vendor="Zendesk", policy=HttpPolicy(**policy), sleep=sleep)


async def test_a_retry_after_of_zero_or_less_still_backs_off_exponentially(lone_hostile):
    sleep = RecordedSleep()
    api = policy_client(lone_hostile, sleep, backoff_base=0.5, max_attempts=4)
    lone_hostile.plan("retry_after", "0", times=2)
    lone_hostile.plan("retry_after", "-5", times=1)
    lone_hostile.plan("deep_json", times=1)  # the fourth attempt: three waits came first
    try:
        with pytest.raises(MalformedResponse):
            await api.get_json("/api/v2/users/me.json", action="check who is signed in")
    finally:
        await api.aclose()
    assert len(sleep.waits) == 3
    assert [w >= floor for w, floor in zip(sleep.waits, (0.25, 0.5, 1.0))] == [True] * 3


@pytest.mark.parametrize(
    ("mode", "value", "error"),
    [
        ("retry_after", "1e11", RateLimited),
        ("retry_after", "inf", RateLimited),
        ("retry_after", "Fri, 31 Dec 9999 23:59:59 GMT", RateLimited),
        ("unavailable", "1e9", BackendError),
    ],
)
async def test_a_wait_beyond_the_cap_fails_at_once_and_names_the_cap(
    lone_hostile, mode, value, error
):
    sleep = RecordedSleep()
    api = policy_client(lone_hostile, sleep)
    lone_hostile.plan(mode, value, times=10)
    try:
        with pytest.raises(error) as info:
            await api.get_json("/api/v2/groups.json", action="list groups")
    finally:
        await api.aclose()
    assert sleep.waits == []  # not one maximum-length pause, let alone five
    message = str(info.value)
    assert "more than the 120 s agentdesk waits at most" in message, message
    assert lone_hostile.injected[mode] == 1


@pytest.mark.parametrize("mode", ["trickle", "silent"])
async def test_a_trickling_or_silent_server_fails_within_the_deadline(lone_hostile, mode):
    sleep = RecordedSleep()
    api = policy_client(lone_hostile, sleep, request_deadline=1.0)  # read timeout stays 30 s
    lone_hostile.plan(mode, times=10)
    started = time.monotonic()
    try:
        with pytest.raises(Unreachable, match="did not finish answering .* within 1 s"):
            await api.get_json("/api/v2/groups.json", action="list groups")
    finally:
        await api.aclose()
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("mode", "words"),
    [("huge", "with more than 1 MB"), ("gzip_bomb", "with more than 1 MB"),
     ("deep_json", "JSON nested too deeply")],
)  # fmt: skip
async def test_an_oversized_or_absurdly_nested_answer_is_one_sentence(lone_hostile, mode, words):
    sleep = RecordedSleep()
    api = policy_client(lone_hostile, sleep, max_body_bytes=1024 * 1024)
    lone_hostile.plan(mode)
    rss = peak_rss_mb()
    try:
        with pytest.raises(MalformedResponse, match=words) as info:
            await api.get_json("/api/v2/groups.json", action="list groups")
    finally:
        await api.aclose()
    assert "\n" not in str(info.value)
    assert peak_rss_mb() - rss < 64  # the bomb's 256 MiB were never held


async def test_a_servers_error_text_reaches_the_sentence_cleaned(lone_hostile):
    api = policy_client(lone_hostile, RecordedSleep())
    lone_hostile.plan("client_error")
    try:
        with pytest.raises(ConnectorError) as info:
            await api.get_json("/api/v2/groups.json", action="list groups")
    finally:
        await api.aclose()
    message = str(info.value)
    assert "PWNTITLE" in message and clean(message) == message
