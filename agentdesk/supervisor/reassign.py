"""Reassignment: plan (with a before/after preview), apply as one batch, undo.

A plan is computed from the cache and changes nothing. Applying queues one `assign` mutation
per moved conversation through the outbox, each carrying the batch id in its payload
(`{"agent_email": ..., "batch": "<uuid>"}`), so the outbox (kept forever) is also the record of
the batch. Undo cancels what is still unsent and, for what already reached the backend, queues
compensating mutations that restore the previous assignee/team.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agentdesk.model import LOAD_STATUSES
from agentdesk.store import MutationError, Store
from agentdesk.store.outbox import Mutation
from agentdesk.store.supervision import AgentRef, ReassignCandidate
from agentdesk.supervisor.capacity import Capacity
from agentdesk.supervisor.roles import require_supervisor

Strategy = Literal["least_load", "round_robin"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where conversations go: an agent (by email) or a team/group/queue (by name)."""

    kind: Literal["agent", "team"]
    value: str

    @classmethod
    def parse(cls, text: str) -> Target:
        """`team:NAME`, an email address (an agent), or a bare name (a team)."""
        text = text.strip()
        if text.lower().startswith("team:"):
            return cls("team", text[5:].strip())
        if "@" in text:
            return cls("agent", text.lower())
        return cls("team", text)

    def __str__(self) -> str:
        return self.value if self.kind == "agent" else f"team:{self.value}"


@dataclass(frozen=True, slots=True)
class Move:
    conversation_id: int
    account: str
    external_id: str
    subject: str
    status: str
    from_agent_id: int | None
    from_agent: str | None
    to_agent_id: int | None
    to_agent: str | None
    """The agent's email when the move assigns an agent."""
    to_team: str | None
    """The team's name when the move changes the team."""

    def payload(self, batch: str) -> dict[str, object]:
        if self.to_agent is not None:
            return {"agent_email": self.to_agent, "batch": batch}
        return {"team": self.to_team, "batch": batch}


@dataclass(frozen=True, slots=True)
class AgentDelta:
    agent_id: int
    account: str
    email: str
    name: str
    before: int
    after: int
    capacity: int | None

    @property
    def over_capacity(self) -> bool:
        return self.capacity is not None and self.after > self.capacity


@dataclass(frozen=True, slots=True)
class Skipped:
    conversation_id: int
    reference: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    moves: tuple[Move, ...]
    deltas: tuple[AgentDelta, ...]
    skipped: tuple[Skipped, ...] = ()
    batch: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def overruns(self) -> tuple[AgentDelta, ...]:
        return tuple(d for d in self.deltas if d.over_capacity)

    def as_dict(self) -> dict[str, object]:
        return {
            "batch": self.batch,
            "moves": [
                {
                    "conversation": f"{m.account}:{m.external_id}",
                    "subject": m.subject,
                    "from": m.from_agent,
                    "to_agent": m.to_agent,
                    "to_team": m.to_team,
                }
                for m in self.moves
            ],
            "agents": [
                {
                    "account": d.account,
                    "email": d.email,
                    "name": d.name,
                    "before": d.before,
                    "after": d.after,
                    "capacity": d.capacity,
                    "over_capacity": d.over_capacity,
                }
                for d in self.deltas
            ],
            "skipped": [
                {"conversation": s.reference, "reason": s.reason} for s in self.skipped
            ],
        }


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    mutation_ids: tuple[str, ...]
    errors: tuple[Skipped, ...] = ()


@dataclass(frozen=True, slots=True)
class UndoResult:
    batch: str
    cancelled: int = 0
    compensated: int = 0
    """Compensating mutations queued (restore the previous assignee/team)."""
    compensation_batch: str | None = None
    left: tuple[str, ...] = ()
    """Human sentences for what could not be undone, one per conversation."""


