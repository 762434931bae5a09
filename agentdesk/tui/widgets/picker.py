"""A small fuzzy picker: type to filter, Enter to choose, Escape to cancel.

Used for assignees, tags, priorities, statuses, snooze times, views, canned responses and
attachments: bounded lists (tens to a few hundred items), so an `OptionList` is fine here.
Every label can hold backend text: it is cleaned and shown as `Content`, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.sanitize import clean

MAX_SHOWN = 200
"""The picker shows at most this many matches (type more to narrow)."""


@dataclass(frozen=True, slots=True)
class PickItem:
    value: str
    """What the picker returns when this item is chosen (never shown)."""
    label: str
    hint: str = ""


FreeEntry = Callable[[str], PickItem | None]
"""Turns typed text into an extra item (a new tag, a typed time); None when it is not valid."""


def item_content(item: PickItem) -> Content:
    label = Content(clean(item.label))
    if not item.hint:
        return label
    return Content.assemble(label, ("  " + clean(item.hint), "italic"))


class PickerScreen(ModalScreen[str | None], inherit_bindings=False):
    """Returns the chosen item's value, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down,ctrl+n", "move(1)", "Next", show=False, id="picker.down"),
        Binding("up,ctrl+p", "move(-1)", "Previous", show=False, id="picker.up"),
    ]

    def __init__(
        self,
        title: str,
        items: Sequence[PickItem],
        *,
        placeholder: str = "type to filter",
        free_entry: FreeEntry | None = None,
        note: str = "",
    ) -> None:
        super().__init__(classes="picker")
        self.title_text = title
        self.items = list(items)
        self.placeholder = placeholder
        self.free_entry = free_entry
        self.note = note
        self.shown: list[PickItem] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Input(placeholder=self.placeholder, id="picker-input")
            yield OptionList(id="picker-options", markup=False)
            yield Static(Content(clean(self.note)), id="picker-note")

    def on_mount(self) -> None:
        self.query_one("#picker-box").border_title = Content(clean(self.title_text))
        self.query_one("#picker-note").display = bool(self.note)
        self._filter("")
        self.query_one("#picker-input", Input).focus()

    def _filter(self, text: str) -> None:
        text = text.strip()
        if text:
            matcher = Matcher(text)
            scored = [(matcher.match(item.label), i, item) for i, item in enumerate(self.items)]
            shown = [item for score, _i, item in sorted(scored, key=lambda s: (-s[0], s[1]))
                     if score > 0]
        else:
            shown = list(self.items)
        if self.free_entry is not None and text:
            extra = self.free_entry(text)
            if extra is not None and all(extra.value != item.value for item in shown):
                shown.insert(0, extra)
        self.shown = shown[:MAX_SHOWN]
        options = self.query_one("#picker-options", OptionList)
        options.set_options(Option(item_content(item)) for item in self.shown)
        if self.shown:
            options.highlighted = 0

    @on(Input.Changed, "#picker-input")
    def _changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    @on(Input.Submitted, "#picker-input")
    def _submitted(self, event: Input.Submitted) -> None:
        index = self.query_one("#picker-options", OptionList).highlighted
        if index is not None and 0 <= index < len(self.shown):
            self.dismiss(self.shown[index].value)

    @on(OptionList.OptionSelected, "#picker-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self.shown):
            self.dismiss(self.shown[event.option_index].value)

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-options", OptionList)
        if not self.shown:
            return
        current = options.highlighted if options.highlighted is not None else 0
        options.highlighted = max(0, min(current + step, len(self.shown) - 1))

    def action_cancel(self) -> None:
        self.dismiss(None)


class PromptScreen(ModalScreen[str | None], inherit_bindings=False):
    """One line of text (a view's name): Enter returns it, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, title: str, *, value: str = "", placeholder: str = "") -> None:
        super().__init__(classes="picker")
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")

    def on_mount(self) -> None:
        self.query_one("#picker-box").border_title = Content(clean(self.title_text))
        self.query_one("#prompt-input", Input).focus()

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
