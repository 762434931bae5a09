"""The agentdesk Textual app: reads the local cache, runs background sync in a thread worker.

The screen never talks to the network: a `SyncRunner` (built by the CLI) writes the store in
its own thread and reports `SyncEvent`s, which arrive here as messages. Data is always read
from the store.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen

from agentdesk.config import DEFAULT_ATTACHMENT_MB
from agentdesk.sanitize import clean
from agentdesk.store import Store
from agentdesk.timeutil import utcnow
from agentdesk.tui.screens.inbox import InboxScreen
from agentdesk.tui.themes import BUILTIN_THEMES, DARK, load_user_themes, theme_css_paths

ATTENTION_CHECK = 5.0
"""Seconds between two looks at whether the agent is here (the fast lane's pace follows)."""
IDLE_AFTER = 300.0
"""No key or click for this long: nobody is looking."""
TYPING_LAPSES = 30.0
"""A colleague's "typing" lapses after this long without news (as Chatwoot's dashboard)."""

if TYPE_CHECKING:
    from textual.command import Provider

    from agentdesk.syncapi import SyncEvent, SyncRunner

# Cold start pays only for what paints the inbox: the palette's providers, the help,
# first-run and supervisor screens, urllib (downloads) and subprocess (the system opener) are
# imported when first used.


class Attachments(Protocol):
    """Fetches attachments for the app (`agentdesk.attachments.AttachmentFetcher`): only the
    hosts a policy allows, capped in size. The screen holds no network code of its own."""

    def policy(
        self,
        *,
        account: str,
        base_url: str,
        connector: str,
        extra_hosts: tuple[str, ...],
        max_bytes: int,
    ) -> object: ...

    def download(self, url: str, target: Path, policy: Any) -> Path: ...


def _commands(name: str) -> Callable[[], type[Provider]]:
    """A palette provider imported when the palette first opens (Textual accepts callables)."""

    def load() -> type[Provider]:
        from agentdesk.tui import commands

        return getattr(commands, name)

    load.__name__ = name
    return load


__all__ = ["DEMO_RESULT", "AgentDeskApp"]  # noqa: F822 - DEMO_RESULT: see __getattr__


def __getattr__(name: str) -> object:
    # DEMO_RESULT belongs to the first-run screen, which is imported only when it is shown.
    if name == "DEMO_RESULT":
        from agentdesk.tui.screens.first_run import DEMO_RESULT

        return DEMO_RESULT
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger(__name__)

PROGRESS_WORDS = {
    "tickets": "conversations",
    "conversations": "conversations",
    "open_backlog": "older open conversations",
    "history": "customer histories",
}
"""What the status bar says a sync resource is while its pages are still arriving."""

UNDO_WINDOW = timedelta(seconds=10)
"""Actions wait this long before they are sent: `u` always works within it."""


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
    COMMANDS: ClassVar = App.COMMANDS | {
        _commands("ConversationCommands"),
        _commands("ViewCommands"),
        _commands("CustomerCommands"),
        _commands("ThemeCommands"),
    }
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
        Binding(
            "colon",
            "command_palette",
            "Command palette",
            show=False,
            key_display=":",
            id="app.command_palette_colon",
        ),
        # Supervisor consoles: an agent-role user pressing one is told why it does not open.
        Binding("T", "team", "Team", show=False, id="app.team"),
        Binding("R", "metrics", "Metrics", show=False, id="app.metrics"),
        Binding("L", "audit", "Audit log", show=False, id="app.audit"),
    ]

    def __init__(
        self,
        store_path: Path,
        sync: SyncRunner | None = None,
        *,
        account_labels: str = "",
        clock: Callable[[], datetime] = utcnow,
        tz: tzinfo | None = None,
        keymap: dict[str, str] | None = None,
        theme: str | None = None,
        config_dir: Path | None = None,
        bell: bool = False,
        desktop_notifications: str = "off",
        downloads_dir: Path | None = None,
        opener: Callable[[Path], None] | None = None,
        undo_window: timedelta = UNDO_WINDOW,
        problems: Iterable[str] = (),
        attachment_hosts: Mapping[str, tuple[str, ...]] | None = None,
        attachment_max_mb: int = DEFAULT_ATTACHMENT_MB,
        attachments: Attachments | None = None,
    ) -> None:
        """`clock` gives "now" (frozen in tests); `tz` is the display zone (None: local).

        `keymap` maps binding ids to keys (config `[keymap]`); `theme` is a theme name
        (config `ui.theme`); `config_dir` holds canned responses, user views and user themes;
        `bell` rings the terminal bell with notifications; `desktop_notifications` ("off",
        "osc9" or "osc777") also asks the terminal for a desktop notification, with no
        customer text in it; `downloads_dir` and `opener` are
        where attachments go and how they are opened (default: the user's downloads dir and
        the system opener). `undo_window`: how long each action waits before it is sent, so
        that `u` can still take it back (zero sends at once). `problems`: sentences about the
        config (a mistyped keymap id) shown at start like a theme's. `attachment_hosts`: per
        account, the hosts the user allowed attachments from besides the account's and its
        vendor's; `attachment_max_mb`: the biggest attachment downloaded; `attachments`
        fetches them (None: attachments are listed but not downloaded).
        """
        super().__init__()
        self.config_dir = Path(config_dir) if config_dir is not None else None
        self.bell_enabled = bell
        self.downloads_dir = downloads_dir
        self.attachment_hosts = dict(attachment_hosts or {})
        self.attachment_max_mb = attachment_max_mb
        self.attachments = attachments
        self.undo_window = undo_window
        self._opener = opener
        # Theme rules (themes/*.tcss, user .tcss) are read with app.tcss.
        self.css_path = [*self.css_path, *theme_css_paths(self.config_dir)]
        for builtin in BUILTIN_THEMES:
            self.register_theme(builtin)
        user_themes, self.theme_problems = load_user_themes(self.config_dir)
        self.theme_problems.extend(problems)  # the config's, shown the same way
        for user_theme in user_themes:
            self.register_theme(user_theme)
        self.user_theme_names = {t.name for t in user_themes}
        self._set_initial_theme(theme if theme in self.available_themes else DARK)
        if theme and theme not in self.available_themes:
            self.theme_problems.append(f"unknown theme {theme!r}; using {DARK}")
        if keymap:
            self.set_keymap(keymap)
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
        self.desktop_notifications = desktop_notifications
        self.lanes: dict[str, tuple[str, float]] = {}
        """Per account, the fast lane's state: ("live" | "polling" | "offline" | "off", every)."""
        self.typing: dict[tuple[str, str], tuple[str, float]] = {}
        """(account, conversation external id) -> (who, monotonic time it lapses)."""
        self._last_input = time.monotonic()
        self._attention = "active"
        self.first_round_done = sync is None
        """False until sync's first round has filled the cache: what it brings is not news."""
        self.sync_progress: dict[str, tuple[str, int]] = {}
        """Per account, while a sync round is still fetching pages: (what, how many so far)."""
        self._background: dict[str, tuple[threading.Lock, Store | None]] = {}
        self._background_guard = threading.Lock()
        self._freeze_after_paint = False

    def run(self, *args: Any, **kwargs: Any) -> str | None:
        """Run the app in this process (the CLI; tests use `run_test`).

        Cold start: what is alive now (modules, classes, themes) lives as long as the
        process, so it is frozen out of the collector's sight, and the collector waits until
        the first frame is painted; otherwise start-up's allocations trigger collections that
        re-scan it all (a 15 ms full collection just before the first frame). `_settle_gc`
        then collects start-up's garbage and freezes the widgets the same way.
        """
        gc.freeze()
        gc.disable()
        self._freeze_after_paint = True
        try:
            return super().run(*args, **kwargs)
        finally:
            gc.enable()

    def _settle_gc(self) -> None:
        if self._freeze_after_paint:
            self._freeze_after_paint = False
            gc.collect()  # start-up's garbage is collected, not frozen with the rest
            gc.freeze()
            gc.enable()

    def _set_initial_theme(self, name: str) -> None:
        """`self.theme = name` without its watcher's stylesheet refresh.

        Assigning App.theme schedules a re-parse and re-apply of every stylesheet (~10 ms of
        cold start), but before the app runs nothing has been parsed yet: the
        stylesheet only needs the theme's variables before its first parse. The rest is what
        App._watch_theme does (theme classes, the ANSI filter).
        """
        self.set_reactive(App.theme, name)
        dark = self.current_theme.dark
        classes = {c: False for c in self.classes if c.startswith("-theme-")}
        classes |= {f"-theme-{name}": True, "-dark-mode": dark, "-light-mode": not dark}
        self.update_classes(classes, update=False)
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())

    # ---------------------------------------------------------------- screens
    def get_default_screen(self) -> Screen:
        if not self.store.accounts():
            from agentdesk.tui.screens.first_run import FirstRunScreen

            return FirstRunScreen(id="first-run")
        return InboxScreen()

    def on_mount(self) -> None:
        self.call_after_refresh(self._settle_gc)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._theme_changed(self.current_theme)
        for problem in self.theme_problems:
            self.notify_safe(problem, error=True)
        if self.sync is not None:
            self.run_sync()
            self.set_interval(ATTENTION_CHECK, self._check_attention)

    # ---------------------------------------------------------------- attention
    def on_key(self) -> None:
        self._last_input = time.monotonic()

    def on_mouse_down(self) -> None:
        self._last_input = time.monotonic()

    def _check_attention(self) -> None:
        """Tell the sync whether anyone is looking, so its fast lane can poll less."""
        if time.monotonic() - self._last_input > IDLE_AFTER:
            attention = "idle"
        elif self.screen is not self.inbox:
            attention = "elsewhere"
        else:
            attention = "active"
        if attention != self._attention and self.sync is not None:
            self._attention = attention
            set_attention = getattr(self.sync, "set_attention", None)
            if set_attention is not None:
                set_attention(attention)

    def desktop_notify(self, text: str) -> None:
        """Ask the terminal for a desktop notification (OSC 9 or OSC 777), if configured.
        `text` is ours, never a customer's: it leaves the app through the terminal."""
        if self.desktop_notifications == "osc9":
            sequence = f"\x1b]9;{text}\x07"
        elif self.desktop_notifications == "osc777":
            sequence = f"\x1b]777;notify;agentdesk;{text}\x07"
        else:
            return
        driver = self._driver
        if driver is not None:
            driver.write(sequence)

    def typing_in(self, account: str, external_id: str) -> str | None:
        """Who is typing in that conversation right now (a colleague, as the vendor says)."""
        found = self.typing.get((account, external_id))
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def lane_summary(self) -> str:
        """`acme live · chat every 2 s`: how fresh each account is (the footer shows it)."""
        words = []
        for account, (mode, every) in sorted(self.lanes.items()):
            if mode == "live":
                words.append(f"{account} live")
            elif mode == "polling":
                words.append(f"{account} every {every:.0f} s")
            elif mode == "offline":
                words.append(f"{account} not live")
        return " · ".join(words)

    def _theme_changed(self, theme: object) -> None:
        # themes/*.tcss scope their rules with the class -theme-NAME.
        for name in list(self.available_themes):
            self.set_class(name == self.theme, f"-theme-{name}")

    @property
    def inbox(self) -> InboxScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, InboxScreen):
                return screen
        return None

    def action_help(self) -> None:
        from agentdesk.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Show every key binding", self.action_help)
        if self._may_supervise():
            yield SystemCommand("Team", "Agents' load, queues and SLA risk", self.action_team)
            yield SystemCommand("Metrics", "Response times, backlog, CSAT", self.action_metrics)
            yield SystemCommand("Audit log", "Every action taken here", self.action_audit)

    # ---------------------------------------------------------------- supervisors
    def _may_supervise(self, console: str | None = None) -> bool:
        """Whether any account allows supervising; pressed for `console`, say why not."""
        from agentdesk.supervisor.roles import any_supervisor

        if any_supervisor(self.store):
            return True
        if console is not None:
            self.notify(
                f"The {console} is for supervisors and admins; your role on every "
                "account is agent (or not yet known).",
                markup=False,
                severity="warning",
            )
        return False

    def _capacity(self):
        from agentdesk.supervisor.capacity import Capacity, CapacityError, load_capacity

        if self.config_dir is None:
            return Capacity()
        try:
            return load_capacity(self.config_dir / "config.toml")
        except CapacityError as exc:
            self.notify_safe(str(exc), error=True)
            return Capacity()

    def action_team(self) -> None:
        from agentdesk.tui.screens.team import TeamScreen

        if self._may_supervise("team console") and not isinstance(self.screen, TeamScreen):
            self.push_screen(TeamScreen(capacity=self._capacity()))

    def action_metrics(self) -> None:
        from agentdesk.tui.screens.metrics import MetricsScreen

        if self._may_supervise("metrics console") and not isinstance(self.screen, MetricsScreen):
            self.push_screen(MetricsScreen())

    def action_audit(self) -> None:
        from agentdesk.tui.screens.audit import AuditScreen

        if self._may_supervise("audit log") and not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen())

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

    def _track_progress(self, event: SyncEvent) -> None:
        """What a long first sync is still fetching, for the status bar."""
        account = event.account or ""
        if event.kind == "started":
            self.sync_progress.pop(account, None)
        elif event.kind == "page" and event.extra.get("resource") in PROGRESS_WORDS:
            what = PROGRESS_WORDS[str(event.extra["resource"])]
            if event.extra.get("more"):
                previous_what, so_far = self.sync_progress.get(account, (what, 0))
                so_far = so_far if previous_what == what else 0
                fetched = int(event.extra.get("conversations", event.records) or 0)
                self.sync_progress[account] = (what, so_far + fetched)
            else:
                self.sync_progress.pop(account, None)
        elif event.kind in ("account_done", "idle", "error", "offline"):
            self.sync_progress.pop(account, None)
            if event.kind == "idle":
                self.sync_progress.clear()

    @on(SyncNotice)
    def _sync_notice(self, notice: SyncNotice) -> None:
        self._track_progress(notice.event)
        kind = notice.event.kind
        if kind in ("idle", "account_done"):
            self.first_round_done = True
        if kind == "idle":
            # A round can end offline: the runner says which in the event.
            self.online = bool(notice.event.extra.get("online", True))
            if self.online:
                self.sync_error = ""
        elif kind in ("page", "account_done"):
            self.online = True
            self.sync_error = ""
        elif kind == "offline":
            self.online = False
            self.sync_error = notice.event.message
        elif kind == "error":
            self.sync_error = notice.event.message
        elif kind == "lane" and notice.event.account:
            extra = notice.event.extra
            self.lanes[notice.event.account] = (str(extra.get("mode", "off")),
                                                float(extra.get("every", 0) or 0))  # fmt: skip
        elif kind == "typing" and notice.event.account:
            key = (notice.event.account, str(notice.event.extra.get("conversation", "")))
            if notice.event.extra.get("typing"):
                who = str(notice.event.extra.get("who") or "someone")
                self.typing[key] = (who, time.monotonic() + TYPING_LAPSES)
            else:
                self.typing.pop(key, None)
        inbox = self.inbox
        if kind == "typing" and inbox is not None and inbox.is_mounted:
            inbox.refresh_thread_title()
        if inbox is not None and inbox.is_mounted:
            if kind in ("page", "account_done", "idle"):
                inbox.mark_dirty()
            if not (kind == "page" and notice.event.extra.get("fast")):
                # A fast-lane page's status line comes with the refresh it marked: a storm
                # of pages must not read the outbox and accounts on this thread for each.
                inbox.refresh_status()
        if kind in ("page", "account_done", "idle") and self.screen is not inbox:
            mark_dirty = getattr(self.screen, "mark_dirty", None)
            if mark_dirty is not None:
                mark_dirty()

    def notify_replacing(self, message: str, previous: object = None) -> object:
        """A toast with untrusted text in it that takes the place of `previous` (what an
        earlier call returned) if that is still shown: a burst stays one line."""
        from textual.notifications import Notification, Notify

        if isinstance(previous, Notification) and previous in self._notifications:
            self._unnotify(previous, refresh=False)  # Textual's own removal of a toast
        notification = Notification(clean(message), "", "information",
                                    self.NOTIFICATION_TIMEOUT, markup=False)  # fmt: skip
        self.post_message(Notify(notification))
        return notification

    def notify_safe(self, message: str, *, error: bool = False) -> None:
        """A toast with untrusted text in it (never parsed as markup, controls made visible)."""
        self.notify(clean(message), markup=False, severity="error" if error else "information")

    # ---------------------------------------------------------------- files
    def attachment_policy(self, account: str | None) -> object:
        """Where `account`'s attachments may come from and how big they may be."""
        fetcher = self._attachment_fetcher()
        row = {row.name: row for row in self.store.accounts()}.get(account or "")
        return fetcher.policy(
            account=account or "?",
            base_url=row.base_url if row else "",
            connector=row.connector if row else "",
            extra_hosts=tuple(self.attachment_hosts.get(account or "", ())),
            max_bytes=self.attachment_max_mb * 1024 * 1024,
        )

    def _attachment_fetcher(self) -> Attachments:
        if self.attachments is None:
            raise RuntimeError("attachments cannot be downloaded from this window")
        return self.attachments

    def download_file(self, url: str, name: str, policy: object) -> Path:
        """Fetch an attachment into the downloads dir (call from a worker thread): only from
        the hosts `policy` allows, capped in size; refusals raise DownloadRefused."""
        fetcher = self._attachment_fetcher()
        directory = self.downloads_dir
        if directory is None:
            import platformdirs

            directory = Path(platformdirs.user_downloads_dir())
        directory.mkdir(parents=True, exist_ok=True)
        target = _free_path(directory, _safe_filename(name))
        return fetcher.download(url, target, policy)

    def open_file(self, path: Path) -> None:
        """Open with the system's opener (xdg-open, open, the Windows shell)."""
        if self._opener is not None:
            self._opener(path)
            return
        import subprocess

        try:
            if sys.platform == "win32":
                os.startfile(path)  # type: ignore[attr-defined]
            elif sys.platform == "darwin":
                subprocess.Popen(["open", str(path)])
            else:
                subprocess.Popen(
                    ["xdg-open", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
        except OSError as exc:
            self.notify_safe(f"Saved, but could not open it: {exc}", error=True)

    async def action_quit(self) -> None:
        self._flush_drafts()
        self._stop.set()
        self.exit()

    def _flush_drafts(self) -> None:
        inbox = self.inbox
        if inbox is not None and inbox.is_mounted:
            inbox.flush_draft_now()

    def on_unmount(self) -> None:
        try:
            self._flush_drafts()
        except Exception:
            log.exception("could not save the draft at exit")
        self._stop.set()
        self._close_stores()


_UNSAFE_NAME = re.compile(r"[^\w.\- ()\[\]+,@]+", re.UNICODE)


def _safe_filename(name: str) -> str:
    """A server-given file name made harmless: no directories, controls or leading dots."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", clean(base)).strip(" .")
    return base[:120] or "attachment"


def _free_path(directory: Path, name: str) -> Path:
    candidate = directory / name
    stem, suffix = candidate.stem, candidate.suffix
    number = 1
    while candidate.exists():
        candidate = directory / f"{stem} ({number}){suffix}"
        number += 1
    return candidate