# ---------------------------------------------------------------- reading the cache
def _deltas(store: Store, moves: Sequence[Move], capacity: Capacity) -> tuple[AgentDelta, ...]:
    """Each touched agent's load before and after the moves (load = new/open/pending)."""
    touched = {m.from_agent_id for m in moves if m.from_agent_id is not None}
    touched |= {m.to_agent_id for m in moves if m.to_agent_id is not None}
    before = store.capacity_loads(touched)
    change: Counter[int] = Counter()
    for move in moves:
        if move.to_agent_id is None or move.status not in LOAD_STATUSES:
            continue
        change[move.to_agent_id] += 1
        if move.from_agent_id is not None:
            change[move.from_agent_id] -= 1
    agents = store.agents_by_id(touched)
    deltas = [
        AgentDelta(
            agent_id=aid,
            account=agents[aid].account,
            email=agents[aid].email,
            name=agents[aid].name,
            before=before[aid],
            after=before[aid] + change[aid],
            capacity=capacity.of(agents[aid].email, agents[aid].capacity),
        )
        for aid in touched
    ]
    deltas.sort(key=lambda d: (-(d.after - d.before), d.name.casefold(), d.account))
    return tuple(deltas)


def _move(
    row: ReassignCandidate, *, to_agent: AgentRef | None = None, to_team: str | None = None
) -> Move:
    return Move(
        conversation_id=row.id,
        account=row.account,
        external_id=row.external_id,
        subject=row.subject,
        status=row.status,
        from_agent_id=row.assignee_id,
        from_agent=row.agent_email,
        to_agent_id=to_agent.id if to_agent is not None else None,
        to_agent=to_agent.email if to_agent is not None else None,
        to_team=to_team,
    )


# ---------------------------------------------------------------- planning
def plan_reassignment(
    store: Store,
    conversation_ids: Sequence[int],
    target: Target,
    *,
    capacity: Capacity | None = None,
) -> Plan:
    """Move every conversation to one agent or team; changes nothing (the preview)."""
    capacity = capacity or Capacity()
    moves: list[Move] = []
    skipped: list[Skipped] = []
    rows = store.conversations_to_reassign(conversation_ids)
    found = {r.id for r in rows}
    skipped += [Skipped(cid, str(cid), "not in the cache") for cid in conversation_ids
                if cid not in found]
    for row in rows:
        reference = f"{row.account}:{row.external_id}"
        if target.kind == "agent":
            agent = store.agent_by_email(row.account, target.value)
            if agent is None:
                skipped.append(Skipped(row.id, reference,
                                       f"no agent {target.value} on account {row.account}"))
            elif agent.id == row.assignee_id:
                skipped.append(Skipped(row.id, reference, f"already with {agent.name}"))
            else:
                moves.append(_move(row, to_agent=agent))
        else:
            team = store.team_by_name(row.account, target.value)
            if team is None:
                skipped.append(Skipped(row.id, reference,
                                       f"no team {target.value!r} on account {row.account}"))
            elif team.id == row.team_id:
                skipped.append(Skipped(row.id, reference, f"already in {team.name}"))
            else:
                moves.append(_move(row, to_team=team.name))
    return Plan(tuple(moves), _deltas(store, moves, capacity), tuple(skipped))


def suggest(
    store: Store,
    conversation_ids: Sequence[int],
    team: str,
    strategy: Strategy = "least_load",
    *,
    capacity: Capacity | None = None,
) -> Plan:
    """Spread the conversations over the team's members: least loaded first, or in turn.

    Least load counts what the plan itself already gave each member, so a big batch fills the
    emptiest desks evenly instead of piling onto one. Round-robin goes through the members in
    name order. Members marked offline are left out while anyone else is available.
    """
    capacity = capacity or Capacity()
    rows = store.conversations_to_reassign(conversation_ids)
    moves: list[Move] = []
    skipped: list[Skipped] = []
    members_by_account: dict[str, list] = {}
    for account in sorted({r.account for r in rows}):
        found = store.team_by_name(account, team)
        members = store.team_members(found.id) if found is not None else []
        available = [m for m in members if (m.presence or "").lower() != "offline"]
        members_by_account[account] = available or members
    loads = store.capacity_loads(m.id for ms in members_by_account.values() for m in ms)
    turns = {a: itertools.cycle(ms) for a, ms in members_by_account.items() if ms}
    for row in rows:
        reference = f"{row.account}:{row.external_id}"
        members = members_by_account.get(row.account, [])
        if not members:
            skipped.append(Skipped(row.id, reference,
                                   f"team {team!r} has no agents on account {row.account}"))
            continue
        if strategy == "round_robin":
            agent = next(turns[row.account])
        else:
            agent = min(members, key=lambda m: (loads[m.id], m.name.casefold(), m.id))
        if agent.id == row.assignee_id:
            skipped.append(Skipped(row.id, reference, f"already with {agent.name}"))
            continue
        loads[agent.id] += 1 if row.status in LOAD_STATUSES else 0
        moves.append(_move(row, to_agent=agent))
    return Plan(tuple(moves), _deltas(store, moves, capacity), tuple(skipped))


