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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="conflict.close"),
    ]

    def __init__(self, mutations: Sequence[Mutation]) -> None:
        super().__init__()
        self.mutations = list(mutations)

    def compose(self) -> ComposeResult:
        body = Text(end="")
        for mutation in self.mutations:
            body.append_text(describe(mutation))
        with VerticalScroll(id="conflict-body"):
            yield Static(body, id="conflict-text")

    def on_mount(self) -> None:
        self.query_one("#conflict-body").border_title = "Waiting or stuck actions (Escape closes)"

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
