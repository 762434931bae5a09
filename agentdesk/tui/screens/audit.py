"""The audit log screen: every action taken from this machine, newest first, with outcome.

`u` undoes the batch of the selected row (cancel while unsent, compensate after).
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Footer, Static

from agentdesk.supervisor.audit import AuditEntry, audit_entries
from agentdesk.supervisor.reassign import undo_batch
from agentdesk.tui.format import local_time
from agentdesk.tui.screens.services import AppServices
from agentdesk.tui.widgets.charts import Cell, Column, TableSource
from agentdesk.tui.widgets.window import WindowedList

COLUMNS = (
    Column("When", 11),
    Column("Who", 22),
    Column("Conversation", 16),
    Column("Action", 8),
    Column("Detail", 0),
    Column("Outcome", 9),
    Column("Batch", 8),
)
OUTCOME_STYLE = {
    "refused": "wl--overdue",
    "conflict": "wl--overdue",
    "queued": "wl--at-risk",
    "sending": "wl--at-risk",
    "undone": "wl--muted",
    "done": "wl--ok",
}


class AuditScreen(AppServices, inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="audit.back"),
        Binding("u", "undo", "Undo batch", id="audit.undo"),
    ]
    DEFAULT_CSS = """
    AuditScreen .sv-title { height: 1; padding: 0 1; background: $panel; }
    AuditScreen .sv-header { height: 1; color: $text-muted; text-style: bold; }
    AuditScreen #audit-list { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__(id="audit")
        self.entries: list[AuditEntry] = []

    def compose(self) -> ComposeResult:
        yield Static("Audit log", id="audit-title", classes="sv-title")
        yield Static("", id="audit-header", classes="sv-header")
        yield WindowedList(id="audit-list")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#audit-list", WindowedList).focus()
        self.reload()

    def mark_dirty(self) -> None:
        self.reload()

    def reload(self) -> None:
        now = self.clock()
        self.entries = audit_entries(self.store, limit=5000)
        rows = [
            (
                e.id,
                [
                    Cell(local_time(e.at, now, self.tz), "wl--muted"),
                    Cell(e.who),
                    Cell(e.conversation),
                    Cell(e.action),
                    Cell(e.detail + (f" — {e.reason}" if e.reason else "")),
                    Cell(e.outcome, OUTCOME_STYLE.get(e.outcome)),
                    Cell((e.batch or "")[:8], "wl--muted"),
                ],
            )
            for e in self.entries
        ]
        source = TableSource(COLUMNS, rows)
        table = self.query_one("#audit-list", WindowedList)
        table.set_source(source, keep_key=table.current_key)
        self.query_one("#audit-header", Static).update(
            Content(source.header(max(self.size.width - 1, 40)).plain)
        )
        self.query_one("#audit-title", Static).update(
            Content(f"Audit log · {len(self.entries)} actions (export: agentdesk audit --csv)")
        )

    def action_undo(self) -> None:
        key = self.query_one("#audit-list", WindowedList).current_key
        entry = next((e for e in self.entries if e.id == key), None)
        if entry is None or entry.batch is None:
            self.app.notify("the selected action is not part of a batch")
            return
        try:
            result = undo_batch(self.store, entry.batch)
        except PermissionError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        left = f"; {len(result.left)} could not be undone" if result.left else ""
        self.app.notify(
            f"undo: {result.cancelled} cancelled, {result.compensated} restored{left}", markup=False
        )
        self.reload()

    def action_close(self) -> None:
        self.dismiss(None)
