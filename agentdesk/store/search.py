"""Compile a parsed query (agentdesk.query) to SQL over the cache.

Results are never capped: the caller gets every matching id in order and windows over it.
"Best match" ranks by bm25 only within the newest BEST_MATCH_WINDOW matches, so it stays fast
on a million messages; beyond the window, results continue newest first.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agentdesk.model import OPEN_STATUSES
from agentdesk.query import Filter, Query
from agentdesk.store.outbox import LOCAL_MESSAGE_PREFIX
from agentdesk.store.textindex import THREAD_SHIFT, query_terms
from agentdesk.timeutil import to_iso, utcnow

BEST_MATCH_WINDOW = 2000
_LOCAL_END = LOCAL_MESSAGE_PREFIX[:-1] + chr(ord(LOCAL_MESSAGE_PREFIX[-1]) + 1)
SCORED_MESSAGES = 5000
_OPEN = "('" + "','".join(OPEN_STATUSES) + "')"
_NOT_SNOOZED = "(c.snoozed_until IS NULL OR c.snoozed_until <= :now)"
_ME = (
    "(SELECT ag.id FROM agents ag JOIN accounts ac ON ac.name = ag.account "
    "AND ag.external_id = ac.user_external_id)"
)
_IS = {
    "open": f"(c.status IN {_OPEN} AND {_NOT_SNOOZED})",
    "unassigned": f"(c.assignee_id IS NULL AND c.status IN {_OPEN} AND {_NOT_SNOOZED})",
    "snoozed": "(c.snoozed_until IS NOT NULL AND c.snoozed_until > :now)",
    "breaching": (
        f"(c.status IN {_OPEN} AND c.status != 'on_hold' AND "
        "coalesce(c.first_response_due, c.next_response_due) <= :soon)"
    ),
    "mine": f"c.assignee_id IN {_ME}",
    "pending_sync": (
        "c.id IN (SELECT conversation_id FROM outbox WHERE state IN ('pending', 'sending'))"
    ),
    "conflict": "c.id IN (SELECT conversation_id FROM outbox WHERE state = 'conflict')",
}
_ORDER = {
    "updated": "c.updated_at DESC, c.id DESC",
    "created": "c.created_at DESC, c.id DESC",
    "sla": (
        "coalesce(c.first_response_due, c.next_response_due) IS NULL, "
        "coalesce(c.first_response_due, c.next_response_due), c.id"
    ),
    "waiting": "c.waiting_since IS NULL, c.waiting_since, c.id",
    "priority": "c.priority_rank DESC, c.updated_at DESC, c.id DESC",
}
AT_RISK_MINUTES = 30


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    where: str
    params: dict[str, object]
    order: str
    text_match: str | None


class _Compiler:
    def __init__(self) -> None:
        self.params: dict[str, object] = {}

    def bind(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def binds(self, values: tuple[str, ...]) -> str:
        return "(" + ", ".join(self.bind(v) for v in values) + ")"

    def filter(self, item: Filter) -> str:
        key, values = item.key, item.values
        if key in ("status", "channel", "priority", "account"):
            clause = f"c.{key} IN {self.binds(values)}"
        elif key == "id":
            clause = f"c.external_id IN {self.binds(values)}"
        elif key == "tag":
            lowered = tuple(v.lower() for v in values)
            clause = (
                "c.id IN (SELECT conversation_id FROM conversation_tags "
                f"WHERE lower(tag) IN {self.binds(lowered)})"
            )
        elif key == "assignee":
            parts = []
            named = tuple(v.lower() for v in values if v.lower() not in ("me", "none", "nobody"))
            if any(v.lower() == "me" for v in values):
                parts.append(f"c.assignee_id IN {_ME}")
            if any(v.lower() in ("none", "nobody") for v in values):
                parts.append("c.assignee_id IS NULL")
            if named:
                parts.append(
                    "c.assignee_id IN (SELECT id FROM agents WHERE email IN "
                    f"{self.binds(named)} OR lower(name) IN {self.binds(named)})"
                )
            clause = "(" + " OR ".join(parts) + ")"
        elif key == "team":
            lowered = tuple(v.lower() for v in values)
            clause = f"c.team_id IN (SELECT id FROM teams WHERE lower(name) IN {self.binds(lowered)})"
        elif key == "customer":
            lowered = tuple(v.lower() for v in values)
            clause = (
                "c.customer_id IN (SELECT customer_id FROM identities WHERE value IN "
                f"{self.binds(lowered)} UNION SELECT id FROM customers WHERE lower(name) IN "
                f"{self.binds(lowered)})"
            )
        elif key == "is":
            clause = "(" + " OR ".join(_IS[v] for v in values) + ")"
        else:  # pragma: no cover - the parser only lets known keys through
            raise ValueError(key)
        return f"NOT {clause}" if item.negated else clause

    def term(self, term: str) -> str | None:
        expression = query_terms(term)
        if not expression:
            return None
        bound = self.bind(expression)
        # search_threads holds subjects and synced messages keyed by conversation (rowid >> 32):
        # one doclist walk, no lookup per matching message. The outbox's optimistic replies
        # (a handful, `local:` ids) are only in search_bodies: probe those few by rowid.
        accounts = "(SELECT name FROM accounts)"
        return (
            f"c.id IN (SELECT rowid >> {THREAD_SHIFT} FROM search_threads "
            f"WHERE search_threads MATCH {bound} "
            "UNION ALL SELECT m.conversation_id FROM messages m "
            f"WHERE m.account IN {accounts} AND m.external_id >= '{LOCAL_MESSAGE_PREFIX}' "
            f"AND m.external_id < '{_LOCAL_END}' AND EXISTS (SELECT 1 FROM search_bodies "
            f"WHERE search_bodies MATCH {bound} AND search_bodies.rowid = m.id))"
        )


def compile_query(query: Query, *, hide_snoozed: bool = False) -> CompiledQuery:
    compiler = _Compiler()
    clauses = ["c.deleted_at IS NULL"]
    if hide_snoozed and not any(f.key == "is" and "snoozed" in f.values for f in query.filters):
        clauses.append(_NOT_SNOOZED)
    clauses += [compiler.filter(f) for f in query.filters]
    text_parts = [t for t in (compiler.term(term) for term in query.terms) if t]
    clauses += text_parts
    expression = " AND ".join(query_terms(t) for t in query.terms if query_terms(t)) or None
    now = utcnow()
    compiler.params["now"] = to_iso(now)
    from datetime import timedelta

    compiler.params["soon"] = to_iso(now + timedelta(minutes=AT_RISK_MINUTES))
    order = _ORDER.get(query.sort, _ORDER["updated"])
    return CompiledQuery(" AND ".join(clauses), compiler.params, order, expression)


def matching_ids(
    conn: sqlite3.Connection,
    query: Query,
    *,
    hide_snoozed: bool = False,
    limit: int | None = None,
) -> list[int]:
    """Every conversation matching `query`, in its order (no cap unless `limit` is given:
    start-up paints the first rows before the whole list is read)."""
    compiled = compile_query(query, hide_snoozed=hide_snoozed)
    if query.sort == "best" and compiled.text_match:
        ranked = _best_match(conn, compiled)
        return ranked if limit is None else ranked[:limit]
    rows = conn.execute(
        f"SELECT c.id FROM conversations c WHERE {compiled.where} ORDER BY {compiled.order} "
        "LIMIT :match_limit",
        {**compiled.params, "match_limit": -1 if limit is None else limit},
    ).fetchall()
    return [r[0] for r in rows]


def count(conn: sqlite3.Connection, query: Query, *, hide_snoozed: bool = False) -> int:
    compiled = compile_query(query, hide_snoozed=hide_snoozed)
    return conn.execute(
        f"SELECT count(*) FROM conversations c WHERE {compiled.where}", compiled.params
    ).fetchone()[0]


def _best_match(conn: sqlite3.Connection, compiled: CompiledQuery) -> list[int]:
    newest = [
        r[0]
        for r in conn.execute(
            f"SELECT c.id FROM conversations c WHERE {compiled.where} "
            f"ORDER BY {_ORDER['updated']}",
            compiled.params,
        )
    ]
    window = newest[:BEST_MATCH_WINDOW]
    if not window:
        return []
    in_window = set(window)
    # Rank a conversation by its best-scoring message or subject (bm25: lower is better).
    # bm25 is computed only for the newest SCORED_MESSAGES matching messages (FTS5 walks its
    # doclist by rowid, newest first, and stops): a full bm25 sort of a common word over 1M
    # messages takes seconds, this takes milliseconds. Older matches rank by recency.
    scores: dict[int, float] = {}
    for conversation_id, score in conn.execute(
        f"""SELECT rowid >> {THREAD_SHIFT}, bm25(search_threads) FROM search_threads
            WHERE search_threads MATCH ? ORDER BY rowid DESC LIMIT ?""",
        (compiled.text_match, SCORED_MESSAGES),
    ):
        if conversation_id in in_window:
            scores[conversation_id] = min(score, scores.get(conversation_id, 0.0))
    position = {cid: i for i, cid in enumerate(window)}
    ranked = sorted(window, key=lambda cid: (scores.get(cid, 0.0), position[cid]))
    return ranked + newest[BEST_MATCH_WINDOW:]
