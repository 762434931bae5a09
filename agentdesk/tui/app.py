"""The agentdesk Textual app: reads the local cache, runs background sync in a thread worker.

The screen never talks to the network: a `SyncRunner` (built by the CLI) writes the store in
its own thread and reports `SyncEvent`s, which arrive here as messages. Data is always read
from the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen

from agentdesk.sanitize import clean
from agentdesk.store import Store
from agentdesk.syncapi import SyncEvent, SyncRunner
from agentdesk.timeutil import utcnow
from agentdesk.tui.commands import ViewCommands
from agentdesk.tui.screens.first_run import DEMO_RESULT, FirstRunScreen
from agentdesk.tui.screens.help import HelpScreen
from agentdesk.tui.screens.inbox import InboxScreen

__all__ = ["DEMO_RESULT", "AgentDeskApp"]


class SyncNotice(Message):
    """A SyncEvent, carried from the sync thread to the UI thread."""

    def __init__(self, event: SyncEvent) -> None:
        super().__init__()
        self.event = event


class AgentDeskApp(App[str], inherit_bindings=False):
    """Keyboard-driven inbox over the local cache.

    `run()` returns `DEMO_RESULT` ("demo") when the user chose the demo on the first-run screen.
    """

    TITLE = "agentdesk"
    CSS_PATH = "app.tcss"
    COMMANDS: ClassVar = App.COMMANDS | {ViewCommands}
    # ctrl+q is terminal flow control (XON/XOFF) and must not quit: App's default bindings are
    # not inherited, and every binding here has an id for the user's keymap.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        # Shown by the Footer at its right edge already.
        Binding(
            "ctrl+p",
            "command_palette",
            "Command palette",
            show=False,
            key_display="^p",
            id="app.command_palette",
        ),
    ]

    def __init__(
        self,
        store_path: Path,
        sync: SyncRunner | None = None,
        *,
        account_labels: str = "",
        clock: Callable[[], datetime] = utcnow,
        tz: tzinfo | None = None,
    ) -> None:
        """`clock` gives "now" (frozen in tests); `tz` is the display zone (None: local)."""
        super().__init__()
        self.store_path = Path(store_path)
        self.sync = sync
        self.account_labels = account_labels
        self.clock = clock
        self.tz = tz
        self.store = Store.open(self.store_path)
        self._stop = threading.Event()
        self.online: bool | None = None
        """None until sync reports; kept here so events before the inbox mounts count."""
        self.sync_error = ""
        self._background: dict[str, tuple[threading.Lock, Store | None]] = {}
        self._background_guard = threading.Lock()

    # ---------------------------------------------------------------- screens
    def get_default_screen(self) -> Screen:
        if not self.store.accounts():
            return FirstRunScreen(id="first-run")
        return InboxScreen()

    def on_mount(self) -> None:
        if self.sync is not None:
            self.run_sync()

    @property
    def inbox(self) -> InboxScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, InboxScreen):
                return screen
        return None

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Show every key binding", self.action_help)

    # ---------------------------------------------------------------- stores
    @contextmanager
    def background_store(self, name: str) -> Iterator[Store]:
        """A connection for worker threads (one per worker group, used by one thread at a time)."""
        with self._background_guard:
            lock, store = self._background.get(name, (threading.Lock(), None))
            self._background[name] = (lock, store)
        with lock:
            if store is None:
                store = Store.open(self.store_path)
                self._background[name] = (lock, store)
            yield store

    def _close_stores(self) -> None:
        with self._background_guard:
            for lock, store in self._background.values():
                if store is not None and lock.acquire(timeout=2):
                    store.close()
                    lock.release()
            self._background.clear()
        self.store.close()

    # ---------------------------------------------------------------- sync
    @work(thread=True, exit_on_error=False, group="sync", name="sync")
    def run_sync(self) -> None:
        assert self.sync is not None
        self.sync.run(self._on_sync_event, self._stop)

    def _on_sync_event(self, event: SyncEvent) -> None:
        # Called from the sync thread: post_message is thread-safe.
        self.post_message(SyncNotice(event))

    @on(SyncNotice)
    def _sync_notice(self, notice: SyncNotice) -> None:
        kind = notice.event.kind
        if kind in ("started", "page", "account_done", "idle"):
            self.online = True
            if kind != "started":
                self.sync_error = ""
        elif kind == "offline":
            self.online = False
            self.sync_error = notice.event.message
        elif kind == "error":
            self.sync_error = notice.event.message
        inbox = self.inbox
        if inbox is not None and inbox.is_mounted:
            if kind in ("page", "account_done", "idle"):
                inbox.mark_dirty()
            inbox.refresh_status()

    def notify_safe(self, message: str, *, error: bool = False) -> None:
        """A toast with untrusted text in it (never parsed as markup, controls made visible)."""
        self.notify(clean(message), markup=False, severity="error" if error else "information")

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit()

    def on_unmount(self) -> None:
        self._stop.set()
        self._close_stores()
