"""The help screen: every key binding the app has, by id, with the user's keymap applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode


class HelpScreen(ModalScreen[None], inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
        Binding("j,down", "scroll_down", "Scroll down", show=False, id="help.down"),
        Binding("k,up", "scroll_up", "Scroll up", show=False, id="help.up"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(binding_table(self.app), id="help-table")

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "Keys (? or Escape closes)"

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

    def action_scroll_down(self) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_up(animate=False)


def _scopes(app_class: type[DOMNode]) -> list[tuple[str, type[DOMNode]]]:
    """Where bindings live; "everywhere" is the app's own, given so a screen never imports
    the app that holds it."""
    from agentdesk.tui.screens.conflict import ConflictScreen
    from agentdesk.tui.screens.first_run import FirstRunScreen
    from agentdesk.tui.screens.inbox import InboxScreen
    from agentdesk.tui.widgets.composer import Composer
    from agentdesk.tui.widgets.picker import PickerScreen, PromptScreen
    from agentdesk.tui.widgets.window import WindowedList

    return [
        ("everywhere", app_class),
        ("inbox", InboxScreen),
        ("lists, thread", WindowedList),
        ("composer", Composer),
        ("pickers", PickerScreen),
        ("prompts", PromptScreen),
        ("sync problems", ConflictScreen),
        ("help", HelpScreen),
        ("first run", FirstRunScreen),
    ]


def binding_ids(app_class: type[App[object]]) -> set[str]:
    """Every binding id a `[keymap]` may name, in `app_class` and its screens and widgets."""
    return {
        item.id
        for _scope, node_class in _scopes(app_class)
        for bindings in node_class._merge_bindings().key_to_bindings.values()
        for item in bindings
        if item.id is not None
    }


def all_bindings(app: App[object]) -> list[tuple[str, str, str, str]]:
    """(scope, keys, description, id) for every binding, keys as the user's keymap sets them."""
    keymap: dict[str, str] = getattr(app, "_keymap", {}) or {}
    rows: list[tuple[str, str, str, str]] = []
    for scope, node_class in _scopes(type(app)):
        seen: set[str] = set()
        for binding in node_class._merge_bindings().key_to_bindings.values():
            for item in binding:
                if item.id is None or item.id in seen:
                    continue
                seen.add(item.id)
                keys = keymap.get(item.id) or _keys_of(node_class, item.id)
                rows.append((scope, keys, item.description or item.action, item.id))
    return rows


def _keys_of(node_class: type[DOMNode], binding_id: str) -> str:
    keys = [
        key
        for key, bindings in node_class._merge_bindings().key_to_bindings.items()
        for b in bindings
        if b.id == binding_id
    ]
    return ", ".join(_display(key) for key in keys)


def _display(key: str) -> str:
    return {
        "question_mark": "?",
        "shift+tab": "shift+Tab",
        "tab": "Tab",
        "slash": "/",
        "colon": ":",
    }.get(key, key)


def binding_table(app: App[object]) -> Table:
    table = Table(box=None, expand=True, padding=(0, 2), show_edge=False)
    table.add_column("Where", style="dim", no_wrap=True)
    table.add_column("Keys", style="bold", no_wrap=True)
    table.add_column("Does")
    table.add_column("Binding id (for the keymap)", style="dim", no_wrap=True)
    for scope, keys, description, binding_id in all_bindings(app):
        table.add_row(Text(scope), Text(keys), Text(description), Text(binding_id))
    return table
