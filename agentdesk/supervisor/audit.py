"""The audit log: every action taken from this machine, read from the outbox (kept forever).

Who is the account's signed-in user, when is the moment the action was made (and last
changed state), what is the conversation, and the outcome is the mutation's state with the
backend's reason when it refused. Exported as JSON or CSV for whoever asks.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from agentdesk.sanitize import csv_cell, safe_json
from agentdesk.store import Store
from agentdesk.timeutil import to_iso

OUTCOMES = {
    "pending": "queued",
    "sending": "sending",
    "applied": "done",
    "conflict": "conflict",
    "failed": "refused",
    "cancelled": "undone",
}
FIELDS = ("at", "who", "account", "conversation", "subject", "action", "detail", "state",
          "outcome", "reason", "batch", "updated_at", "id")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    at: datetime
    updated_at: datetime
    who: str
    account: str
    conversation: str
    """ACCOUNT:EXTERNAL_ID"""
    subject: str
    action: str
    detail: str
    """What was asked, in words: "to ana@example.com", "status solved", "+vip -later"."""
    state: str
    outcome: str
    reason: str | None
    batch: str | None

    def as_row(self) -> dict[str, object]:
        data = asdict(self)
        data["at"] = to_iso(self.at)
        data["updated_at"] = to_iso(self.updated_at)
        return {name: data[name] for name in FIELDS}


def _reason(state: str, error: str | None) -> str | None:
    if not error:
        return None
    if state == "conflict":
        try:
            parsed = json.loads(error)
        except ValueError:
            return error
        theirs = ", ".join(f"{k} {v}" for k, v in parsed.get("theirs", {}).items()
                           if k not in ("by", "at") and v is not None)
        return f"{parsed.get('reason', 'conflict')}" + (f" (server: {theirs})" if theirs else "")
    return error


def describe(action: str, payload: dict[str, object]) -> str:
    if action == "assign":
        if payload.get("unassign"):
            text = "unassign"
        elif payload.get("agent_email"):
            text = f"to {payload['agent_email']}"
        else:
            text = f"to team {payload.get('team')}"
        return text + (f" (undoes {str(payload['undoes'])[:8]})" if payload.get("undoes") else "")
    if action in ("reply", "note"):
        text = str(payload.get("text", ""))
        return f"{len(text)} characters"  # the words stay in the thread, not in the log
    if action == "status":
        return f"status {str(payload.get('status')).replace('_', ' ')}"  # on hold, as the picker says
    if action == "priority":
        return f"priority {payload.get('priority')}"
    if action == "tags":
        add = " ".join(f"+{t}" for t in payload.get("add", []))  # type: ignore[union-attr]
        remove = " ".join(f"-{t}" for t in payload.get("remove", []))  # type: ignore[union-attr]
        return f"{add} {remove}".strip()
    if action == "snooze":
        return f"until {payload.get('until')}"
    return ""


def audit_entries(
    store: Store,
    *,
    since: datetime | None = None,
    accounts: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Newest first."""
    entries = []
    for r in store.outbox_log(since=since, accounts=accounts, limit=limit):
        payload = r.payload
        entries.append(
            AuditEntry(
                id=r.id,
                at=r.created_at,
                updated_at=r.updated_at,
                who=r.who,
                account=r.account,
                conversation=f"{r.account}:{r.external_id}",
                subject=r.subject,
                action=r.action,
                detail=describe(r.action, payload),
                state=r.state,
                outcome=OUTCOMES.get(r.state, r.state),
                reason=_reason(r.state, r.error),
                batch=payload.get("batch") if isinstance(payload.get("batch"), str) else None,
            )
        )
    return entries


def to_json(entries: Sequence[AuditEntry]) -> str:
    return safe_json([e.as_row() for e in entries], indent=2)


def to_csv(entries: Sequence[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        row = entry.as_row()
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()