# ---------------------------------------------------------------- applying and undoing
def apply_plan(store: Store, plan: Plan, *, check_role: bool = True) -> Batch:
    """Queue the plan's moves as one batch (the batch id rides in every payload)."""
    if check_role:
        require_supervisor(store, {m.account for m in plan.moves})
    ids: list[str] = []
    errors: list[Skipped] = []
    for move in plan.moves:
        try:
            mutation = store.queue(move.conversation_id, "assign", move.payload(plan.batch))
        except MutationError as exc:
            errors.append(Skipped(move.conversation_id, f"{move.account}:{move.external_id}",
                                  str(exc)))
            continue
        ids.append(mutation.id)
    return Batch(plan.batch, tuple(ids), tuple(errors))


def batch_mutations(store: Store, batch: str) -> list[Mutation]:
    ids = store.batch_mutation_ids(batch)
    return [m for m in (store.mutation(i) for i in ids) if m is not None]


def recent_batches(store: Store, limit: int = 20) -> list[tuple[str, int, str]]:
    """(batch id, mutations, created_at) of the latest batches, newest first."""
    return store.recent_batches(limit)


def undo_batch(store: Store, batch: str, *, check_role: bool = True) -> UndoResult:
    """Cancel what is unsent; restore the previous assignee/team where it already applied."""
    mutations = batch_mutations(store, batch)
    if check_role:
        require_supervisor(store, {m.account for m in mutations})
    cancelled = 0
    compensated = 0
    left: list[str] = []
    undo_id = str(uuid.uuid4())
    for mutation in mutations:
        reference = f"{mutation.account}:{mutation.conversation_external_id}"
        if mutation.state == "pending" and store.cancel(mutation.id):
            cancelled += 1
            continue
        mutation = store.mutation(mutation.id) or mutation
        if mutation.state in ("pending", "sending"):
            left.append(f"{reference}: being sent right now; undo again once it has landed")
            continue
        if mutation.state != "applied":
            continue  # cancelled, failed or in conflict: nothing reached the backend
        payload = _compensation(store, mutation)
        if isinstance(payload, str):
            left.append(f"{reference}: {payload}")
            continue
        try:
            store.queue(mutation.conversation_id, "assign", payload | {"batch": undo_id,
                                                                                "undoes": batch})
        except MutationError as exc:
            left.append(f"{reference}: {exc}")
            continue
        compensated += 1
    return UndoResult(batch, cancelled, compensated, undo_id if compensated else None,
                      tuple(left))


def _compensation(store: Store, mutation: Mutation) -> dict[str, object] | str:
    """The payload that restores what `mutation` replaced, or why it cannot be restored."""
    row = store.assignment(mutation.conversation_id)
    if row is None:
        return "the conversation is gone"
    base, payload = mutation.base, mutation.payload
    if "agent_id" in payload or "agent_email" in payload:
        if row.assignee_id != payload.get("agent_id"):
            return "reassigned again since; left as it is"
        previous = base.get("assignee_id")
        if previous is None:
            return {"unassign": True}
        email = store.agent_email(previous)
        if not email:
            return "the previous assignee is no longer known"
        return {"agent_email": email}
    if row.team_id != payload.get("team_id"):
        return "moved to another team since; left as it is"
    previous = base.get("team_id")
    if previous is None:
        return "it had no team before, and a team cannot be removed through the outbox"
    team_name = store.team_name(previous)
    if team_name is None:
        return "the previous team is no longer known"
    return {"team": team_name}


def payload_json(mutation: Mutation) -> str:
    return json.dumps(mutation.payload, ensure_ascii=False, sort_keys=True)
