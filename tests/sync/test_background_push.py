"""The background runner sends what the agent queues: at once on a nudge, within a poll when
another process queued it, and after reconnecting when it was offline.

Against the Zendesk simulator over loopback; the runner lives in its own thread, as in the app.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Self

import pytest

from agentdesk.connectors.base import AccountSettings, Connector
from agentdesk.connectors.zendesk import ZendeskConnector
from agentdesk.store import Store
from agentdesk.sync import BackgroundSync, sync_once
from agentdesk.syncapi import SyncEvent
from tests.connectors.backend_zendesk import FAST, ZendeskSim, zendesk_backend
from tests.connectors.backends import FaultTransport

WAIT = 20.0  # seconds: an upper bound for a condition, never a sleep


@pytest.fixture(scope="module")
def sim() -> Iterator[ZendeskSim]:
    with zendesk_backend(scale=60) as handle:
        if handle.writes_missing:
            pytest.skip(handle.writes_missing)
        yield handle


class Runner:
    """A BackgroundSync in a thread, with its events and a way to await one of them."""

    def __init__(self, sim: ZendeskSim, path, **options: float) -> None:
        self.faults = FaultTransport()  # its own: the runner's event loop owns its sockets
        self.events: list[SyncEvent] = []
        self._changed = threading.Condition()
        self.sync = BackgroundSync(
            path, [(sim.settings, sim.token)], connector_factory=self._build, **options
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.sync.run, args=(self._on_event, self._stop))

    def _build(self, settings: AccountSettings, token: str) -> Connector:
        return ZendeskConnector(settings, token, policy=FAST, transport=self.faults)

    def _on_event(self, event: SyncEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, test: Callable[[SyncEvent], bool], after: int = 0) -> SyncEvent:
        """The first event from index `after` on that passes `test` (fails after WAIT s)."""
        with self._changed:
            found: list[SyncEvent] = []

            def seen() -> bool:
                found[:] = [e for e in self.events[after:] if test(e)]
                return bool(found)

            assert self._changed.wait_for(seen, WAIT), [e.message for e in self.events]
            return found[0]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()


def idle(event: SyncEvent) -> bool:
    return event.kind == "idle"


def sent(event: SyncEvent) -> bool:
    return event.kind == "idle" and bool(event.extra.get("sent"))


def queue_reply(path, sim: ZendeskSim) -> tuple[str, str]:
    """Queue a reply the way the app or `agentdesk do` does: another store connection."""
    store = Store.open(path)
    try:
        cid, external_id = store.conn.execute(
            "SELECT id, external_id FROM conversations WHERE status IN ('new', 'open')"
            " ORDER BY id LIMIT 1"
        ).fetchone()
        text = f"Sent from the background {uuid.uuid4().hex[:8]}"
        store.queue(cid, "reply", {"text": text})
        return external_id, text
    finally:
        store.close()


def test_a_nudge_sends_a_queued_reply_at_once(sim, tmp_path):
    path = tmp_path / "cache.db"
    sim.settle()
    # No timer and no poll within the test's time: only the nudge can send it.
    with Runner(sim, path, interval=600, outbox_poll=600) as runner:
        runner.wait_for(idle)
        external_id, text = queue_reply(path, sim)
        mark = len(runner.events)
        runner.sync.nudge()
        event = runner.wait_for(sent, after=mark)
    assert event.extra["sent"] == 1 and event.extra["full"] is False
    assert sim.oracle(external_id).count(text) == 1


def test_a_reply_queued_by_another_process_is_sent_by_the_outbox_poll(sim, tmp_path):
    path = tmp_path / "cache.db"
    sim.settle()
    with Runner(sim, path, interval=600, outbox_poll=0.1) as runner:
        runner.wait_for(idle)
        external_id, text = queue_reply(path, sim)
        runner.wait_for(sent, after=len(runner.events))
    assert sim.oracle(external_id).count(text) == 1


def test_offline_keeps_the_reply_queued_and_sends_it_after_reconnecting(sim, tmp_path):
    path = tmp_path / "cache.db"
    sim.settle()
    with Runner(sim, path, interval=600, outbox_poll=0.1, offline_retry=0.05) as runner:
        runner.wait_for(idle)
        runner.faults.offline = True
        external_id, text = queue_reply(path, sim)
        mark = len(runner.events)
        runner.sync.nudge()
        offline = runner.wait_for(
            lambda e: e.kind == "idle" and e.extra.get("online") is False, after=mark
        )
        assert offline.extra["pending"] == 1 and "offline" in offline.message
        assert sim.oracle(external_id).count(text) == 0
        runner.faults.offline = False
        back = runner.wait_for(sent, after=len(runner.events))
    assert back.extra["online"] is True and back.extra["pending"] == 0
    assert sim.oracle(external_id).count(text) == 1


async def test_sync_once_pushes_then_pulls_and_reports_the_counts(sim, tmp_path):
    path = tmp_path / "cache.db"
    sim.settle()
    first = await sync_once(path, [(sim.settings, sim.token)])
    assert first["ok"], first
    external_id, text = queue_reply(path, sim)
    summary = await sync_once(path, [(sim.settings, sim.token)])
    (account,) = summary["accounts"]
    assert summary["ok"] and account["sent"] == 1 and account["conflicts"] == 0
    assert sim.oracle(external_id).count(text) == 1
