"""The composer under the thread: a reply or an internal note, with its draft kept in the store.

Send and send-and-resolve are ctrl+r and ctrl+g: keys that reach the app inside tmux over SSH
(ctrl+enter usually does not) and clash with neither tmux/screen prefixes (ctrl+b, ctrl+a)
nor flow control (ctrl+s, ctrl+q). The keys are shown in the composer's title, as the user's
keymap sets them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from agentdesk.sanitize import clean

if TYPE_CHECKING:
    from textual.widgets import TextArea

DRAFT_DEBOUNCE = 0.4
"""Seconds of quiet typing before the draft is written to the store."""

COMPOSER_KEYS = {
    "composer.send": "ctrl+r",
    "composer.send_resolve": "ctrl+g",
    "composer.template": "ctrl+t",
    "composer.editor": "ctrl+o",
    "composer.close": "escape",
}


class Composer(Vertical, can_focus=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "send(False)", "Send", priority=True, id="composer.send"),
        Binding(
            "ctrl+g", "send(True)", "Send and resolve", priority=True, id="composer.send_resolve"
        ),
        Binding("ctrl+t", "template", "Canned response", priority=True, id="composer.template"),
        Binding("ctrl+o", "editor", "Edit in $EDITOR", priority=True, id="composer.editor"),
        Binding("escape", "close", "Close (draft kept)", priority=True, id="composer.close"),
    ]

    class Send(Message):
        def __init__(self, composer: Composer, resolve: bool) -> None:
            super().__init__()
            self.composer = composer
            self.resolve = resolve

    class Closed(Message):
        pass

    class WantTemplate(Message):
        pass

    class WantEditor(Message):
        pass

    class DraftChanged(Message):
        """Typing paused: the inbox saves the draft (off the UI thread)."""

        def __init__(self, conversation_id: int, kind: str, body: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id
            self.kind = kind
            self.body = body

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.conversation_id: int | None = None
        self.kind = "reply"
        self.recipient = ""
        self.started_at: datetime | None = None
        self.warned = False
        """True after the "customer wrote again" warning: the next send goes through."""
        self._timer = None
        self._loading = False
        self._area: TextArea | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="composer-hint")
        # The editor (TextArea: ~10 ms of imports, CSS and mounting) is not part of the first
        # frame, where the composer is hidden: it is mounted right after that frame.

    def on_mount(self) -> None:
        self.call_after_refresh(self._mount_editor)

    def _mount_editor(self) -> None:
        if self.is_attached:  # not when the app quit before its first frame
            self._editor()

    @property
    def text_area(self) -> TextArea:
        return self._editor()

    def _editor(self) -> TextArea:
        # Kept once made: `text` is read on every keystroke (draft debounce), no DOM query.
        if self._area is None:
            from textual.widgets import TextArea

            self._area = TextArea(id="composer-text", soft_wrap=True, tab_behavior="focus")
            self.mount(self._area)
        return self._area

    @property
    def text(self) -> str:
        return self.text_area.text

    def open(
        self,
        conversation_id: int,
        kind: str,
        recipient: str,
        body: str = "",
        started_at: datetime | None = None,
    ) -> None:
        """Show the composer for `conversation_id` with `body` (a restored draft) in it."""
        self.conversation_id = conversation_id
        self.kind = kind
        self.recipient = recipient
        self.started_at = started_at
        self.warned = False
        self._loading = True
        self.text_area.load_text(clean(body, single_line=False))
        self._loading = False
        self.text_area.move_cursor(self.text_area.document.end)
        self.display = True
        self.set_class(kind == "note", "-note")
        self.update_hint()
        self.text_area.focus()

    def set_body(self, body: str) -> None:
        self.text_area.load_text(clean(body, single_line=False))
        self.text_area.move_cursor(self.text_area.document.end)
        self.flush()

    def insert(self, text: str) -> None:
        self.text_area.insert(clean(text, single_line=False))

    def update_hint(self) -> None:
        keymap: dict[str, str] = getattr(self.app, "_keymap", {}) or {}

        def key(binding_id: str) -> str:
            return keymap.get(binding_id, COMPOSER_KEYS[binding_id])

        what = "Internal note on" if self.kind == "note" else "Reply to"
        keys = (
            f"  ·  {key('composer.send')} send  ·  {key('composer.send_resolve')} send and "
            f"resolve  ·  {key('composer.template')} canned  ·  "
            f"{key('composer.editor')} $EDITOR  ·  {key('composer.close')} close"
        )
        hint = Content.assemble(
            (f"{what} ", "bold"), Content(clean(self.recipient)), keys
        )
        self.query_one("#composer-hint", Static).update(hint)
        self.border_title = Content("Internal note" if self.kind == "note" else "Reply")

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if self._loading or self.conversation_id is None:
            return
        if self.started_at is None and self.text.strip():
            self.started_at = self.app.clock()  # type: ignore[attr-defined]
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DRAFT_DEBOUNCE, self.flush)

    def flush(self) -> None:
        """Hand the current text to the inbox to save as the draft (now, not after the pause)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.conversation_id is not None:
            self.post_message(self.DraftChanged(self.conversation_id, self.kind, self.text))

    def pending_draft(self) -> tuple[int, str, str] | None:
        """The unsaved draft, if typing has not paused yet (saved synchronously at exit)."""
        if self._timer is None or self.conversation_id is None:
            return None
        return (self.conversation_id, self.kind, self.text)

    def action_send(self, resolve: bool) -> None:
        if self.display and self.conversation_id is not None:
            self.post_message(self.Send(self, resolve))

    def action_template(self) -> None:
        self.post_message(self.WantTemplate())

    def action_editor(self) -> None:
        self.post_message(self.WantEditor())

    def action_close(self) -> None:
        self.flush()
        self.post_message(self.Closed())

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._loading = True
        self.text_area.load_text("")
        self._loading = False
        self.started_at = None
        self.warned = False
