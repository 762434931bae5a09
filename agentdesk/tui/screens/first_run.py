"""Shown when the profile has no account yet: offer the demo, explain how to add an account."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

DEMO_RESULT = "demo"
"""`AgentDeskApp.run()` returns this when the user chose the demo; the CLI then starts it."""

DEMO_CONVERSATIONS = 1500
"""What `agentdesk demo` simulates by default (its --scale; a test keeps the two equal)."""

ADD_ACCOUNT = "agentdesk accounts add NAME --connector zendesk --url URL --user EMAIL"


class FirstRunScreen(Screen[None], inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "demo", "Start the demo", id="first_run.demo"),
        Binding("q", "app.quit", "Quit", id="first_run.quit"),
    ]

    def compose(self) -> ComposeResult:
        text = Text(end="")
        text.append("Welcome to agentdesk\n\n", style="bold")
        text.append("No helpdesk account is set up in this profile yet.\n\n")
        text.append("Try it first: ")
        text.append("press d", style="bold")
        text.append(f" to open the demo — a simulated Zendesk with {DEMO_CONVERSATIONS:,}\n")
        text.append("realistic conversations, synced over HTTP into a throwaway profile\n")
        text.append("(the same as running ")
        text.append("agentdesk demo", style="bold")
        text.append(").\n\n")
        text.append("To connect your own helpdesk, quit and run:\n\n")
        text.append(f"    {ADD_ACCOUNT}\n\n", style="bold")
        text.append("then start ")
        text.append("agentdesk", style="bold")
        text.append(" again. The token is asked for once and kept in your keyring.")
        with Center(), Vertical(id="first-run"):
            yield Static(text, id="first-run-text")
        yield Footer()

    def action_demo(self) -> None:
        self.app.exit(DEMO_RESULT)
