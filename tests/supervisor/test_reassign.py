"""Bulk reassignment by query over the Zendesk simulator: preview, exactly-once apply, undo."""

from __future__ import annotations

from collections import Counter

from agentdesk.store import Store
from agentdesk.supervisor import reassign
from agentdesk.supervisor.capacity import Capacity
from agentdesk.sync.push import PushEngine

QUERY = "is:open -assignee:priya.raman@kumomart.example"
TARGET = "priya.raman@kumomart.example"


def _load(store: Store, agent_id: int) -> int:
    return store.conn.execute(
        "SELECT count(*) FROM conversations WHERE assignee_id = ? AND deleted_at IS NULL "
        "AND status IN ('new', 'open', 'pending')",
        (agent_id,),
    ).fetchone()[0]


def _world_assignee(sim, external_id: str) -> int | None:
    return sim.world.tickets[int(external_id)].assignee_id


def _assign_writes(sim, external_id: str) -> int:
    return sum(
        1 for w in sim.world.writes.get(int(external_id), [])
        if "assignee" in w["changes"]  # type: ignore[operator]
    )


async def test_bulk_reassignment_of_100_previews_applies_once_and_undoes(synced):
    store, _engine, sim = synced
    ids = store.search_ids(QUERY)[:100]
    assert len(ids) == 100, "the simulated world needs 100 open conversations"
    before = {
        cid: (row["assignee_id"], row["external_id"], row["status"])
        for cid in ids
        for row in [store.conn.execute(
            "SELECT assignee_id, external_id, status FROM conversations WHERE id = ?", (cid,)
        ).fetchone()]
    }
    target_id = store.conn.execute(
        "SELECT id FROM agents WHERE email = ?", (TARGET,)).fetchone()[0]
    target_before = _load(store, target_id)

    plan = reassign.plan_reassignment(
        store, ids, reassign.Target.parse(TARGET), capacity=Capacity(default=10))

    # The preview: every conversation moves; loads before/after agree with a recount.
    assert len(plan.moves) == 100 and not plan.skipped
    deltas = {d.agent_id: d for d in plan.deltas}
    moving_load = sum(1 for a, _e, s in before.values() if s in ("new", "open", "pending"))
    assert deltas[target_id].before == target_before
    assert deltas[target_id].after == target_before + moving_load
    assert deltas[target_id].over_capacity  # 10 is far below what she would hold
    losers = Counter(a for a, _e, s in before.values()
                     if a is not None and s in ("new", "open", "pending"))
    for agent_id, lost in losers.items():
        assert deltas[agent_id].before == _load(store, agent_id)
        assert deltas[agent_id].after == deltas[agent_id].before - lost
    assert store.mutations() == []  # a preview changes nothing

    batch = reassign.apply_plan(store, plan)
    assert len(batch.mutation_ids) == 100 and not batch.errors
    assert {m.payload["batch"] for m in reassign.batch_mutations(store, batch.id)} == {batch.id}
    assert _load(store, target_id) == target_before + moving_load  # optimistic, at once

    connector = sim.connector()
    pusher = PushEngine(store, {sim.settings.name: connector})
    first = await pusher.push_account(sim.settings.name)
    again = await pusher.push_account(sim.settings.name)
    assert first.applied == 100 and first.failed == 0 and first.conflicts == 0
    assert again.applied == 0
    target_external = int(store.conn.execute(
        "SELECT external_id FROM agents WHERE id = ?", (target_id,)).fetchone()[0])
    for _a, external_id, _s in before.values():
        assert _world_assignee(sim, external_id) == target_external
        assert _assign_writes(sim, external_id) == 1  # exactly once

    # Undo after it applied: compensating mutations restore every previous assignee.
    undone = reassign.undo_batch(store, batch.id)
    assert undone.cancelled == 0 and undone.compensated == 100 and not undone.left
    result = await pusher.push_account(sim.settings.name)
    assert result.applied == 100
    external_of = dict(store.conn.execute("SELECT id, external_id FROM agents").fetchall())
    for previous, external_id, _s in before.values():
        expected = int(external_of[previous]) if previous is not None else None
        assert _world_assignee(sim, external_id) == expected
    await connector.aclose()


async def test_undo_before_sending_cancels_every_mutation(synced):
    store, _engine, sim = synced
    ids = store.search_ids("is:open")[:20]
    before = dict(store.conn.execute(
        f"SELECT id, assignee_id FROM conversations WHERE id IN ({','.join(map(str, ids))})"
    ).fetchall())
    plan = reassign.plan_reassignment(store, ids, reassign.Target.parse("team:Billing"))
    batch = reassign.apply_plan(store, plan)
    assert batch.mutation_ids
    undone = reassign.undo_batch(store, batch.id)
    assert undone.cancelled == len(batch.mutation_ids) and undone.compensated == 0
    assert {m.state for m in reassign.batch_mutations(store, batch.id)} == {"cancelled"}
    connector = sim.connector()
    pushed = await PushEngine(store, {sim.settings.name: connector}).push_account(
        sim.settings.name)
    assert pushed.applied == 0  # nothing reached the backend
    after = dict(store.conn.execute(
        f"SELECT id, assignee_id FROM conversations WHERE id IN ({','.join(map(str, ids))})"
    ).fetchall())
    assert after == before
    await connector.aclose()


def test_least_load_spreads_evenly_and_round_robin_takes_turns(synced):
    store, _engine, _sim = synced
    ids = store.search_ids("is:unassigned")[:12]
    least = reassign.suggest(store, ids, "Billing", "least_load")
    after = [d.after for d in least.deltas]
    assert max(after) - min(after) <= max(1, max(d.before for d in least.deltas)
                                           - min(d.before for d in least.deltas))
    turns = reassign.suggest(store, ids, "Billing", "round_robin")
    got = [m.to_agent for m in turns.moves]
    members = sorted({m.to_agent for m in turns.moves})
    assert len(members) > 1 and got[: len(members)] != got[1 : len(members) + 1]
