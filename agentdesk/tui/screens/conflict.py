"""What is waiting or stuck for a conversation: pending, failed and conflicting actions.

A conflict shows both sides (what the agent did, what the server has now), from the outbox.
Everything shown came from the agent or the server: cleaned, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from agentdesk.sanitize import clean, safe_text
from agentdesk.store import Mutation
from agentdesk.timeutil import from_iso

STATE_WORDS = {
    "pending": "Waiting to be sent",
    "sending": "Being sent now",
    "conflict": "Changed on the server meanwhile",
    "failed": "Refused by the helpdesk",
    "cancelled": "Dropped",
    "applied": "Sent",
}

Names = Callable[[str], str]
"""Turns a backend agent id into a name."""


def _value(field: str, value: object, names: Names) -> str:
    """A field's value as the agent reads it: "on hold", "Sam Lee", "nobody", "13:00"."""
    if value is None or value == "":
        return "nobody" if field in ("assignee", "team") else "nothing"
    if field == "assignee":
        return names(str(value))
    if isinstance(value, list):
        return ", ".join(clean(str(v)) for v in value) or "nothing"
    if field in ("snoozed_until", "until"):
        try:
            return from_iso(str(value)).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            pass
    return clean(str(value)).replace("_", " ")


def what_you_did(mutation: Mutation) -> str:
    """The change in words: "status → on hold", "reply: "On its way…"", "tags +vip"."""
    payload = mutation.payload
    action = mutation.action
    if action in ("reply", "note"):
        text = " ".join(clean(str(payload.get("text", ""))).split())
        return f'{action} "{text[:60]}{"…" if len(text) > 60 else ""}"'
    if action == "tags":
        added = " ".join("+" + clean(str(t)) for t in payload.get("add", []) or [])
        removed = " ".join("-" + clean(str(t)) for t in payload.get("remove", []) or [])
        return f"tags {added} {removed}".strip()
    if action == "assign":
        if payload.get("unassign"):
            return "assign → nobody"
        return "assign → " + clean(str(payload.get("agent_email") or payload.get("team") or ""))
    if action == "snooze":
        return "snooze until " + _value("until", payload.get("until"), str)
    return f"{action} → {_value(action, payload.get(action), str)}"


def describe(mutation: Mutation, names: Names = str) -> Text:
    """One waiting or stuck action in the agent's words, both sides of a conflict."""
    text = Text(end="")
    text.append(STATE_WORDS.get(mutation.state, mutation.state), style="bold")
    text.append(": ")
    text.append_text(safe_text(what_you_did(mutation)))
    text.append("\n")
    detail: object = None
    if mutation.error:
        try:
            detail = json.loads(mutation.error)
        except ValueError:
            detail = None
    if isinstance(detail, dict) and isinstance(detail.get("theirs"), Mapping):
        theirs = dict(detail["theirs"])
        who = theirs.pop("by", None)
        at = theirs.pop("at", None)
        for field, value in theirs.items():
            before = mutation.base.get(field, mutation.base.get(f"{field}_external_id"))
            text.append("   you saw ", style="dim")
            text.append_text(safe_text(f"{field.replace('_', ' ')} {_value(field, before, names)}"))
            text.append(" and changed it; ", style="dim")
            text.append_text(safe_text(names(str(who)) if who else "someone in the helpdesk"))
            text.append(" set it to ", style="dim")
            text.append_text(safe_text(_value(field, value, names), "bold"))
            if isinstance(at, str):
                try:
                    text.append(f" at {from_iso(at).strftime('%H:%M UTC')}", style="dim")
                except ValueError:
                    pass
            text.append("\n")
        if detail.get("reason"):
            text.append("   ")
            text.append_text(safe_text(str(detail["reason"])))
            text.append("\n")
    elif mutation.error and mutation.state != "cancelled":
        text.append("   the helpdesk said: ", style="dim")
        text.append_text(safe_text(mutation.error[:500]))
        text.append("\n")
    return text


class ConflictScreen(ModalScreen[None], inherit_bindings=False):
    """Both sides of each conflict; the agent keeps theirs or applies theirs again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="conflict.close"),
        Binding("m", "keep('mine')", "Apply mine again", id="conflict.keep_mine"),
        Binding("t", "keep('theirs')", "Keep theirs", id="conflict.keep_theirs"),
    ]

    def __init__(self, mutations: Sequence[Mutation]) -> None:
        super().__init__()
        self.mutations = list(mutations)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="conflict-body"):
            yield Static(self._body(), id="conflict-text")
        yield Footer()

    def _agent_named(self, external_id: str) -> str:
        """A backend agent id (or a name already) as the agent's name."""
        account = self.mutations[0].account if self.mutations else ""
        store = self.app.store  # type: ignore[attr-defined]
        return store.agent_name(account, external_id) or clean(external_id)

    def _body(self) -> Text:
        body = Text(end="")
        for mutation in self.mutations:
            body.append_text(describe(mutation, self._agent_named))
        if not self.mutations:
            body.append("Nothing is waiting or stuck.")
        return body

    def on_mount(self) -> None:
        self.query_one("#conflict-body").border_title = "Waiting or stuck actions"

    def action_keep(self, keep: str) -> None:
        """Resolve the first conflict listed; the rest stay for the agent to look at."""
        conflict = next((m for m in self.mutations if m.state == "conflict"), None)
        if conflict is None:
            self.app.notify("No conflict to resolve here.")
            return
        store = self.app.store  # type: ignore[attr-defined]
        store.resolve_conflict(conflict.id, "mine" if keep == "mine" else "theirs")
        nudge = getattr(getattr(self.app, "sync", None), "nudge", None)
        if keep == "mine" and nudge is not None:
            nudge()
        self.mutations = [store.mutation(m.id) or m for m in self.mutations]
        self.query_one("#conflict-text", Static).update(self._body())
        what = what_you_did(conflict)
        self.app.notify(
            f"Your change ({what}) will be sent again at the next sync."
            if keep == "mine"
            else f"Dropped your change ({what}); the helpdesk's value stays.",
            markup=False,
        )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
