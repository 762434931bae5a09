"""Team load: per agent and per team/queue, computed with a handful of grouped queries.

Definitions (shared with the reassignment preview, so numbers agree across screens):
- load: assigned conversations that are new, open or pending (on hold and snoozed wait on
  someone else and do not count against capacity);
- breaching: open conversations whose SLA due time is past or within `AT_RISK` (the same rule
  as the "Breaching SLA" view);
- handled today: conversations the agent answered publicly since local midnight;
- first response today: created -> the agent's first public reply, for first replies today.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from agentdesk.sla import AT_RISK
from agentdesk.store import Store
from agentdesk.store.supervision import QueueCounts
from agentdesk.supervisor.capacity import Capacity


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent_id: int
    account: str
    email: str
    name: str
    role: str
    presence: str | None
    open: int
    pending: int
    breaching: int
    oldest_waiting: datetime | None
    handled_today: int
    median_first_response_today: timedelta | None
    capacity: int | None

    @property
    def load(self) -> int:
        return self.open + self.pending

    @property
    def over_capacity(self) -> bool:
        return self.capacity is not None and self.load > self.capacity


@dataclass(frozen=True, slots=True)
class QueueLoad:
    team_id: int | None
    """None: conversations with no team/group ("No team")."""
    account: str
    name: str
    backlog: int
    unassigned: int
    oldest_waiting: datetime | None
    breaching: int
    arrivals_24h: int

    @property
    def arrival_rate(self) -> float:
        """Conversations per hour over the last 24 hours."""
        return self.arrivals_24h / 24


@dataclass(frozen=True, slots=True)
class TeamSnapshot:
    at: datetime
    agents: tuple[AgentLoad, ...]
    queues: tuple[QueueLoad, ...]


def local_midnight(now: datetime, tz: tzinfo | None) -> datetime:
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0), local.tzinfo)


def agent_loads(
    store: Store,
    now: datetime,
    *,
    accounts: Sequence[str] | None = None,
    capacity: Capacity | None = None,
    tz: tzinfo | None = None,
) -> list[AgentLoad]:
    """One row per agent on the given accounts (all accounts when None), busiest first."""
    capacity = capacity or Capacity()
    counts = store.assignee_counts(now, now + AT_RISK)
    # Public agent replies today, by author: what was handled and how fast the first came.
    handled: dict[tuple[str, str], set[int]] = {}
    first_waits: dict[tuple[str, str], list[float]] = {}
    for reply in store.agent_replies_since(local_midnight(now, tz)):
        key = (reply.account, reply.author_external_id)
        handled.setdefault(key, set()).add(reply.conversation_id)
        if reply.is_first_reply:
            wait = (reply.created_at - reply.conversation_opened).total_seconds()
            first_waits.setdefault(key, []).append(max(wait, 0.0))
    result: list[AgentLoad] = []
    for ag in store.agents_with_email(accounts):
        row = counts.get(ag.id)
        key = (ag.account, ag.external_id)
        waits = first_waits.get(key)
        result.append(
            AgentLoad(
                agent_id=ag.id,
                account=ag.account,
                email=ag.email,
                name=ag.name,
                role=ag.role,
                presence=ag.presence,
                open=row.open if row else 0,
                pending=row.pending if row else 0,
                breaching=row.breaching if row else 0,
                oldest_waiting=row.oldest_waiting if row else None,
                handled_today=len(handled.get(key, ())),
                median_first_response_today=(
                    timedelta(seconds=statistics.median(waits)) if waits else None
                ),
                capacity=capacity.of(ag.email, ag.capacity),
            )
        )
    result.sort(key=lambda a: (-a.breaching, -a.load, a.name.casefold(), a.account))
    return result


def queue_loads(
    store: Store, now: datetime, *, accounts: Sequence[str] | None = None
) -> list[QueueLoad]:
    """One row per team/group/queue, plus "No team" per account when it holds anything."""
    by_key = store.queue_counts(now, now + AT_RISK, now - timedelta(hours=24))
    wanted = set(accounts) if accounts is not None else None
    result: list[QueueLoad] = []
    seen: set[tuple[str, int | None]] = set()
    for team in store.all_teams():
        key = (team.account, team.id)
        if wanted is not None and team.account not in wanted:
            continue
        seen.add(key)
        result.append(_queue(team.id, team.account, team.name, by_key.get(key)))
    for (account, team_id), row in by_key.items():
        if (account, team_id) in seen or (wanted is not None and account not in wanted):
            continue
        if team_id is None and (row.backlog or row.arrivals):
            result.append(_queue(None, account, "No team", row))
    result.sort(key=lambda q: (-q.breaching, -q.backlog, q.name.casefold(), q.account))
    return result


def _queue(team_id: int | None, account: str, name: str, row: QueueCounts | None) -> QueueLoad:
    return QueueLoad(
        team_id=team_id,
        account=account,
        name=name,
        backlog=row.backlog if row else 0,
        unassigned=row.unassigned if row else 0,
        oldest_waiting=row.oldest_waiting if row else None,
        breaching=row.breaching if row else 0,
        arrivals_24h=row.arrivals if row else 0,
    )


def team_snapshot(
    store: Store,
    now: datetime,
    *,
    accounts: Sequence[str] | None = None,
    capacity: Capacity | None = None,
    tz: tzinfo | None = None,
) -> TeamSnapshot:
    return TeamSnapshot(
        at=now,
        agents=tuple(agent_loads(store, now, accounts=accounts, capacity=capacity, tz=tz)),
        queues=tuple(queue_loads(store, now, accounts=accounts)),
    )
