"""What the supervisor console reads: team load, reassignment facts, metrics, the audit log.

The figures themselves (medians, capacity, plans) are computed in `agentdesk.supervisor`; these
reads only fetch the rows, as small records, so SQL stays in the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from agentdesk.model import LOAD_STATUSES, OPEN_STATUSES
from agentdesk.timeutil import from_iso, to_iso

_OPEN = "('" + "','".join(OPEN_STATUSES) + "')"
_LOAD = "('" + "','".join(LOAD_STATUSES) + "')"
_DUE = "coalesce(c.first_response_due, c.next_response_due)"
_LIVE = "c.deleted_at IS NULL AND (c.snoozed_until IS NULL OR c.snoozed_until <= :now)"
_CHUNK = 900  # stay under SQLite's bound-parameter limit


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" for _ in items)


def _time(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


@dataclass(frozen=True, slots=True)
class AgentRef:
    id: int
    account: str
    external_id: str
    email: str
    name: str
    role: str
    presence: str | None
    capacity: int | None


@dataclass(frozen=True, slots=True)
class TeamRef:
    id: int
    account: str
    name: str


@dataclass(frozen=True, slots=True)
class AssigneeCounts:
    """An agent's live open work, as the team screen counts it."""

    open: int
    pending: int
    breaching: int
    oldest_waiting: datetime | None


@dataclass(frozen=True, slots=True)
class AgentReply:
    """A public agent reply, with when its conversation opened and its first reply came."""

    account: str
    author_external_id: str
    conversation_id: int
    created_at: datetime
    conversation_opened: datetime
    is_first_reply: bool


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """One (account, team) group of conversations; team_id None is "no team"."""

    account: str
    team_id: int | None
    backlog: int
    unassigned: int
    oldest_waiting: datetime | None
    breaching: int
    arrivals: int


@dataclass(frozen=True, slots=True)
class ReassignCandidate:
    """A conversation a reassignment may move, with its current assignee."""

    id: int
    account: str
    external_id: str
    subject: str
    status: str
    assignee_id: int | None
    team_id: int | None
    agent_email: str | None
    agent_name: str | None


@dataclass(frozen=True, slots=True)
class Assignment:
    assignee_id: int | None
    team_id: int | None


