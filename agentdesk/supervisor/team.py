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

from agentdesk.model import OPEN_STATUSES
from agentdesk.sla import AT_RISK
from agentdesk.store import Store
from agentdesk.supervisor.capacity import Capacity
from agentdesk.timeutil import from_iso, to_iso

_OPEN = "('" + "','".join(OPEN_STATUSES) + "')"
LOAD_STATUSES = ("new", "open", "pending")
_LOAD = "('" + "','".join(LOAD_STATUSES) + "')"
_DUE = "coalesce(c.first_response_due, c.next_response_due)"
_LIVE = "c.deleted_at IS NULL AND (c.snoozed_until IS NULL OR c.snoozed_until <= :now)"


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
    conn = store.conn
    params: dict[str, object] = {
        "now": to_iso(now),
        "soon": to_iso(now + AT_RISK),
        "today": to_iso(local_midnight(now, tz)),
    }
    where_accounts = ""
    if accounts is not None:
        names = {f"a{i}": a for i, a in enumerate(accounts)}
        params.update(names)
        where_accounts = f"AND ag.account IN ({','.join(':' + k for k in names) or 'NULL'})"
    counts = {
        row["assignee_id"]: row
        for row in conn.execute(
            f"""SELECT c.assignee_id,
                  total(c.status IN ('new', 'open')) AS open,
                  total(c.status = 'pending') AS pending,
                  total(c.status != 'on_hold' AND coalesce({_DUE} <= :soon, 0)) AS breaching,
                  min(c.waiting_since) AS oldest
                FROM conversations c
                WHERE c.assignee_id IS NOT NULL AND c.status IN {_OPEN} AND {_LIVE}
                GROUP BY c.assignee_id""",
            params,
        )
    }
    # Public agent replies today, by author: what was handled and how fast the first came.
    handled: dict[tuple[str, str], set[int]] = {}
    first_waits: dict[tuple[str, str], list[float]] = {}
    for row in conn.execute(
        """SELECT m.account, m.author_external_id, m.conversation_id, m.created_at,
                  c.created_at AS opened,
                  (SELECT min(f.created_at) FROM messages f WHERE f.conversation_id =
                     m.conversation_id AND f.kind = 'reply' AND f.author_kind = 'agent') AS first
           FROM messages m JOIN conversations c ON c.id = m.conversation_id
           WHERE m.kind = 'reply' AND m.author_kind = 'agent' AND m.created_at >= :today
             AND m.author_external_id IS NOT NULL AND c.deleted_at IS NULL""",
        params,
    ):
        key = (row["account"], row["author_external_id"])
        handled.setdefault(key, set()).add(row["conversation_id"])
        if row["first"] == row["created_at"]:
            wait = (from_iso(row["created_at"]) - from_iso(row["opened"])).total_seconds()
            first_waits.setdefault(key, []).append(max(wait, 0.0))
    result: list[AgentLoad] = []
    for ag in conn.execute(
        f"""SELECT ag.* FROM agents ag WHERE ag.email != '' {where_accounts}
            ORDER BY ag.name, ag.account""",
        params,
    ):
        row = counts.get(ag["id"])
        key = (ag["account"], ag["external_id"])
        waits = first_waits.get(key)
        result.append(
            AgentLoad(
                agent_id=ag["id"],
                account=ag["account"],
                email=ag["email"],
                name=ag["name"],
                role=ag["role"],
                presence=ag["presence"],
                open=int(row["open"]) if row else 0,
                pending=int(row["pending"]) if row else 0,
                breaching=int(row["breaching"]) if row else 0,
                oldest_waiting=from_iso(row["oldest"]) if row and row["oldest"] else None,
                handled_today=len(handled.get(key, ())),
                median_first_response_today=(
                    timedelta(seconds=statistics.median(waits)) if waits else None
                ),
                capacity=capacity.of(ag["email"], ag["capacity"]),
            )
        )
    result.sort(key=lambda a: (-a.breaching, -a.load, a.name.casefold(), a.account))
    return result


def queue_loads(
    store: Store, now: datetime, *, accounts: Sequence[str] | None = None
) -> list[QueueLoad]:
    """One row per team/group/queue, plus "No team" per account when it holds anything."""
    params: dict[str, object] = {
        "now": to_iso(now),
        "soon": to_iso(now + AT_RISK),
        "since": to_iso(now - timedelta(hours=24)),
    }
    rows = store.conn.execute(
        f"""SELECT c.account, c.team_id,
              sum(c.status IN {_OPEN} AND {_LIVE}) AS backlog,
              sum(c.status IN {_OPEN} AND {_LIVE} AND c.assignee_id IS NULL) AS unassigned,
              min(CASE WHEN c.status IN {_OPEN} AND {_LIVE} THEN c.waiting_since END) AS oldest,
              sum(c.status IN {_OPEN} AND c.status != 'on_hold' AND {_LIVE}
                  AND coalesce({_DUE} <= :soon, 0)) AS breaching,
              sum(c.created_at >= :since) AS arrivals
            FROM conversations c WHERE c.deleted_at IS NULL
            GROUP BY c.account, c.team_id""",
        params,
    ).fetchall()
    by_key = {(r["account"], r["team_id"]): r for r in rows}
    teams = store.conn.execute("SELECT id, account, name FROM teams ORDER BY name").fetchall()
    wanted = set(accounts) if accounts is not None else None
    result: list[QueueLoad] = []
    seen: set[tuple[str, int | None]] = set()
    for team in teams:
        key = (team["account"], team["id"])
        if wanted is not None and team["account"] not in wanted:
            continue
        seen.add(key)
        result.append(_queue(team["id"], team["account"], team["name"], by_key.get(key)))
    for (account, team_id), row in by_key.items():
        if (account, team_id) in seen or (wanted is not None and account not in wanted):
            continue
        if team_id is None and (row["backlog"] or row["arrivals"]):
            result.append(_queue(None, account, "No team", row))
    result.sort(key=lambda q: (-q.breaching, -q.backlog, q.name.casefold(), q.account))
    return result


def _queue(team_id: int | None, account: str, name: str, row) -> QueueLoad:
    return QueueLoad(
        team_id=team_id,
        account=account,
        name=name,
        backlog=(row["backlog"] or 0) if row else 0,
        unassigned=(row["unassigned"] or 0) if row else 0,
        oldest_waiting=from_iso(row["oldest"]) if row and row["oldest"] else None,
        breaching=(row["breaching"] or 0) if row else 0,
        arrivals_24h=(row["arrivals"] or 0) if row else 0,
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
