"""Issue 5 over loopback: actions made offline reach the simulator exactly once.

The Zendesk simulator runs in-process (`agentdesk.sim.server`); its `/_sim/state` oracle is
the truth. "Offline" is the fault transport refusing every connection; "faults" are a seeded
30 % of requests answered 429/503, dropped after being applied, refused or timed out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from agentdesk.store import Store
from agentdesk.store.outbox import LIVE_STATES
from agentdesk.sync.engine import SyncEngine
from agentdesk.timeutil import utcnow
from tests.connectors.backend_zendesk import ZendeskSim, zendesk_backend


class Clock:
    """The push engine's clock: each round starts an hour later, so every back-off is over
    (waiting for real would only make the test slow)."""

    def __init__(self) -> None:
        self.moment = utcnow()

    def __call__(self) -> datetime:
        return self.moment

    def an_hour_later(self) -> None:
        self.moment += timedelta(hours=1)


@pytest.fixture(scope="module")
def sim():
    with zendesk_backend(scale=500) as handle:
        if handle.writes_missing:
            pytest.skip(handle.writes_missing)
        yield handle


@pytest.fixture
async def world(sim: ZendeskSim, tmp_path):
    """A fresh cache synced from the simulator, and an engine whose back-offs are all due."""
    sim.faults.clear()
    store = Store.open(tmp_path / "cache.db")
    connector = sim.connector()
    engine = SyncEngine(store, {sim.settings.name: connector})
    engine.pusher.now = Clock()
    sim.settle()
    first = await engine.sync_account(sim.settings.name)
    assert first.ok, first.error
    yield store, engine
    sim.faults.clear()
    await connector.aclose()
    store.close()


def open_conversations(store: Store, n: int) -> list[tuple[int, str]]:
    rows = store.conn.execute(
        "SELECT id, external_id FROM conversations WHERE status IN ('new', 'open', 'pending')"
        " ORDER BY id LIMIT ?",
        (n,),
    ).fetchall()
    assert len(rows) == n, f"the simulated world has only {len(rows)} open conversations"
    return [(r[0], r[1]) for r in rows]


@dataclass
class Planned:
    conversation_id: int
    external_id: str
    reply: str
    note: str
    tag: str
    priority: str


def queue_actions(store: Store, conversations: list[tuple[int, str]], per: int) -> list[Planned]:
    """`per` actions on each conversation: reply, note, tag, priority (in that order)."""
    planned: list[Planned] = []
    for index, (cid, external_id) in enumerate(conversations):
        run = uuid.uuid4().hex[:8]
        plan = Planned(
            cid,
            external_id,
            reply=f"Reply {index} ({run}): we are on it.",
            note=f"Note {index} ({run}): checked the carrier.",
            tag=f"offline_{run}",
            priority=("urgent", "low", "high")[index % 3],
        )
        actions = [
            ("reply", {"text": plan.reply}),
            ("note", {"text": plan.note}),
            ("tags", {"add": [plan.tag], "remove": []}),
            ("priority", {"priority": plan.priority}),
        ]
        for action, payload in actions[:per]:
            store.queue(cid, action, payload)
        planned.append(plan)
    return planned


async def drain(
    store: Store, engine: SyncEngine, name: str, rounds: int, *, full: bool = True
) -> int:
    """Sync rounds (push + pull, or only push) until the outbox is empty; how many it took."""
    for done in range(1, rounds + 1):
        engine.pusher.now.an_hour_later()  # type: ignore[attr-defined]
        await (engine.sync_account(name) if full else engine.push_account(name))
        if not store.mutations(states=LIVE_STATES):
            return done
    live = store.mutations(states=LIVE_STATES)
    raise AssertionError(f"{len(live)} mutations still queued: {live[0].error}")


def assert_arrived_once(sim: ZendeskSim, store: Store, planned: list[Planned]) -> None:
    mutations = {m.payload.get("text"): m for m in store.mutations()}
    assert {m.state for m in store.mutations()} == {"applied"}
    for plan in planned:
        truth = sim.oracle(plan.external_id)
        assert truth.count(plan.reply) == 1, plan.reply
        assert truth.count(plan.note) == 1, plan.note
        assert plan.tag in truth.tags and truth.priority == plan.priority
        for text in (plan.reply, plan.note):
            (message,) = [m for m in truth.messages if m.body.strip() == text]
            assert message.public is (text == plan.reply)
            if message.marker is not None:  # the oracle names the key each write carried
                assert message.marker == mutations[text].id


async def test_200_actions_made_offline_across_50_conversations_arrive_exactly_once(sim, world):
    store, engine = world
    name = sim.settings.name
    sim.faults.offline = True
    planned = queue_actions(store, open_conversations(store, 50), per=4)
    assert len(store.mutations()) == 200
    offline = await engine.sync_account(name)
    assert not offline.ok and offline.offline  # fails fast, says "offline"
    assert len(store.mutations(states=LIVE_STATES)) == 200  # nothing lost, nothing sent
    sim.faults.offline = False
    await drain(store, engine, name, rounds=3)
    assert_arrived_once(sim, store, planned)


async def test_the_same_under_30_percent_injected_faults(sim, world):
    store, engine = world
    name = sim.settings.name
    sim.faults.offline = True
    planned = queue_actions(store, open_conversations(store, 50), per=4)
    await engine.sync_account(name)
    sim.faults.offline = False
    sim.faults.chaos(0.3, seed=11)
    rounds = await drain(store, engine, name, rounds=40, full=False)
    injected = dict(sim.faults.injected)
    sim.faults.clear()
    assert sum(injected.values()) >= 50 and injected.get("lose", 0) > 0, (injected, rounds)
    assert_arrived_once(sim, store, planned)


async def test_a_supervisors_reassignment_while_offline_is_a_visible_conflict(sim, world):
    store, engine = world
    ((cid, external_id),) = open_conversations(store, 1)
    agents = [
        r[0]
        for r in store.conn.execute("SELECT external_id FROM agents WHERE email != ''")
        if r[0] != sim.oracle(external_id).assignee_external_id
    ]
    supervisor_choice = agents[0]
    mine = store.conn.execute(
        "SELECT email FROM agents WHERE external_id = ?", (agents[1],)
    ).fetchone()[0]
    sim.faults.offline = True
    store.queue(cid, "assign", {"agent_email": mine})
    sim.change_as_colleague(external_id, assignee_external_id=supervisor_choice)
    sim.faults.offline = False
    result = await engine.sync_account(sim.settings.name)
    assert result.conflicts == 1
    (mutation,) = store.mutations()
    assert mutation.state == "conflict" and supervisor_choice in (mutation.error or "")
    assert store.conversation_sync_state([cid]) == {cid: "conflict"}
    assert sim.oracle(external_id).assignee_external_id == supervisor_choice


async def test_concurrent_tag_additions_both_survive(sim, world):
    store, engine = world
    ((cid, external_id),) = open_conversations(store, 1)
    sim.faults.offline = True
    store.queue(cid, "tags", {"add": ["mine_vip"], "remove": []})
    sim.change_as_colleague(external_id, add_tags=("theirs_escalated",))
    sim.faults.offline = False
    sim.settle()
    result = await engine.sync_account(sim.settings.name)
    assert result.ok and result.sent == 1
    assert {"mine_vip", "theirs_escalated"} <= sim.oracle(external_id).tags
    sim.settle()  # Zendesk's export shows a change a minute later; then the pull reconciles
    assert (await engine.sync_account(sim.settings.name)).ok
    tags = store.conn.execute("SELECT tags FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
    assert "mine_vip" in tags and "theirs_escalated" in tags  # pull after push reconciled
