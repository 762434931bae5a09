"""What is waiting or stuck for a conversation: pending, failed and conflicting actions.

A conflict shows both sides (what the agent did, what the server has now), from the outbox.
Everything shown came from the agent or the server: cleaned, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from agentdesk.sanitize import safe_text
from agentdesk.store import Mutation


def describe(mutation: Mutation) -> Text:
    text = Text(end="")
    text.append(f"{mutation.state.upper():<9}", style="bold")
    text.append_text(safe_text(f" {mutation.action}: "))
    mine = {k: v for k, v in mutation.payload.items() if not k.endswith("_id")}
    text.append_text(safe_text(json.dumps(mine, ensure_ascii=False)[:300]))
    text.append("\n")
    if mutation.error:
        try:
            detail = json.loads(mutation.error)
        except ValueError:
            detail = None
        if isinstance(detail, dict) and "theirs" in detail:
            text.append("   yours:  ", style="dim")
            text.append_text(safe_text(json.dumps(mutation.base, ensure_ascii=False)[:300]))
            text.append(" → ")
            text.append_text(safe_text(json.dumps(mine, ensure_ascii=False)[:300]))
            text.append("\n   theirs: ", style="dim")
            text.append_text(safe_text(json.dumps(detail["theirs"], ensure_ascii=False)[:300]))
            text.append("\n   why:    ", style="dim")
            text.append_text(safe_text(str(detail.get("reason", ""))))
        else:
            text.append("   server said: ", style="dim")
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

    def _body(self) -> Text:
        body = Text(end="")
        for mutation in self.mutations:
            body.append_text(describe(mutation))
        if not self.mutations:
            body.append("Nothing is waiting or stuck.")
        return body

    def on_mount(self) -> None:
        self.query_one("#conflict-body").border_title = (
            "Waiting or stuck actions — m: apply mine again · t: keep theirs · Escape closes"
        )

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
        self.app.notify("Applied yours again." if keep == "mine" else "Kept theirs.")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