@dataclass(frozen=True, slots=True)
class ConversationOutcome:
    """What the metrics need of one conversation."""

    id: int
    account: str
    channel: str
    status: str
    created_at: datetime
    satisfaction: str | None
    agent: str | None
    team: str | None
    solved_at: datetime | None
    reopen_count: int
    first_reply: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A mutation as the audit log shows it."""

    id: str
    created_at: datetime
    updated_at: datetime
    who: str
    account: str
    external_id: str
    subject: str
    action: str
    payload: dict[str, object]
    state: str
    error: str | None


def _agent(row: sqlite3.Row) -> AgentRef:
    return AgentRef(
        row["id"],
        row["account"],
        row["external_id"],
        row["email"],
        row["name"],
        row["role"],
        row["presence"],
        row["capacity"],
    )


_AGENT_COLUMNS = (
    "ag.id, ag.account, ag.external_id, ag.email, ag.name, ag.role, ag.presence, ag.capacity"
)


class Supervision:
    """Mixed into Store: the reads behind team load, reassignment, metrics and the audit log."""

    conn: sqlite3.Connection

    # ------------------------------------------------------------ conversations
    def accounts_of(self, conversation_ids: Iterable[int]) -> set[str]:
        """The accounts the given conversations belong to."""
        ids = list(conversation_ids)
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            found |= {
                r[0]
                for r in self.conn.execute(
                    f"SELECT DISTINCT account FROM conversations WHERE id IN ({_marks(chunk)})",
                    chunk,
                )
            }
        return found

    def conversations_to_reassign(self, conversation_ids: Sequence[int]) -> list[ReassignCandidate]:
        """The live ones among `conversation_ids`, in the order given."""
        rows: list[sqlite3.Row] = []
        for start in range(0, len(conversation_ids), _CHUNK):
            chunk = list(conversation_ids[start : start + _CHUNK])
            rows += self.conn.execute(
                f"""SELECT c.id, c.account, c.external_id, c.subject, c.status, c.assignee_id,
                           c.team_id, ag.email AS agent_email, ag.name AS agent_name
                    FROM conversations c LEFT JOIN agents ag ON ag.id = c.assignee_id
                    WHERE c.id IN ({_marks(chunk)}) AND c.deleted_at IS NULL""",
                chunk,
            ).fetchall()
        order = {cid: i for i, cid in enumerate(conversation_ids)}
        rows.sort(key=lambda r: order[r["id"]])
        return [ReassignCandidate(*tuple(r)) for r in rows]

    def assignment(self, conversation_id: int) -> Assignment | None:
        """Who and which team a live conversation is with now (None: it is gone)."""
        row = self.conn.execute(
            "SELECT assignee_id, team_id FROM conversations WHERE id = ? AND deleted_at IS NULL",
            (conversation_id,),
        ).fetchone()
        return Assignment(row[0], row[1]) if row else None

    def agent_open_work(self, agent_id: int) -> list[int]:
        """Ids of the agent's live conversations that count as load (new, open, pending)."""
        return [
            r[0]
            for r in self.conn.execute(
                f"""SELECT id FROM conversations WHERE assignee_id = ? AND status IN {_LOAD}
                    AND deleted_at IS NULL ORDER BY id""",
                (agent_id,),
            )
        ]

    def queue_unassigned_work(self, account: str, team_id: int | None) -> list[int]:
        """Ids of a team's (None: no team's) live unassigned new, open or pending work."""
        return [
            r[0]
            for r in self.conn.execute(
                f"""SELECT id FROM conversations WHERE account = ? AND team_id IS ?
                    AND assignee_id IS NULL AND status IN {_LOAD}
                    AND deleted_at IS NULL ORDER BY id""",
                (account, team_id),
            )
        ]

    # ------------------------------------------------------------ agents and teams
    def agent_by_email(self, account: str, email: str) -> AgentRef | None:
        row = self.conn.execute(
            f"SELECT {_AGENT_COLUMNS} FROM agents ag WHERE ag.account = ? AND ag.email = ?",
            (account, email.lower()),
        ).fetchone()
        return _agent(row) if row else None

    def agents_by_id(self, agent_ids: Iterable[int]) -> dict[int, AgentRef]:
        ids = sorted(set(agent_ids))
        found: dict[int, AgentRef] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for row in self.conn.execute(
                f"SELECT {_AGENT_COLUMNS} FROM agents ag WHERE ag.id IN ({_marks(chunk)})",
                chunk,
            ):
                found[row["id"]] = _agent(row)
        return found

    def agent_email(self, agent_id: int) -> str | None:
        row = self.conn.execute("SELECT email FROM agents WHERE id = ?", (agent_id,)).fetchone()
        return row[0] if row else None

    def agents_with_email(self, accounts: Sequence[str] | None = None) -> list[AgentRef]:
        """Agents one can assign to (they have an email), by name, on the accounts given."""
        where, args = "", ()
        if accounts is not None:
            where, args = f"AND ag.account IN ({_marks(accounts) or 'NULL'})", tuple(accounts)
        rows = self.conn.execute(
            f"""SELECT {_AGENT_COLUMNS} FROM agents ag WHERE ag.email != '' {where}
                ORDER BY ag.name, ag.account""",
            args,
        )
        return [_agent(r) for r in rows]

    def team_by_name(self, account: str, name: str) -> TeamRef | None:
        row = self.conn.execute(
            "SELECT id, account, name FROM teams WHERE account = ? AND lower(name) = ?",
            (account, name.lower()),
        ).fetchone()
        return TeamRef(*tuple(row)) if row else None

    def team_name(self, team_id: int) -> str | None:
        row = self.conn.execute("SELECT name FROM teams WHERE id = ?", (team_id,)).fetchone()
        return row[0] if row else None

    def all_teams(self) -> list[TeamRef]:
        return [
            TeamRef(*tuple(r))
            for r in self.conn.execute("SELECT id, account, name FROM teams ORDER BY name")
        ]

    def team_members(self, team_id: int) -> list[AgentRef]:
        """The team's assignable agents (with an email), by name."""
        rows = self.conn.execute(
            f"""SELECT {_AGENT_COLUMNS} FROM agents ag
                JOIN team_members tm ON tm.agent_id = ag.id
                WHERE tm.team_id = ? AND ag.email != '' ORDER BY ag.name, ag.id""",
            (team_id,),
        )
        return [_agent(r) for r in rows]

    def team_names_on(self, accounts: Sequence[str]) -> list[str]:
        """Distinct team names on the given accounts, sorted."""
        return [
            r[0]
            for r in self.conn.execute(
                f"SELECT DISTINCT name FROM teams WHERE account IN ({_marks(accounts)}) "
                "ORDER BY name",
                list(accounts),
            )
        ]

    def assignable_agents_on(self, accounts: Sequence[str]) -> list[tuple[str, str, str | None]]:
        """(email, name, presence) per agent email on the given accounts, by name."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                f"""SELECT email, min(name) AS name, max(presence) AS presence FROM agents
                    WHERE account IN ({_marks(accounts)}) AND email != ''
                    GROUP BY email ORDER BY name""",
                list(accounts),
            )
        ]

    # ------------------------------------------------------------ load
    def capacity_loads(self, agent_ids: Iterable[int]) -> dict[int, int]:
        """Each agent's live new/open/pending conversations (0 when none)."""
        ids = sorted(set(agent_ids))
        found: dict[int, int] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            found |= dict(
                self.conn.execute(
                    f"""SELECT assignee_id, count(*) FROM conversations
                        WHERE assignee_id IN ({_marks(chunk)}) AND status IN {_LOAD}
                          AND deleted_at IS NULL
                        GROUP BY assignee_id""",
                    chunk,
                ).fetchall()
            )
        return {i: found.get(i, 0) for i in ids}

    def assignee_counts(self, now: datetime, soon: datetime) -> dict[int, AssigneeCounts]:
        """Per assignee: live open work, breaching (SLA due by `soon`) and oldest waiting."""
        params = {"now": to_iso(now), "soon": to_iso(soon)}
        return {
            row["assignee_id"]: AssigneeCounts(
                open=int(row["open"]),
                pending=int(row["pending"]),
                breaching=int(row["breaching"]),
                oldest_waiting=_time(row["oldest"]),
            )
            for row in self.conn.execute(
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

    def agent_replies_since(self, since: datetime) -> list[AgentReply]:
        """Public replies by identified agents since `since` on live conversations."""
        rows = self.conn.execute(
            """SELECT m.account, m.author_external_id, m.conversation_id, m.created_at,
                      c.created_at AS opened,
                      (SELECT min(f.created_at) FROM messages f WHERE f.conversation_id =
                         m.conversation_id AND f.kind = 'reply' AND f.author_kind = 'agent')
                         AS first
               FROM messages m JOIN conversations c ON c.id = m.conversation_id
               WHERE m.kind = 'reply' AND m.author_kind = 'agent' AND m.created_at >= :today
                 AND m.author_external_id IS NOT NULL AND c.deleted_at IS NULL""",
            {"today": to_iso(since)},
        )
        return [
            AgentReply(
                account=r["account"],
                author_external_id=r["author_external_id"],
                conversation_id=r["conversation_id"],
                created_at=from_iso(r["created_at"]),
                conversation_opened=from_iso(r["opened"]),
                is_first_reply=r["first"] == r["created_at"],
            )
            for r in rows
        ]

    def queue_counts(
        self, now: datetime, soon: datetime, since: datetime
    ) -> dict[tuple[str, int | None], QueueCounts]:
        """Per (account, team): backlog, unassigned, oldest, breaching, arrivals since `since`."""
        params = {"now": to_iso(now), "soon": to_iso(soon), "since": to_iso(since)}
        rows = self.conn.execute(
            f"""SELECT c.account, c.team_id,
                  sum(c.status IN {_OPEN} AND {_LIVE}) AS backlog,
                  sum(c.status IN {_OPEN} AND {_LIVE} AND c.assignee_id IS NULL) AS unassigned,
                  min(CASE WHEN c.status IN {_OPEN} AND {_LIVE} THEN c.waiting_since END)
                    AS oldest,
                  sum(c.status IN {_OPEN} AND c.status != 'on_hold' AND {_LIVE}
                      AND coalesce({_DUE} <= :soon, 0)) AS breaching,
                  sum(c.created_at >= :since) AS arrivals
                FROM conversations c WHERE c.deleted_at IS NULL
                GROUP BY c.account, c.team_id""",
            params,
        ).fetchall()
        return {
            (r["account"], r["team_id"]): QueueCounts(
                account=r["account"],
                team_id=r["team_id"],
                backlog=r["backlog"] or 0,
                unassigned=r["unassigned"] or 0,
                oldest_waiting=_time(r["oldest"]),
                breaching=r["breaching"] or 0,
                arrivals=r["arrivals"] or 0,
            )
            for r in rows
        }

    # ------------------------------------------------------------ metrics
    def conversation_outcomes(self, start: datetime, end: datetime) -> list[ConversationOutcome]:
        """Live conversations created in `[start, end)`, with their first public agent reply."""
        rows = self.conn.execute(
            """SELECT c.id, c.account, c.channel, c.status, c.created_at,
                      c.satisfaction, coalesce(nullif(ag.name, ''), ag.email) AS agent,
                      t.name AS team,
                      c.solved_at, c.reopen_count,
                      (SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id
                         AND m.kind = 'reply' AND m.author_kind = 'agent') AS first_reply
               FROM conversations c
               LEFT JOIN agents ag ON ag.id = c.assignee_id
               LEFT JOIN teams t ON t.id = c.team_id
               WHERE c.deleted_at IS NULL AND c.created_at >= ? AND c.created_at < ?""",
            (to_iso(start), to_iso(end)),
        ).fetchall()
        return [
            ConversationOutcome(
                id=r["id"],
                account=r["account"],
                channel=r["channel"],
                status=r["status"],
                created_at=from_iso(r["created_at"]),
                satisfaction=r["satisfaction"],
                agent=r["agent"],
                team=r["team"],
                solved_at=_time(r["solved_at"]),
                reopen_count=r["reopen_count"],
                first_reply=_time(r["first_reply"]),
            )
            for r in rows
        ]

    def backlog_spans(
        self, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime | None]]:
        """(created, resolved or None) of live conversations open at some point in the period."""
        rows = self.conn.execute(
            """SELECT c.created_at, CASE WHEN c.status IN ('solved', 'closed')
                      THEN coalesce(c.solved_at, c.updated_at) END AS done
               FROM conversations c WHERE c.deleted_at IS NULL AND c.created_at < ?
                 AND (c.status NOT IN ('solved', 'closed')
                      OR coalesce(c.solved_at, c.updated_at) >= ?)""",
            (to_iso(end), to_iso(start)),
        ).fetchall()
        return [(from_iso(r[0]), _time(r[1])) for r in rows]

    # ------------------------------------------------------------ outbox batches and audit
    def batch_mutation_ids(self, batch: str) -> list[str]:
        """The outbox ids of a reassignment batch, in the order they were queued."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM outbox WHERE json_extract(payload, '$.batch') = ? ORDER BY seq",
                (batch,),
            )
        ]

    def recent_batches(self, limit: int = 20) -> list[tuple[str, int, str]]:
        """(batch id, mutations, created_at) of the latest batches, newest first."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                """SELECT json_extract(payload, '$.batch') AS b, count(*), min(created_at)
                   FROM outbox WHERE b IS NOT NULL GROUP BY b ORDER BY min(seq) DESC LIMIT ?""",
                (limit,),
            )
        ]

    def outbox_log(
        self,
        *,
        since: datetime | None = None,
        accounts: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[OutboxEntry]:
        """Mutations newest first, with their conversation and who queued them."""
        clauses = ["1"]
        args: list[object] = []
        if since is not None:
            clauses.append("o.created_at >= ?")
            args.append(to_iso(since))
        if accounts is not None:
            clauses.append(f"o.account IN ({_marks(accounts) or 'NULL'})")
            args += list(accounts)
        sql = f"""SELECT o.*, c.external_id, c.subject, ac.user AS who
                  FROM outbox o JOIN conversations c ON c.id = o.conversation_id
                  LEFT JOIN accounts ac ON ac.name = o.account
                  WHERE {" AND ".join(clauses)} ORDER BY o.seq DESC"""
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [
            OutboxEntry(
                id=r["id"],
                created_at=from_iso(r["created_at"]),
                updated_at=from_iso(r["updated_at"]),
                who=r["who"] or "",
                account=r["account"],
                external_id=r["external_id"],
                subject=r["subject"],
                action=r["action"],
                payload=json.loads(r["payload"]),
                state=r["state"],
                error=r["error"],
            )
            for r in self.conn.execute(sql, args)
        ]

    # ------------------------------------------------------------ accounts
    def has_account(self, name: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone()
            is not None
        )
