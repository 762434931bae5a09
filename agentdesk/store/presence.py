"""The agent's own presence (online, busy, offline) per account, set offline-safe.

Where the vendor lets agents set it (the account's `can_set_presence` flag, recorded by sync:
Chatwoot availability), setting it writes `accounts.presence_pending` and the agent's own row
in `agents.presence` in one transaction; sync sends the pending value before it pulls
(`sync.push`), last write wins, and a refusal is kept visible. Where the vendor has no such API
(Zendesk, Freshdesk, RT) presence is local: kept here and laid over whatever a pull brings.

`accounts.presence_pending` holds one of:
- `busy`          set here, not sent yet;
- `local:busy`    set here and kept here (the vendor has no agent-settable presence);
- `refused:busy`  the backend refused it (shown until the agent sets it again);
- NULL            nothing pending: `agents.presence` is the backend's.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

PRESENCES = ("online", "busy", "offline")
LOCAL = "local:"
REFUSED = "refused:"


class PresenceError(ValueError):
    """The presence cannot be set (unknown value or account); says why."""


@dataclass(frozen=True, slots=True)
class MyPresence:
    account: str
    connector: str
    presence: str | None
    """What the screen shows: the value set here (pending or local), else the backend's."""
    settable: bool
    """The vendor lets agents set their own presence (else it is local to agentdesk)."""
    pending: bool
    """Set here and not sent yet."""
    refused: str | None
    """The value the backend last refused, if the agent has not set another since."""

    @property
    def state(self) -> str:
        if self.refused:
            return f"refused ({self.refused})"
        if not self.settable:
            return "local"
        return "pending" if self.pending else "synced"


def _settable(capabilities: str | None) -> bool:
    try:
        return bool(json.loads(capabilities or "{}").get("can_set_presence"))
    except ValueError:
        return False


class Presence:
    """Mixed into Store: the signed-in agent's own presence, read and set offline-safe."""

    conn: sqlite3.Connection

    def my_presence(self, account: str | None = None) -> list[MyPresence]:
        """The signed-in agent's presence on each account (or one), by account name."""
        sql = """SELECT ac.name, ac.connector, ac.capabilities, ac.presence_pending,
                        ag.presence
                 FROM accounts ac LEFT JOIN agents ag ON ag.account = ac.name
                      AND ag.external_id = ac.user_external_id"""
        args: tuple[object, ...] = ()
        if account is not None:
            sql += " WHERE ac.name = ?"
            args = (account,)
        out = []
        for r in self.conn.execute(sql + " ORDER BY ac.name", args).fetchall():
            pending: str | None = r["presence_pending"]
            refused = pending[len(REFUSED) :] if pending and pending.startswith(REFUSED) else None
            shown = r["presence"]
            if pending and not refused:
                shown = pending.removeprefix(LOCAL)
            out.append(
                MyPresence(
                    account=r["name"],
                    connector=r["connector"],
                    presence=shown,
                    settable=_settable(r["capabilities"]),
                    pending=bool(pending) and not refused and not pending.startswith(LOCAL),
                    refused=refused,
                )
            )
        return out

    def set_my_presence(self, account: str, presence: str) -> MyPresence:
        """Set the agent's own presence on `account`: optimistic at once, sent at the next sync
        where the vendor allows it, local otherwise."""
        presence = presence.strip().lower()
        if presence not in PRESENCES:
            raise PresenceError(f"presence must be one of {', '.join(PRESENCES)}")
        with self.transaction(durable=True) as conn:  # type: ignore[attr-defined]
            row = conn.execute(
                "SELECT capabilities, user_external_id FROM accounts WHERE name = ?", (account,)
            ).fetchone()
            if row is None:
                raise PresenceError(f"no account {account!r}")
            pending = presence if _settable(row["capabilities"]) else LOCAL + presence
            conn.execute(
                "UPDATE accounts SET presence_pending = ? WHERE name = ?", (pending, account)
            )
            if row["user_external_id"]:
                conn.execute(
                    "UPDATE agents SET presence = ? WHERE account = ? AND external_id = ?",
                    (presence, account, row["user_external_id"]),
                )
        found = self.my_presence(account)
        return found[0]

    def presence_to_send(self, account: str) -> str | None:
        """The presence waiting to be sent for this account, if any (called for accounts whose
        connector can set presence: a value set before sync learned that is sent too)."""
        row = self.conn.execute(
            "SELECT presence_pending FROM accounts WHERE name = ?", (account,)
        ).fetchone()
        value = (row[0] or "").removeprefix(LOCAL) if row else ""
        return value if value in PRESENCES else None

    def presence_sent(self, account: str, sent: str, reported: str) -> None:
        """The backend took `sent` (and now reports `reported`). If the agent picked another
        value meanwhile, that one stays pending: last write wins."""
        with self.transaction() as conn:  # type: ignore[attr-defined]
            done = conn.execute(
                "UPDATE accounts SET presence_pending = NULL WHERE name = ? "
                "AND presence_pending IN (?, ?)",
                (account, sent, LOCAL + sent),
            ).rowcount
            if done:
                conn.execute(
                    """UPDATE agents SET presence = ? WHERE account = ? AND external_id =
                         (SELECT user_external_id FROM accounts WHERE name = ?)""",
                    (reported, account, account),
                )

    def presence_refused(self, account: str, sent: str) -> None:
        """The backend refused `sent`: it is no longer laid over the pulled presence (the next
        pull shows the backend's value again) and the screen says it was refused."""
        with self.transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(
                "UPDATE accounts SET presence_pending = ? WHERE name = ? "
                "AND presence_pending IN (?, ?)",
                (REFUSED + sent, account, sent, LOCAL + sent),
            )
