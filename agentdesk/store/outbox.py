"""Mutations: every user action, queued durably and applied optimistically in one transaction.

A mutation's UUID is also its idempotency key. States:
pending -> sending -> applied | conflict | failed, or cancelled (undone before it was sent).
While a mutation is pending its effect is an overlay on the cached conversation: a pull that
brings the server's copy re-applies the overlay, so the agent never sees their action vanish.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from agentdesk.model import PRIORITIES, RESOLVED_STATUSES, STATUSES
from agentdesk.store.textindex import index_text
from agentdesk.timeutil import from_iso, to_iso, utcnow

Action = Literal["reply", "note", "status", "priority", "tags", "assign", "snooze"]
ACTIONS: tuple[Action, ...] = ("reply", "note", "status", "priority", "tags", "assign", "snooze")
MutationState = Literal["pending", "sending", "applied", "conflict", "failed", "cancelled"]
LIVE_STATES = ("pending", "sending")
LOCAL_MESSAGE_PREFIX = "local:"
PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
# What the user gave for each action (the rest of a payload is resolved from the store).
_USER_KEYS: dict[str, frozenset[str]] = {
    "reply": frozenset({"text"}),
    "note": frozenset({"text"}),
    "status": frozenset({"status"}),
    "priority": frozenset({"priority"}),
    "tags": frozenset({"add", "remove"}),
    "assign": frozenset({"agent_email", "team", "unassign", "batch", "undoes"}),
    "snooze": frozenset({"until"}),
}


class MutationError(ValueError):
    """The action cannot be queued (bad argument, unknown conversation); says why."""


class UnknownConversation(MutationError):
    pass


@dataclass(frozen=True, slots=True)
class Mutation:
    id: str
    seq: int
    account: str
    conversation_id: int
    conversation_external_id: str
    action: Action
    payload: dict[str, object]
    base: dict[str, object]
    base_version: str
    state: MutationState
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None


def _mutation(row: sqlite3.Row) -> Mutation:
    return Mutation(
        id=row["id"],
        seq=row["seq"],
        account=row["account"],
        conversation_id=row["conversation_id"],
        conversation_external_id=row["external_id"],
        action=row["action"],
        payload=json.loads(row["payload"]),
        base=json.loads(row["base"]),
        base_version=row["base_version"],
        state=row["state"],
        error=row["error"],
        attempts=row["attempts"],
        created_at=from_iso(row["created_at"]),
        updated_at=from_iso(row["updated_at"]),
        next_attempt_at=from_iso(row["next_attempt_at"]) if row["next_attempt_at"] else None,
    )


_SELECT = """SELECT o.*, c.external_id FROM outbox o
             JOIN conversations c ON c.id = o.conversation_id"""


class Outbox:
    """Mixed into Store: the mutation API every user action goes through."""

    conn: sqlite3.Connection

    # ------------------------------------------------------------ queueing
    def queue(
        self,
        conversation_id: int,
        action: Action,
        payload: Mapping[str, object],
        *,
        hold: timedelta | None = None,
    ) -> Mutation:
        """Record the action and apply it to the cache, durably, in one transaction.

        `hold` keeps it from being sent for that long (the agent's undo window): the push
        skips a mutation until its `next_attempt_at`, and `cancel` works until it is sent.
        """
        payload = self._validate(action, dict(payload))
        with self.transaction(durable=True):  # type: ignore[attr-defined]
            row = self.conn.execute(
                "SELECT * FROM conversations WHERE id = ? AND deleted_at IS NULL",
                (conversation_id,),
            ).fetchone()
            if row is None:
                raise UnknownConversation(f"no conversation with id {conversation_id}")
            payload = self._resolve(row, action, payload)
            mutation_id = str(uuid.uuid4())
            moment = utcnow()
            now = to_iso(moment)
            held = to_iso(moment + hold) if hold else None
            seq = self.conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM outbox").fetchone()[0]
            payload_json = json.dumps(payload, ensure_ascii=False)
            base_json = json.dumps(self._base(row, action), ensure_ascii=False)
            self.conn.execute(
                """INSERT INTO outbox (id, seq, account, conversation_id, action, payload, base,
                     base_version, state, created_at, updated_at, next_attempt_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)""",
                (
                    mutation_id,
                    seq,
                    row["account"],
                    conversation_id,
                    action,
                    payload_json,
                    base_json,
                    row["version"],
                    now,
                    now,
                    held,
                ),
            )
            self._overlay(row, mutation_id, action, payload, now)
            if action == "status":
                self._status_history(conversation_id, row["status"], str(payload["status"]), now)
        # Built from what was just written (no read back: this sits on every keypress's path).
        at = from_iso(now)
        return Mutation(
            id=mutation_id,
            seq=seq,
            account=row["account"],
            conversation_id=conversation_id,
            conversation_external_id=row["external_id"],
            action=action,
            payload=json.loads(payload_json),  # exactly what a read would give
            base=json.loads(base_json),
            base_version=row["version"],
            state="pending",
            error=None,
            attempts=0,
            created_at=at,
            updated_at=at,
            next_attempt_at=from_iso(held) if held else None,
        )

    def conversation_by_external_id(self, account: str, external_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM conversations WHERE account = ? AND external_id = ? "
            "AND deleted_at IS NULL",
            (account, external_id),
        ).fetchone()
        return row[0] if row else None

    def _validate(self, action: str, payload: dict[str, object]) -> dict[str, object]:
        if action not in ACTIONS:
            raise MutationError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        if action in ("reply", "note"):
            text = payload.get("text")
            if not isinstance(text, str) or not text.strip():
                raise MutationError(f"a {action} needs some text")
        elif action == "status":
            if payload.get("status") not in STATUSES:
                raise MutationError(f"status must be one of {', '.join(STATUSES)}")
        elif action == "priority":
            if payload.get("priority") not in PRIORITIES:
                raise MutationError(f"priority must be one of {', '.join(PRIORITIES)}")
        elif action == "tags":
            add = payload.get("add", [])
            remove = payload.get("remove", [])
            if not isinstance(add, list) or not isinstance(remove, list) or not (add or remove):
                raise MutationError("tags needs +TAG to add or -TAG to remove")
            if not all(isinstance(t, str) and t.strip() and " " not in t for t in add + remove):
                raise MutationError("tags are single words without spaces")
        elif action == "assign":
            if not (payload.get("agent_email") or payload.get("team") or payload.get("unassign")):
                raise MutationError("assign needs an agent's email or team:NAME")
        elif action == "snooze":
            until = payload.get("until")
            if not isinstance(until, str):
                raise MutationError("snooze needs a time")
            try:
                from_iso(until)
            except ValueError:
                raise MutationError(f"{until!r} is not a time") from None
        return payload

    def _resolve(
        self, row: sqlite3.Row, action: str, payload: dict[str, object]
    ) -> dict[str, object]:
        """Turn names the user typed into the account's own ids, failing clearly."""
        if action != "assign":
            return payload
        # Bookkeeping a supervisor's batch carries through (batch id, the batch it undoes).
        extra = {k: payload[k] for k in ("batch", "undoes") if k in payload}
        account = row["account"]
        if email := payload.get("agent_email"):
            agent = self.conn.execute(
                "SELECT id, external_id, name FROM agents WHERE account = ? AND email = ?",
                (account, str(email).lower()),
            ).fetchone()
            if agent is None:
                raise MutationError(f"no agent {email} on account {account}")
            return {
                "agent_email": str(email).lower(),
                "agent_external_id": agent["external_id"],
                "agent_id": agent["id"],
                "agent_name": agent["name"],
                **extra,
            }
        if team := payload.get("team"):
            found = self.conn.execute(
                "SELECT id, external_id, name FROM teams WHERE account = ? AND lower(name) = ?",
                (account, str(team).lower()),
            ).fetchone()
            if found is None:
                raise MutationError(f"no team {team!r} on account {account}")
            return {
                "team": found["name"],
                "team_external_id": found["external_id"],
                "team_id": found["id"],
                **extra,
            }
        return {"unassign": True, **extra}

    def _base(self, row: sqlite3.Row, action: str) -> dict[str, object]:
        """The field values this action was based on, for per-field conflict checks."""
        if action == "status":
            # solved_at: restored if the change is undone or refused.
            return {"status": row["status"], "solved_at": row["solved_at"]}
        if action == "priority":
            return {"priority": row["priority"]}
        if action == "tags":
            return {"tags": json.loads(row["tags"])}
        if action == "assign":
            ids = self.conn.execute(
                """SELECT (SELECT external_id FROM agents WHERE id = ?),
                          (SELECT external_id FROM teams WHERE id = ?)""",
                (row["assignee_id"], row["team_id"]),
            ).fetchone()
            return {
                "assignee_id": row["assignee_id"],
                "team_id": row["team_id"],
                "assignee_external_id": ids[0],
                "team_external_id": ids[1],
            }
        if action == "snooze":
            return {"snoozed_until": row["snoozed_until"]}
        return {"last_message_at": row["last_message_at"]}

    # ------------------------------------------------------------ the overlay
    def _overlay(
        self,
        row: sqlite3.Row,
        mutation_id: str,
        action: str,
        payload: Mapping[str, object],
        now: str,
    ) -> None:
        conn = self.conn
        conversation_id = row["id"]
        if action in ("reply", "note"):
            me = conn.execute(
                """SELECT ag.name FROM agents ag JOIN accounts ac ON ac.name = ag.account
                   AND ag.external_id = ac.user_external_id WHERE ac.name = ?""",
                (row["account"],),
            ).fetchone()
            inserted = conn.execute(
                """INSERT OR IGNORE INTO messages (conversation_id, account, external_id, kind,
                     author_kind, author_name, channel, body, created_at)
                   VALUES (?, ?, ?, ?, 'agent', ?, ?, ?, ?) RETURNING id""",
                (
                    conversation_id,
                    row["account"],
                    LOCAL_MESSAGE_PREFIX + mutation_id,
                    action,
                    me[0] if me else "me",
                    row["channel"],
                    payload["text"],
                    now,
                ),
            ).fetchone()
            if inserted is not None:
                # Indexed like any message, so a later pull can replace it consistently.
                conn.execute(
                    "INSERT INTO search_bodies (rowid, body) VALUES (?, ?)",
                    (inserted[0], index_text(str(payload["text"]))),
                )
            if action == "reply":
                conn.execute(
                    """UPDATE conversations SET waiting_since = NULL, first_response_due = NULL,
                         next_response_due = NULL, last_message_at = ?, message_count =
                         message_count + 1 WHERE id = ?""",
                    (now, conversation_id),
                )
        elif action == "status":
            conn.execute(
                "UPDATE conversations SET status = ? WHERE id = ?",
                (payload["status"], conversation_id),
            )
        elif action == "priority":
            conn.execute(
                "UPDATE conversations SET priority = ?, priority_rank = ? WHERE id = ?",
                (payload["priority"], PRIORITY_RANK[str(payload["priority"])], conversation_id),
            )
        elif action == "tags":
            current = conn.execute(
                "SELECT tags FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()[0]
            tags = [t for t in json.loads(current) if t not in payload.get("remove", [])]
            tags += [t for t in payload.get("add", []) if t not in tags]  # type: ignore[union-attr]
            conn.execute(
                "UPDATE conversations SET tags = ? WHERE id = ?",
                (json.dumps(tags, ensure_ascii=False), conversation_id),
            )
            conn.execute(
                "DELETE FROM conversation_tags WHERE conversation_id = ?", (conversation_id,)
            )
            conn.executemany(
                "INSERT OR IGNORE INTO conversation_tags (conversation_id, tag) VALUES (?, ?)",
                [(conversation_id, t) for t in tags],
            )
        elif action == "assign":
            if payload.get("unassign"):
                conn.execute(
                    "UPDATE conversations SET assignee_id = NULL WHERE id = ?", (conversation_id,)
                )
            elif "agent_id" in payload:
                conn.execute(
                    "UPDATE conversations SET assignee_id = ? WHERE id = ?",
                    (payload["agent_id"], conversation_id),
                )
            else:
                conn.execute(
                    "UPDATE conversations SET team_id = ? WHERE id = ?",
                    (payload["team_id"], conversation_id),
                )
        elif action == "snooze":
            conn.execute(
                "UPDATE conversations SET snoozed_until = ? WHERE id = ?",
                (payload["until"], conversation_id),
            )

    def _status_history(self, conversation_id: int, old: str, new: str, now: str) -> None:
        """A status change made here counts in the metrics at once (offline too): solving
        sets solved_at, moving solved/closed work back to open counts a reopen. Only when
        queued: re-applying the overlay after a pull must not count it again."""
        if new in RESOLVED_STATUSES and old not in RESOLVED_STATUSES:
            self.conn.execute(
                "UPDATE conversations SET solved_at = ? WHERE id = ?", (now, conversation_id)
            )
        elif old in RESOLVED_STATUSES and new not in RESOLVED_STATUSES:
            self.conn.execute(
                "UPDATE conversations SET reopen_count = reopen_count + 1 WHERE id = ?",
                (conversation_id,),
            )

    def rebase_after(self, mutation: Mutation, side_effects: Mapping[str, str]) -> None:
        """The server changed these fields as a result of `mutation` itself: the changes
        queued after it on the same conversation are now based on those values."""
        with self.transaction():  # type: ignore[attr-defined]
            for name, value in side_effects.items():
                self.conn.execute(
                    """UPDATE outbox SET base = json_set(base, '$.' || ?, ?)
                       WHERE conversation_id = ? AND seq > ? AND state IN ('pending', 'sending')
                         AND json_extract(base, '$.' || ?) IS NOT NULL""",
                    (name, value, mutation.conversation_id, mutation.seq, name),
                )

    def reapply_overlays(self, conversation_id: int) -> None:
        """After a pull replaced a conversation with the server's copy, put back what the
        agent did that the server has not seen yet (called inside the page transaction)."""
        for mutation in self.mutations(conversation_id=conversation_id, states=LIVE_STATES):
            if mutation.action in ("reply", "note"):
                continue  # the local message row survives pulls on its own
            row = self.conn.execute(
                "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            self._overlay(
                row, mutation.id, mutation.action, mutation.payload, to_iso(mutation.created_at)
            )

    # ------------------------------------------------------------ reading
    def mutation(self, mutation_id: str) -> Mutation | None:
        row = self.conn.execute(f"{_SELECT} WHERE o.id = ?", (mutation_id,)).fetchone()
        return _mutation(row) if row else None

    def mutations(
        self,
        *,
        conversation_id: int | None = None,
        account: str | None = None,
        states: Sequence[str] | None = None,
    ) -> list[Mutation]:
        clauses: list[str] = []
        args: list[object] = []
        if conversation_id is not None:
            clauses.append("o.conversation_id = ?")
            args.append(conversation_id)
        if account is not None:
            clauses.append("o.account = ?")
            args.append(account)
        if states:
            clauses.append(f"o.state IN ({','.join('?' for _ in states)})")
            args.extend(states)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(f"{_SELECT}{where} ORDER BY o.seq", args).fetchall()
        return [_mutation(r) for r in rows]

    def conversation_sync_state(self, conversation_ids: Sequence[int]) -> dict[int, str]:
        """Per conversation, the most pressing outbox state: conflict > failed > pending."""
        if not conversation_ids:
            return {}
        marks = ",".join("?" for _ in conversation_ids)
        rows = self.conn.execute(
            f"""SELECT conversation_id, state FROM outbox
                WHERE conversation_id IN ({marks})
                AND state IN ('pending', 'sending', 'conflict', 'failed')""",
            tuple(conversation_ids),
        ).fetchall()
        order = {"conflict": 0, "failed": 1, "sending": 2, "pending": 2}
        result: dict[int, str] = {}
        for conversation_id, state in rows:
            label = "pending" if state == "sending" else state
            current = result.get(conversation_id)
            if current is None or order[state] < order[current]:
                result[conversation_id] = label
        return result

    # ------------------------------------------------------------ state changes
    def _set_state(self, mutation_id: str, state: str, error: str | None = None, **extra) -> None:
        sets = ", ".join(["state = ?", "error = ?", "updated_at = ?", *(f"{k} = ?" for k in extra)])
        self.conn.execute(
            f"UPDATE outbox SET {sets} WHERE id = ?",
            (state, error, to_iso(utcnow()), *extra.values(), mutation_id),
        )

    def mark_sending(self, mutation_id: str) -> None:
        with self.transaction(durable=True):  # type: ignore[attr-defined]
            self.conn.execute(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? "
                "WHERE id = ? AND state IN ('pending', 'sending')",
                (to_iso(utcnow()), mutation_id),
            )

    def mark_retry(self, mutation_id: str, error: str, next_attempt_at: datetime) -> None:
        """A transient failure: back to pending, to be tried again after `next_attempt_at`."""
        with self.transaction():  # type: ignore[attr-defined]
            self._set_state(mutation_id, "pending", error, next_attempt_at=to_iso(next_attempt_at))

    def mark_applied(
        self, mutation_id: str, *, message_external_id: str | None = None,
        version: str | None = None,
    ) -> None:
        with self.transaction(durable=True):  # type: ignore[attr-defined]
            mutation = self.mutation(mutation_id)
            if mutation is None:
                return
            self._set_state(mutation_id, "applied")
            if message_external_id:
                # The local copy becomes the server's message; the next pull upserts it.
                self.conn.execute(
                    "UPDATE OR IGNORE messages SET external_id = ? WHERE account = ? "
                    "AND external_id = ?",
                    (message_external_id, mutation.account, LOCAL_MESSAGE_PREFIX + mutation_id),
                )
            if version:
                self.conn.execute(
                    "UPDATE conversations SET version = ? WHERE id = ?",
                    (version, mutation.conversation_id),
                )

    def mark_conflict(self, mutation_id: str, theirs: Mapping[str, object], reason: str) -> None:
        """Stop: the server changed this field since the mutation's base. The agent decides."""
        with self.transaction(durable=True):  # type: ignore[attr-defined]
            self._set_state(
                mutation_id, "conflict", json.dumps({"reason": reason, "theirs": dict(theirs)},
                                                    ensure_ascii=False, default=str)
            )

    def resolve_conflict(self, mutation_id: str, keep: Literal["mine", "theirs"]) -> Mutation | None:
        """The agent's decision on a conflict, shown with both sides in the conflicts view.

        "theirs": drop the change; the cache shows the server's value. "mine": apply it again
        as a new mutation based on the server's current value, so it is sent this time.
        Returns the new mutation for "mine", None for "theirs".
        """
        mutation = self.mutation(mutation_id)
        if mutation is None or mutation.state != "conflict":
            raise MutationError("only a change in conflict can be resolved")
        theirs = json.loads(mutation.error or "{}").get("theirs", {})
        with self.transaction(durable=True):  # type: ignore[attr-defined]
            self._show_theirs(mutation, theirs)
            self._set_state(mutation_id, "cancelled", f"conflict resolved: kept {keep}")
        if keep == "theirs":
            return None
        payload = {k: v for k, v in mutation.payload.items() if k in _USER_KEYS[mutation.action]}
        return self.queue(mutation.conversation_id, mutation.action, payload)

    def _show_theirs(self, mutation: Mutation, theirs: Mapping[str, object]) -> None:
        cid, account = mutation.conversation_id, mutation.account
        if "status" in theirs:
            self.conn.execute(
                "UPDATE conversations SET status = ? WHERE id = ?", (theirs["status"], cid)
            )
        if "priority" in theirs:
            priority = str(theirs["priority"])
            self.conn.execute(
                "UPDATE conversations SET priority = ?, priority_rank = ? WHERE id = ?",
                (priority, PRIORITY_RANK.get(priority, 1), cid),
            )
        if "assignee" in theirs:
            external = theirs["assignee"]
            agent_id = self._agent_id(account, str(external)) if external else None  # type: ignore[attr-defined]
            self.conn.execute(
                "UPDATE conversations SET assignee_id = ? WHERE id = ?", (agent_id, cid)
            )
        if "team" in theirs:
            external = theirs["team"]
            team_id = self._team_id(account, str(external)) if external else None  # type: ignore[attr-defined]
            self.conn.execute("UPDATE conversations SET team_id = ? WHERE id = ?", (team_id, cid))
        if "snoozed_until" in theirs:
            value = theirs["snoozed_until"]
            self.conn.execute(
                "UPDATE conversations SET snoozed_until = ? WHERE id = ?",
                (to_iso(from_iso(str(value))) if value else None, cid),
            )

    def mark_failed(self, mutation_id: str, reason: str) -> None:
        """A permanent refusal: revert the optimistic change; keep any text as a draft."""
        with self.transaction(durable=True):  # type: ignore[attr-defined]
            mutation = self.mutation(mutation_id)
            if mutation is None:
                return
            self._set_state(mutation_id, "failed", reason)
            self._revert(mutation)

    def cancel(self, mutation_id: str) -> bool:
        """Undo an action that has not been sent yet. Returns False if it is too late."""
        with self.transaction(durable=True):  # type: ignore[attr-defined]
            mutation = self.mutation(mutation_id)
            if mutation is None or mutation.state != "pending" or mutation.attempts > 0:
                return False
            self._set_state(mutation_id, "cancelled")
            self._revert(mutation)
            return True

    def _revert(self, mutation: Mutation) -> None:
        conn = self.conn
        if mutation.action in ("reply", "note"):
            local = conn.execute(
                "DELETE FROM messages WHERE account = ? AND external_id = ? RETURNING id, body",
                (mutation.account, LOCAL_MESSAGE_PREFIX + mutation.id),
            ).fetchone()
            if local is not None:
                conn.execute(
                    "INSERT INTO search_bodies (search_bodies, rowid, body) "
                    "VALUES ('delete', ?, ?)",
                    (local[0], index_text(local[1])),
                )
            # The agent's words are never lost: back to the drafts.
            now = to_iso(utcnow())
            conn.execute(
                """INSERT INTO drafts (conversation_id, kind, body, started_at, updated_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (conversation_id) DO UPDATE SET
                     body = drafts.body || char(10) || char(10) || excluded.body,
                     updated_at = excluded.updated_at""",
                (mutation.conversation_id, mutation.action, mutation.payload["text"], now, now),
            )
            return
        base = mutation.base
        cid = mutation.conversation_id
        if mutation.action == "status":
            conn.execute("UPDATE conversations SET status = ? WHERE id = ?", (base["status"], cid))
            # Undo what queueing it counted (see _status_history).
            old, new = str(base["status"]), str(mutation.payload.get("status"))
            if new in RESOLVED_STATUSES and old not in RESOLVED_STATUSES and "solved_at" in base:
                conn.execute(
                    "UPDATE conversations SET solved_at = ? WHERE id = ?", (base["solved_at"], cid)
                )
            elif old in RESOLVED_STATUSES and new not in RESOLVED_STATUSES:
                conn.execute(
                    "UPDATE conversations SET reopen_count = max(reopen_count - 1, 0) "
                    "WHERE id = ?",
                    (cid,),
                )
        elif mutation.action == "priority":
            priority = str(base["priority"])
            conn.execute(
                "UPDATE conversations SET priority = ?, priority_rank = ? WHERE id = ?",
                (priority, PRIORITY_RANK.get(priority, 1), cid),
            )
        elif mutation.action == "tags":
            tags = list(base["tags"])  # type: ignore[arg-type]
            conn.execute(
                "UPDATE conversations SET tags = ? WHERE id = ?",
                (json.dumps(tags, ensure_ascii=False), cid),
            )
            conn.execute("DELETE FROM conversation_tags WHERE conversation_id = ?", (cid,))
            conn.executemany(
                "INSERT OR IGNORE INTO conversation_tags (conversation_id, tag) VALUES (?, ?)",
                [(cid, t) for t in tags],
            )
        elif mutation.action == "assign":
            conn.execute(
                "UPDATE conversations SET assignee_id = ?, team_id = ? WHERE id = ?",
                (base["assignee_id"], base["team_id"], cid),
            )
        elif mutation.action == "snooze":
            conn.execute(
                "UPDATE conversations SET snoozed_until = ? WHERE id = ?",
                (base["snoozed_until"], cid),
            )
