"""The agent's inbox: views, conversation list, thread with composer, and the customer.

Slow queries (a view's ids, the view counts, notification checks) run in thread workers on
their own connections and post messages; only message handlers touch widgets. Refreshes after
sync or another process's writes are throttled and keep the cursor on the same conversation.
Every user action becomes a mutation through `store.queue(...)`; never a connector call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from agentdesk import sla
from agentdesk.model import PRIORITIES, STATUSES
from agentdesk.query import QueryError, parse
from agentdesk.sanitize import clean, safe_content, safe_text
from agentdesk.store import MergeError, Mutation, MutationError
from agentdesk.store.queries import ConversationDetail, ViewDef
from agentdesk.store.uiqueries import (
    CustomerPanel,
    OpenedConversation,
    SlaDue,
    WatchSnapshot,
)
from agentdesk.timeutil import from_iso, to_iso
from agentdesk.tui import notices, userviews, when
from agentdesk.tui.format import CHANNEL_BADGES, local_time, short_duration, thousands
from agentdesk.tui.widgets.composer import Composer
from agentdesk.tui.widgets.picker import PickerScreen, PickItem, PromptScreen
from agentdesk.tui.widgets.sources import (
    SYNC_WORDS,
    ConversationSource,
    HistorySource,
    ThreadSource,
    ViewsSource,
)
from agentdesk.tui.widgets.window import WindowedList

if TYPE_CHECKING:
    from agentdesk.tui.app import AgentDeskApp

DEFAULT_VIEW = "open"
BURST_WINDOW = 5.0
"""Live notices this close together are one toast, recounted, rather than a pile."""
REFRESH_INTERVAL = 0.25
"""At most ~4 list refreshes a second, however fast sync pages arrive."""
POLL_INTERVAL = 1.0
"""How often to look for commits by other processes (PRAGMA data_version)."""
CLOCK_INTERVAL = 30.0
"""Countdowns and waiting times are re-rendered this often."""
SLA_WARNING = timedelta(minutes=15)
"""Notify when a conversation's SLA falls due within this window."""
FIRST_PAGE = 120
"""Rows read on the UI thread at start-up so the first frame has them (the rest: a worker)."""
SORTS: tuple[tuple[str | None, str], ...] = (
    (None, "view order"),
    ("sla", "SLA due"),
    ("waiting", "waiting time"),
    ("priority", "priority"),
    ("updated", "last update"),
)


class IdsLoaded(Message):
    def __init__(self, view_id: str, ids: list[int], generation: int) -> None:
        super().__init__()
        self.view_id = view_id
        self.ids = ids
        self.generation = generation


class CountsLoaded(Message):
    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__()
        self.counts = counts


class WatchLoaded(Message):
    def __init__(self, snapshot: WatchSnapshot, live: bool) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.live = live
        """Read after the first sync's round was done (only then is a change news)."""


class ConversationOpened(Message):
    """A conversation's thread (already wrapped) and customer panel, read by a worker."""

    def __init__(
        self,
        opened: OpenedConversation,
        source: ThreadSource | None,
        *,
        from_history: bool,
        keep_scroll: bool,
    ) -> None:
        super().__init__()
        self.opened = opened
        self.source = source
        self.from_history = from_history
        self.keep_scroll = keep_scroll


def _conversations_named(done: Sequence[Mutation]) -> str:
    """ "#1406" for one conversation, "3 conversations" for a bulk action."""
    if len(done) == 1:
        return f"#{clean(done[0].conversation_external_id)}"
    return f"{len(done)} conversations"


class DownloadDone(Message):
    def __init__(self, path: Path | None, error: str = "") -> None:
        super().__init__()
        self.path = path
        self.error = error


class InboxScreen(Screen[None], inherit_bindings=False):
    """Three panes over the local cache; everything by keyboard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Next pane", show=False, id="pane.next"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, id="pane.previous"),
        Binding("ctrl+c", "screen.copy_text", "Copy selected text", show=False, id="screen.copy"),
        Binding("r", "compose('reply')", "Reply", id="conversation.reply"),
        Binding("n", "compose('note')", "Note", id="conversation.note"),
        Binding("c", "canned", "Canned reply", show=False, id="conversation.canned"),
        Binding("e", "resolve_next", "Resolve+next", id="conversation.resolve_next"),
        Binding("a", "assign", "Assign", id="conversation.assign"),
        Binding("t", "tags", "Tag", id="conversation.tags"),
        Binding("p", "priority", "Priority", show=False, id="conversation.priority"),
        Binding("s", "status", "Status", show=False, id="conversation.status"),
        Binding("z", "snooze", "Snooze", id="conversation.snooze"),
        Binding("u", "undo", "Undo", show=False, id="conversation.undo"),
        Binding("x", "mark", "Mark", show=False, id="conversation.mark"),
        Binding("o", "open_url", "Open in web", show=False, id="conversation.open_url"),
        Binding("y", "copy_url", "Copy URL", show=False, id="conversation.copy_url"),
        Binding("f", "attachments", "Attachments", show=False, id="conversation.attachments"),
        Binding("C", "conflicts", "Sync problems", show=False, id="conversation.conflicts"),
        Binding("M", "merge", "Merge customer", show=False, id="customer.merge"),
        Binding("U", "unmerge", "Unmerge customer", show=False, id="customer.unmerge"),
        Binding("slash", "search", "Search", key_display="/", id="inbox.search"),
        Binding("v", "pick_view", "Views", id="inbox.views"),
        Binding("S", "cycle_sort", "Sort", show=False, id="inbox.sort"),
        Binding(
            "backslash",
            "toggle_side_panes",
            "Side panes",
            key_display="\\",
            show=False,
            id="inbox.side_panes",
        ),
        Binding("escape", "cancel", "Cancel", show=False, id="inbox.cancel"),
    ]

    # Narrow terminals (80x24 splits) give the list and the thread the whole width; the views
    # and customer panes come back with `\` (app.tcss). Short ones get a shorter composer.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-narrow"),
        (120, "-medium"),
        (150, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (36, "-tall")]

    def __init__(self) -> None:
        super().__init__(id="inbox")
        self.view_id = DEFAULT_VIEW
        self.sort: str | None = None
        self.open_conversation_id: int | None = None
        self.open_customer_id: int | None = None
        self._open_signature: object = None
        self._wanted_conversation: int | None = None
        """The conversation last asked for (a worker's answer for another one is stale)."""
        self._title: tuple[ConversationDetail, str | None, SlaDue] | None = None
        """(detail, sync state, SLA due) of the open conversation: the clock re-renders it."""
        self._panel: CustomerPanel | None = None
        self.counts: dict[str, int] = {}
        self.search_query: str | None = None
        self.marked: set[int] = set()
        self.undo_stack: list[tuple[str, list[str]]] = []
        """(what was done, mutation ids) for `u`: the newest last."""
        self._self_assigned: set[int] = set()
        self._watch: WatchSnapshot | None = None
        self._watch_inflight = False
        self._watch_live = False
        """Whether `_watch` was read after the first sync's round (a baseline for news)."""
        self._burst: list[notices.Notice] = []
        """What the live toast on screen counts: a burst still arriving joins it."""
        self._burst_toast: object = None
        self._burst_until = 0.0
        self._generation = 0
        self._ids_inflight = False
        self._counts_inflight = False
        self._dirty = False
        self._first_load = True
        self._reveal_sent_in: int | None = None
        """The conversation whose thread is shown at its end when it next loads (a send)."""
        self._following_top = True
        """Until the agent moves or acts, the list's cursor stays on its top row as rows
        arrive above (start-up, a new sort): the newest stay in view."""
        self._open_top = True
        """The top row is to be opened once (start-up, a new sort). The thread never changes
        by itself after that: actions act on the open conversation, wherever the cursor is."""
        self._data_version: int | None = None
        self.first_rows_at: float | None = None
        """perf_counter() when the list first had rows on screen (for the speed tests)."""
        # Cold start: the list on_mount focuses gets the first focus, rather than
        # Textual focusing the views pane and moving it (each move restyles both lists);
        # on_mount restores the default for later resumes.
        self.AUTO_FOCUS = "#conversations"
        self._resumed = False

    @property
    def desk(self) -> AgentDeskApp:
        return self.app  # type: ignore[return-value]

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        with Horizontal(id="panes"):
            yield WindowedList(id="views")
            with Vertical(id="centre"):
                with Vertical(id="search-bar"):
                    # The search field is mounted when search first opens (`_search_field`):
                    # the bar is hidden in the first frame (~4 ms of CSS and mount).
                    yield Static(id="search-error")
                yield WindowedList(id="conversations")
                yield WindowedList(id="thread", show_cursor=False)
                yield Composer(id="composer")
            with Vertical(id="customer-pane"):
                yield Static(id="customer-profile")
                yield WindowedList(id="history")
        yield Static(id="sync-status")
        yield Footer()

    def on_mount(self) -> None:
        store = self.desk.store
        self.query_one("#views", WindowedList).border_title = Content("Views")
        self.query_one("#thread", WindowedList).border_title = Content("Thread")
        self.query_one("#customer-pane", Vertical).border_title = Content("Customer")
        self.query_one("#history", WindowedList).border_title = Content("History (all channels)")
        self.query_one("#customer-profile", Static).update(
            Text("Open a conversation (Enter) to see its customer.", style="italic")
        )
        self.query_one("#search-bar").display = False
        self.query_one("#composer", Composer).display = False
        self.user_views = userviews.load_user_views(self.desk.config_dir)
        views = self.query_one("#views", WindowedList)
        views.set_source(ViewsSource(self.all_views(), current=self.view_id), keep_key=self.view_id)
        self._set_list_title(None)
        self._render_topbar()
        self.refresh_status()
        self.query_one("#conversations", WindowedList).focus()
        del self.AUTO_FOCUS  # back to the class's (Textual's) default
        self._data_version = store.data_version()
        # Cold start: the first page of the default view is one short index walk,
        # read here so the first frame has rows; the full id list, the counts and the
        # notification baseline are read by workers after that frame is painted.
        first = userviews.first_ids(store, self.view_def(self.view_id), self.sort, FIRST_PAGE)
        if first:
            self._show_ids(first)
        self._ids_inflight = self._counts_inflight = self._watch_inflight = True
        self.call_after_refresh(self._start_loading)
        self.set_interval(REFRESH_INTERVAL, self._refresh_if_dirty)
        self.set_interval(POLL_INTERVAL, self._poll_data_version)
        self.set_interval(CLOCK_INTERVAL, self._tick)

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Screen's own handler. The first resume follows the mount, which has just
        # styled every widget: re-applying the whole stylesheet to them again (Textual's
        # default, for screens coming back from the stack) costs ~8 ms of cold start.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _start_loading(self) -> None:
        self._generation += 1
        self.load_ids(self.view_def(self.view_id), self.sort, self._generation)
        self.load_counts(self.all_views())
        self.load_watch()

    @property
    def conversations(self) -> WindowedList:
        return self.query_one("#conversations", WindowedList)

    @property
    def composer(self) -> Composer:
        return self.query_one("#composer", Composer)

    # ---------------------------------------------------------------- views
    def all_views(self) -> list[ViewDef]:
        views = [*self.desk.store.views(), *self.user_views]
        if self.search_query is not None:
            views.append(ViewDef(userviews.SEARCH_VIEW, "Search results", self.search_query))
        return views

    def view_def(self, view_id: str) -> ViewDef:
        for view in self.all_views():
            if view.id == view_id:
                return view
        return self.all_views()[0]

    def _reload_views_pane(self) -> None:
        views = self.query_one("#views", WindowedList)
        source = ViewsSource(self.all_views(), counts=self.counts, current=self.view_id)
        views.set_source(source, keep_key=self.view_id)

    def show_view(self, view_id: str) -> None:
        """Switch the conversation list to another view (views pane, palette, `v`)."""
        if view_id != userviews.SEARCH_VIEW:
            self.query_one("#search-bar").display = False  # the query belongs to its results
        if view_id != self.view_id:
            self.view_id = view_id
            self.marked.clear()
            self._reload_views_pane()
            conversations = self.conversations
            conversations.cursor = 0
            conversations.scroll_to(y=0, animate=False, immediate=True)
            self._reload_ids()
        self.conversations.focus()

    def _reload_ids(self) -> None:
        self._generation += 1
        self._set_list_title(None)
        self._ids_inflight = True
        self.load_ids(self.view_def(self.view_id), self.sort, self._generation)

    def set_sort(self, sort: str | None) -> None:
        """Re-order the list; its new top row is opened, as at start-up."""
        self.sort = sort
        self._following_top = self._open_top = True
        self._reload_ids()

    def _set_list_title(self, count: int | None, *, failed: bool = False) -> None:
        view = self.view_def(self.view_id)
        name = f"Search: {view.query}" if view.id == userviews.SEARCH_VIEW else view.name
        if failed:
            shown = "could not be read"
        else:
            shown = thousands(count) if count is not None else "loading…"
        parts = [clean(name), shown]
        if self.sort is not None:
            parts.append("sort: " + dict(SORTS)[self.sort])
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        self.conversations.border_title = Content(" · ".join(parts))

    # ---------------------------------------------------------------- workers
    @work(thread=True, exclusive=True, group="ids", exit_on_error=False)
    def load_ids(self, view: ViewDef, sort: str | None, generation: int) -> None:
        with self.desk.background_store("ids") as store:
            ids = userviews.view_ids(store, view, sort)
        self.post_message(IdsLoaded(view.id, ids, generation))

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def load_counts(self, views: list[ViewDef]) -> None:
        with self.desk.background_store("counts") as store:
            counts = userviews.view_counts(store, views)
        self.post_message(CountsLoaded(counts))

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def load_watch(self) -> None:
        live = self.desk.first_round_done
        previous = self._watch
        notes_after = previous.newest_message_id if previous is not None else None
        with self.desk.background_store("watch") as store:
            snapshot = store.watch_snapshot(self.desk.clock(), SLA_WARNING, notes_after)
        self.post_message(WatchLoaded(snapshot, live))

    @work(thread=True, exclusive=True, group="drafts", exit_on_error=False)
    def save_draft(self, conversation_id: int, kind: str, body: str) -> None:
        with self.desk.background_store("drafts") as store:
            store.save_draft(conversation_id, kind, body, now=self.desk.clock())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        group = event.worker.group
        if group == "ids":
            self._ids_inflight = False
            if event.state == WorkerState.ERROR:
                # Never leave the previous view's rows under this view's title.
                self._show_ids([])
                self._set_list_title(None, failed=True)
        elif group == "counts":
            self._counts_inflight = False
        elif group == "watch":
            self._watch_inflight = False
        if event.state == WorkerState.ERROR:
            # The next data change (sync page, poll) retries; no retry loop spamming toasts.
            self.desk.notify_safe(f"Could not read the cache: {event.worker.error}", error=True)

    @on(IdsLoaded)
    def _ids_loaded(self, message: IdsLoaded) -> None:
        self._ids_inflight = False
        if message.view_id != self.view_id or message.generation != self._generation:
            return
        self._show_ids(message.ids)
        self._set_list_title(len(message.ids))

    def _show_ids(self, ids: list[int]) -> None:
        conversations = self.conversations
        keep = None if self._following_top else conversations.current_key
        source = ConversationSource(self.desk.store, ids, self.desk.clock, self.desk.tz)
        source.marked = self.marked
        if self._following_top:
            conversations.cursor = 0
        conversations.set_source(source, keep_key=keep)
        if ids and self.first_rows_at is None:
            self.first_rows_at = time.perf_counter()
        if self._first_load and ids:
            self._first_load = False
            key = conversations.current_key
            if isinstance(key, int):
                # After the frame: at start-up its worker would compete with the first paint.
                self.call_after_refresh(self._open_first, key)
        elif self._open_top and ids:
            self._open_top = False
            if ids[0] != self._wanted_conversation:
                self.open_conversation(ids[0])

    def _open_first(self, key: int) -> None:
        if self._open_top:
            self._open_top = False
            self.open_conversation(key)

    def stop_following_top(self) -> None:
        """The agent moved or acted: from now on the cursor stays on their row."""
        self._following_top = self._open_top = False

    @on(WindowedList.CursorMoved, "#conversations")
    def _cursor_moved(self, event: WindowedList.CursorMoved) -> None:
        if event.index != 0:
            self.stop_following_top()

    def on_key(self, event: events.Key) -> None:
        self.stop_following_top()  # any key: the agent is at work on what is on screen

    @on(CountsLoaded)
    def _counts_loaded(self, message: CountsLoaded) -> None:
        self._counts_inflight = False
        self.counts = message.counts
        views = self.query_one("#views", WindowedList)
        if isinstance(views.source, ViewsSource):
            views.source.counts = message.counts
            views.invalidate()

    # ---------------------------------------------------------------- refresh
    def mark_dirty(self) -> None:
        """Data changed (a sync page, another process, an action): refresh soon, bounded."""
        self._dirty = True

    def _refresh_if_dirty(self) -> None:
        if not self._dirty or self._ids_inflight:
            return
        self._dirty = False
        conversations = self.conversations
        if isinstance(conversations.source, ConversationSource):
            conversations.source.forget_rows()
        conversations.invalidate()
        self._ids_inflight = True
        # Every read is a new generation: a slow, superseded read (a thread worker cannot be
        # stopped) must not land after a newer one and show an old list.
        self._generation += 1
        self.load_ids(self.view_def(self.view_id), self.sort, self._generation)
        if not self._counts_inflight:
            self._counts_inflight = True
            self.load_counts(self.all_views())
        if not self._watch_inflight:
            self._watch_inflight = True
            self.load_watch()
        self._reopen()
        self.refresh_status()

    def _poll_data_version(self) -> None:
        version = self.desk.store.data_version()
        if version != self._data_version:
            self._data_version = version
            self.mark_dirty()

    def _tick(self) -> None:
        for widget in self.query(WindowedList):
            widget.invalidate()
        self.refresh_status()
        self._render_thread_title()  # countdowns move with the clock; the data is kept
        if not self._watch_inflight:
            self._watch_inflight = True
            self.load_watch()

    # ---------------------------------------------------------------- notifications
    @on(WatchLoaded)
    def _watch_loaded(self, message: WatchLoaded) -> None:
        """Toast what changed since the last look: new assignment, customer reply, SLA risk."""
        self._watch_inflight = False
        before, after = self._watch, message.snapshot
        before_live, self._watch, self._watch_live = self._watch_live, after, message.live
        if not (before_live and message.live):
            # What the first sync brings is the baseline, not news (a new agent's first
            # minute would otherwise be twenty "Assigned to you" toasts): the first look
            # begun after it is the baseline.
            return
        found = notices.changes(before, after, self._self_assigned)
        self._self_assigned &= after.mine
        if not found:
            return
        now = time.monotonic()
        if now < self._burst_until:
            found_so_far = [*self._burst, *found]  # still arriving: one line, recounted
        else:
            found_so_far = list(found)
        self._burst = found_so_far
        self._burst_until = now + BURST_WINDOW
        for line in notices.toast_lines(found_so_far):
            self._burst_toast = self.desk.notify_replacing(line, self._burst_toast)
        if self.desk.bell_enabled:
            self.app.bell()
        if (text := notices.attention_text(found)) is not None:
            self.desk.desktop_notify(text)

    # ---------------------------------------------------------------- opening
    @on(WindowedList.Chosen, "#views")
    def _view_chosen(self, event: WindowedList.Chosen) -> None:
        if isinstance(event.key, str):
            self.show_view(event.key)

    @on(WindowedList.Chosen, "#conversations")
    def _conversation_chosen(self, event: WindowedList.Chosen) -> None:
        if isinstance(event.key, int):
            self.stop_following_top()
            self.open_conversation(event.key)

    @on(WindowedList.Chosen, "#history")
    def _history_chosen(self, event: WindowedList.Chosen) -> None:
        if isinstance(event.key, int):
            self.stop_following_top()
            self.open_conversation(event.key, from_history=True)

    def open_conversation(
        self, conversation_id: int, *, from_history: bool = False, keep_scroll: bool = False
    ) -> None:
        """Show the conversation's thread, and its customer with their history.

        The reads (thread, wrapped to the pane's width, customer, history) run in a worker on
        its own connection; `_conversation_opened` swaps the result in. A refresh
        (`keep_scroll`) of an unchanged conversation changes nothing on screen.
        """
        self._wanted_conversation = conversation_id
        if conversation_id != self.open_conversation_id:
            self._close_composer_for_switch(conversation_id)
        same = conversation_id == self.open_conversation_id
        thread = self.query_one("#thread", WindowedList)
        self.load_conversation(
            conversation_id,
            shown_signature=self._open_signature if same and keep_scroll else None,
            # The same customer's panel is re-read only on a refresh (its data may have moved).
            shown_customer=None if keep_scroll else self.open_customer_id,
            width=max(thread.scrollable_content_region.width, 1),
            from_history=from_history,
            keep_scroll=keep_scroll,
        )

    def _reopen(self) -> None:
        """Data changed: re-read the conversation on screen, or the one still loading (a
        refresh must not replace an open the agent asked for with the old conversation)."""
        wanted = self._wanted_conversation
        if wanted is not None and wanted != self.open_conversation_id:
            self.open_conversation(wanted)
        elif self.open_conversation_id is not None:
            self.open_conversation(self.open_conversation_id, keep_scroll=True)

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def load_conversation(
        self,
        conversation_id: int,
        *,
        shown_signature: object,
        shown_customer: int | None,
        width: int,
        from_history: bool,
        keep_scroll: bool,
    ) -> None:
        with self.desk.background_store("open") as store:
            opened = store.open_conversation(
                conversation_id,
                shown_signature=shown_signature,
                shown_customer=shown_customer,
            )
        source = None
        if opened.messages is not None:
            source = ThreadSource(opened.messages, self.app.console, self.desk.clock, self.desk.tz)
            source.prepare(width)  # wrap here, not on the event loop
        self.post_message(
            ConversationOpened(opened, source, from_history=from_history, keep_scroll=keep_scroll)
        )

    @on(ConversationOpened)
    def _conversation_opened(self, message: ConversationOpened) -> None:
        opened = message.opened
        conversation_id = opened.conversation_id
        if conversation_id != self._wanted_conversation:
            return  # the agent has moved on to another conversation
        thread = self.query_one("#thread", WindowedList)
        if opened.detail is None:
            thread.set_source(ThreadSource([], self.app.console, self.desk.clock, self.desk.tz))
            thread.border_title = Content("Thread")
            return
        if message.source is None:
            return  # a refresh, and this conversation did not change: keep the wrapped lines
        keep_scroll = message.keep_scroll and conversation_id == self.open_conversation_id
        if conversation_id == self._reveal_sent_in:
            self._reveal_sent_in = None
            keep_scroll = False  # what the agent just sent is at the end: show it
        self._close_composer_for_switch(conversation_id)
        self._open_signature = opened.signature
        self.open_conversation_id = conversation_id
        scroll_y = thread.scroll_offset.y
        thread.set_source(message.source)
        if keep_scroll:
            thread.scroll_to(y=scroll_y, animate=False, immediate=True)
        else:
            # Latest messages are what the agent answers: start at the bottom.
            thread.scroll_to(y=thread.max_scroll_y, animate=False, immediate=True)
            self.call_after_refresh(thread.action_last)
        self._title = (opened.detail, opened.sync_state, opened.due)
        self._render_thread_title()
        keep_position = message.from_history or keep_scroll
        if opened.customer_id is None:
            self._show_panel(None)
        elif opened.panel is not None:
            self._show_panel(opened.panel, keep_position=keep_position)
        elif opened.customer_id == self.open_customer_id:
            self._mark_in_history(conversation_id, keep_position=keep_position)
        else:  # not read (the panel shown changed meanwhile) or the customer is gone: read now
            self.show_customer(opened.customer_id, keep_position=keep_position)

    def refresh_thread_title(self) -> None:
        """Repaint the open conversation's title (a colleague started or stopped typing)."""
        self._render_thread_title()

    def _render_thread_title(self) -> None:
        if self._title is None:
            return
        detail, sync_state, due = self._title
        badge = CHANNEL_BADGES.get(detail.channel, detail.channel)
        parts = [
            detail.subject or "(no subject)",
            badge.lower(),
            f"{detail.account} #{detail.external_id}",
            detail.status.replace("_", " "),
            detail.priority,
            detail.assignee_name or detail.team_name or "unassigned",
        ]
        if detail.tags:
            parts.append(" ".join("#" + t for t in detail.tags[:4]))
        now = self.desk.clock()
        for label, moment in (
            ("first reply", due.first_response_due),
            ("next reply", due.next_response_due),
        ):
            if moment is not None:
                state = sla.state(moment, now)
                mark = (
                    "⚠ BREACHED"
                    if state == "breached"
                    else ("⏱ AT RISK" if state == "at_risk" else "⏱")
                )
                parts.append(f"{mark} {label} {short_duration(moment - now)}")
        if due.snoozed_until is not None and due.snoozed_until > now:
            parts.append(f"snoozed until {local_time(due.snoozed_until, now, self.desk.tz)}")
        if sync_state:
            parts.append(SYNC_WORDS[sync_state])
        if (who := self.desk.typing_in(detail.account, detail.external_id)) is not None:
            parts.insert(0, f"✎ {who} is typing…")  # first: it must not be cut off
        thread = self.query_one("#thread", WindowedList)
        thread.border_title = safe_content(" · ".join(parts))

    def show_customer(self, customer_id: int | None, *, keep_position: bool = False) -> None:
        """Show a customer's profile and history now (after a merge, "go to customer")."""
        panel = self.desk.store.customer_panel(customer_id) if customer_id is not None else None
        self._show_panel(panel, keep_position=keep_position)

    def _mark_in_history(self, conversation_id: int, *, keep_position: bool) -> None:
        """Same customer, another of their conversations: move the ◀ mark, nothing re-read."""
        history = self.query_one("#history", WindowedList)
        source = history.source
        if not isinstance(source, HistorySource):
            return
        source.current = conversation_id
        history.refresh_rows()
        if not keep_position:
            index = source.index_of(conversation_id)
            if index is not None:
                history.move_to(index)

    def _show_panel(self, panel: CustomerPanel | None, *, keep_position: bool = False) -> None:
        profile = self.query_one("#customer-profile", Static)
        history = self.query_one("#history", WindowedList)
        if panel is None:
            self.open_customer_id = None
            self._panel = None
            profile.update(Text("No customer on this conversation.", style="italic"))
            history.set_source(HistorySource([], self.desk.clock, self.desk.tz))
            return
        if panel == self._panel:
            # A refresh that changed nothing about this customer: no rebuild, no lost cursor.
            self._mark_in_history(self.open_conversation_id or 0, keep_position=keep_position)
            return
        self._panel = panel
        customer = panel.customer
        self.open_customer_id = customer.id
        text = Text(end="")
        text.append_text(safe_text(customer.name or "(no name)", "bold"))
        text.append("\n")
        for identity in customer.identities[:6]:
            text.append(f"{clean(identity.kind):<9}", style="dim")
            text.append_text(safe_text(identity.value))
            text.append_text(safe_text(f" ({identity.account})", "dim"))
            text.append("\n")
        for key, value in list(customer.attributes.items())[:8]:
            text.append_text(safe_text(f"{key}: ", "dim"))
            text.append_text(safe_text(str(value)))
            text.append("\n")
        ratings = panel.ratings
        if ratings:
            text.append("CSAT ", style="dim")
            text.append_text(safe_text(" · ".join(r.rating for r in ratings[:6])))
            text.append("\n")
        merged = panel.merged
        if merged:
            text.append("merged here: ", style="dim")
            text.append_text(safe_text(", ".join(m.name for m in merged[:3])))
            text.append(" (U unmerges)\n", style="dim")
        duplicates = panel.duplicates
        if duplicates:
            text.append("possible duplicate: ", style="bold")
            text.append_text(safe_text("; ".join(f"{d.name} ({d.reason})" for d in duplicates)))
            merge_key = self._key_for("customer.merge", "M")
            text.append(f" ({merge_key} merges)\n", style="dim")
        count = customer.conversation_count
        noun = "conversation" if count == 1 else "conversations"
        text.append(f"{thousands(count)} {noun}", style="dim")
        profile.update(text)
        keep = history.current_key if keep_position else None
        source = HistorySource(
            panel.history, self.desk.clock, self.desk.tz, current=self.open_conversation_id
        )
        history.set_source(source, keep_key=keep if keep is not None else self.open_conversation_id)

    # ---------------------------------------------------------------- status
    def _render_topbar(self) -> None:
        labels = self.desk.account_labels or ", ".join(
            f"{a.name} ({a.connector})" for a in self.desk.store.accounts()
        )
        text = Text.assemble(("agentdesk", "bold"), " · ", end="")
        text.append_text(safe_text(labels))
        self.query_one("#topbar", Static).update(text)

    def refresh_status(self) -> None:
        store = self.desk.store
        summary = store.outbox_summary()
        accounts = store.accounts()
        now = self.desk.clock()
        text = Text(end="")
        if self.desk.sync is None:
            text.append("○ cache only (sync not running)")
        elif self.desk.online is None:
            text.append("◌ connecting…")
        elif self.desk.online:
            text.append("● online", style="bold")
        else:
            text.append("○ offline", style="bold")
        for account, (what, so_far) in sorted(self.desk.sync_progress.items()):
            text.append_text(safe_text(f" · {account}: fetching {what}… {thousands(so_far)}"))
            text.append(" so far")
        text.append(f" · {summary.pending} pending")
        if summary.conflicts:
            text.append(f" · {summary.conflicts} conflict", style="bold")
        if summary.failed:
            text.append(f" · {summary.failed} failed", style="bold")
        synced = [a.last_sync_at for a in accounts if a.last_sync_at is not None]
        if synced:
            text.append(f" · last sync {local_time(max(synced), now, self.desk.tz)}")
        else:
            text.append(" · never synced")
        error = self.desk.sync_error or next((a.last_error for a in accounts if a.last_error), "")
        if error:
            text.append(" · error: ", style="bold")
            text.append_text(safe_text(error))
        elif warning := next((a.sync_warning for a in accounts if a.sync_warning), ""):
            text.append(" · ", style="bold")
            text.append_text(safe_text(warning))
        if lanes := self.desk.lane_summary():
            text.append(f" · {lanes}")
        self.query_one("#sync-status", Static).update(text)

    def focused_list_key(self) -> Hashable | None:
        focused = self.focused
        return focused.current_key if isinstance(focused, WindowedList) else None

    # ================================================================ actions
    def current_conversation_id(self) -> int | None:
        """The conversation an action is about: always the one open in the thread, never the
        list's cursor row (the agent may have moved the cursor without opening)."""
        if self.open_conversation_id is None:
            open_key = self._key_for("list.open", "enter")
            self.desk.notify_safe(f"Open a conversation first ({open_key} on a row).")
        return self.open_conversation_id

    def target_ids(self) -> list[int]:
        """Marked conversations (bulk: the list title counts them), or the open one."""
        if self.marked:
            source = self.conversations.source
            order = source.index_of if isinstance(source, ConversationSource) else None
            return sorted(self.marked, key=lambda c: (order(c) if order else None) or 0)
        cid = self.current_conversation_id()
        return [cid] if cid is not None else []

    def capability(self, conversation_id: int, flag: str, default: bool = True) -> tuple[bool, str]:
        """(allowed, account name) from the account's capability flags in the store."""
        account = self.desk.store.account_of(conversation_id) or ""
        for row in self.desk.store.accounts():
            if row.name == account:
                return bool(row.capabilities.get(flag, default)), account
        return default, account

    def queue_action(
        self, ids: Sequence[int], action: str, payload: dict[str, object], label: str
    ) -> list[Mutation]:
        """Queue one action on each conversation, toast it, and make it undoable with `u`.

        Each mutation is held back from sending for the app's undo window, so `u` within it
        always works (as mail clients' "undo send"); offline it works until it is sent.
        `label` is lower case ("priority urgent"); the toast names the conversation.
        """
        self.stop_following_top()
        store = self.desk.store
        window = self.desk.undo_window
        done: list[Mutation] = []
        errors: list[str] = []
        for cid in ids:
            try:
                queued = store.queue(cid, action, payload, hold=window)  # type: ignore[arg-type]
                done.append(queued)
            except MutationError as exc:
                errors.append(str(exc))
        if done:
            what = f"{_conversations_named(done)} {label}"
            self.undo_stack.append((what, [m.id for m in done]))
            del self.undo_stack[:-50]
            undo_key = self._key_for("conversation.undo", "u")
            seconds = round(window.total_seconds())
            undo = f" · {undo_key} undoes within {seconds} s" if seconds else ""
            self.desk.notify_safe(f"{what} · queued{undo}")
            nudge = getattr(self.desk.sync, "nudge", None)
            if callable(nudge):
                # Push as soon as the undo window has passed instead of at the next interval.
                self.set_timer(window.total_seconds() + 0.05, nudge)
        if errors:
            self.desk.notify_safe(errors[0], error=True)
        self._after_local_change()
        return done

    def _after_local_change(self) -> None:
        """Our own write: the list and the thread show it on the next refresh tick."""
        conversations = self.conversations
        if isinstance(conversations.source, ConversationSource):
            conversations.source.forget_rows()
        conversations.invalidate()
        self.mark_dirty()
        self.refresh_status()
        self._reopen()

    def _key_for(self, binding_id: str, default: str) -> str:
        keymap: dict[str, str] = getattr(self.app, "_keymap", {}) or {}
        return keymap.get(binding_id, default)

    def _pick(self, picker: PickerScreen | PromptScreen, callback) -> None:
        self.app.push_screen(picker, callback)

    # ---------------------------------------------------------------- composer
    def action_compose(self, kind: str, then_canned: bool = False) -> None:
        cid = self.current_conversation_id()
        if cid is None:
            return
        self.stop_following_top()
        flag = "can_note" if kind == "note" else "can_reply"
        allowed, account = self.capability(cid, flag)
        if not allowed:
            self.desk.notify_safe(f"Account {account} cannot send a {kind} from agentdesk.")
            return
        if self.open_conversation_id != cid:
            self.open_conversation(cid)
        detail = self.desk.store.conversation(cid)
        customer = ""
        if detail is not None and detail.customer_id is not None:
            found = self.desk.store.customer(detail.customer_id)
            customer = found.name if found else ""
        composer = self.composer
        draft = self.desk.store.draft(cid)
        if composer.display and composer.conversation_id == cid:
            composer.kind = kind
            composer.update_hint()
            composer.set_class(kind == "note", "-note")
            composer.text_area.focus()
        else:
            composer.open(
                cid,
                kind if draft is None or not draft.body.strip() else draft.kind,
                customer,
                draft.body if draft else "",
                draft.started_at if draft else None,
            )
            if draft is not None and draft.kind != kind:
                composer.kind = kind
                composer.update_hint()
        self.add_class("-composing")  # short terminals: the list gives the composer room
        if then_canned:
            self.action_canned_into_composer()

    def action_canned(self) -> None:
        """Reply with a canned response: opens the composer and the template picker at once."""
        self.action_compose("reply", then_canned=True)

    def action_canned_into_composer(self) -> None:
        from agentdesk import canned

        config_dir = self.desk.config_dir
        templates = canned.load_canned(config_dir) if config_dir is not None else []
        if not templates:
            where = canned.canned_dir(config_dir) if config_dir else "the config dir"
            self.desk.notify_safe(f"No canned responses yet: add .md or .txt files to {where}")
            return
        by_name = {t.name: t for t in templates}
        items = [PickItem(t.name, t.name, " ".join(t.body.split())[:60]) for t in templates]

        def chosen(name: str | None) -> None:
            composer = self.composer
            if name is None or name not in by_name or composer.conversation_id is None:
                composer.text_area.focus()
                return
            text = canned.render(by_name[name].body, self._placeholders(composer.conversation_id))
            if composer.text.strip():
                composer.insert(text)
                composer.flush()
            else:
                composer.set_body(text)
            composer.text_area.focus()

        self._pick(PickerScreen("Canned response", items, placeholder="template name"), chosen)

    def _placeholders(self, conversation_id: int) -> dict[str, str]:
        from agentdesk import canned

        store = self.desk.store
        detail = store.conversation(conversation_id)
        if detail is None:
            return {}
        customer = store.customer(detail.customer_id) if detail.customer_id else None
        return canned.placeholders(
            customer_name=customer.name if customer else "",
            agent_name=store.my_name(detail.account),
            conversation_id=detail.external_id,
            conversation_subject=detail.subject,
        )

    @on(Composer.DraftChanged)
    def _draft_changed(self, message: Composer.DraftChanged) -> None:
        self.save_draft(message.conversation_id, message.kind, message.body)

    @on(Composer.WantTemplate)
    def _want_template(self) -> None:
        self.action_canned_into_composer()

    @on(Composer.Closed)
    def _composer_closed(self) -> None:
        self._hide_composer()
        self.conversations.focus()

    def _hide_composer(self) -> None:
        self.composer.display = False
        self.remove_class("-composing")

    def _close_composer_for_switch(self, target: int) -> None:
        """Another conversation is opening: keep the draft, hide a composer for another one."""
        composer = self.composer
        if composer.display and composer.conversation_id != target:
            composer.flush()
            self._hide_composer()
            composer.conversation_id = None

    def flush_draft_now(self) -> None:
        """At exit: write a draft whose debounce has not fired yet, synchronously."""
        pending = self.composer.pending_draft() if self.is_mounted else None
        if pending is not None:
            cid, kind, body = pending
            self.desk.store.save_draft(cid, kind, body, now=self.desk.clock())

    @on(Composer.Send)
    def _send(self, message: Composer.Send) -> None:
        composer = message.composer
        cid = composer.conversation_id
        text = composer.text
        if cid is None:
            return
        if not text.strip():
            self.desk.notify_safe("Nothing to send yet.")
            return
        store = self.desk.store
        if (
            composer.kind == "reply"
            and composer.started_at is not None
            and not composer.warned
            and store.customer_wrote_since(cid, composer.started_at)
        ):
            composer.warned = True
            send_key = self._key_for(
                "composer.send_resolve" if message.resolve else "composer.send",
                "ctrl+g" if message.resolve else "ctrl+r",
            )
            self.desk.notify_safe(
                f"The customer wrote again after you started this draft. Read the thread, "
                f"then press {send_key} again to send anyway.",
                error=True,
            )
            return
        label = "note" if composer.kind == "note" else "reply"
        done = self.queue_action([cid], composer.kind, {"text": text}, label)
        if not done:
            return
        composer.clear()
        store.delete_draft(cid)
        self._reveal_sent_in = cid
        self._hide_composer()
        if message.resolve:
            self._resolve_and_advance([cid])
        else:
            self.conversations.focus()

    @on(Composer.WantEditor)
    def _want_editor(self) -> None:
        """Edit the draft in $EDITOR when the terminal can be handed over (not in a browser)."""
        import shlex
        import subprocess
        import tempfile

        composer = self.composer
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.desk.notify_safe("Set $EDITOR to edit drafts in your own editor.")
            return
        with tempfile.NamedTemporaryFile(
            "w", suffix=".md", prefix="agentdesk-draft-", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(composer.text)
            path = Path(handle.name)
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
        except SuspendNotSupported:
            self.desk.notify_safe("This terminal cannot hand over to $EDITOR: keep typing here.")
            path.unlink(missing_ok=True)
            return
        except OSError as exc:
            self.desk.notify_safe(f"Could not start the editor: {exc}", error=True)
            path.unlink(missing_ok=True)
            return
        try:
            composer.set_body(path.read_text(encoding="utf-8").rstrip("\n"))
        finally:
            path.unlink(missing_ok=True)
        composer.text_area.focus()

    # ---------------------------------------------------------------- triage
    def action_resolve_next(self) -> None:
        ids = self.target_ids()
        if not ids:
            return
        if self.queue_action(ids, "status", {"status": "solved"}, "resolved"):
            self._resolve_and_advance(ids)

    def _resolve_and_advance(self, resolved: list[int]) -> None:
        """After resolving: land on the next conversation in the list and open it."""
        if len(resolved) == 1 and not self.marked:
            self.queue_status_if_needed(resolved[0])
        self.marked.clear()
        conversations = self.conversations
        source = conversations.source
        if isinstance(source, ConversationSource) and len(source):
            gone = set(resolved)
            index = source.index_of(resolved[-1])
            start = index if index is not None else conversations.cursor
            candidates = [
                i for i in range(start + 1, len(source)) if source.key(i) not in gone
            ] or [i for i in range(start - 1, -1, -1) if source.key(i) not in gone]
            if candidates:
                conversations.move_to(candidates[0])
                key = conversations.current_key
                if isinstance(key, int):
                    self.open_conversation(key)
        conversations.focus()
        self._set_list_title(len(source))

    def queue_status_if_needed(self, conversation_id: int) -> None:
        """Send-and-resolve queues the status after the reply (the resolve key does it first)."""
        detail = self.desk.store.conversation(conversation_id)
        if detail is not None and detail.status not in ("solved", "closed"):
            self.queue_action([conversation_id], "status", {"status": "solved"}, "resolved")

    def action_status(self) -> None:
        ids = self.target_ids()
        if not ids or not self._allowed(ids[0], "can_set_status", "change the status"):
            return
        items = [PickItem(s, s.replace("_", " ")) for s in STATUSES]

        def chosen(status: str | None) -> None:
            if status is not None:
                self.queue_action(
                    ids, "status", {"status": status}, "status " + status.replace("_", " ")
                )

        self._pick(PickerScreen("Status", items), chosen)

    def action_priority(self) -> None:
        ids = self.target_ids()
        if not ids or not self._allowed(ids[0], "can_set_priority", "change the priority"):
            return
        items = [PickItem(p, p) for p in reversed(PRIORITIES)]

        def chosen(priority: str | None) -> None:
            if priority is not None:
                self.queue_action(ids, "priority", {"priority": priority}, f"priority {priority}")

        self._pick(PickerScreen("Priority", items), chosen)

    def _allowed(self, conversation_id: int, flag: str, what: str) -> bool:
        allowed, account = self.capability(conversation_id, flag)
        if not allowed:
            self.desk.notify_safe(
                f"Account {account} does not let agentdesk {what}: do it in the helpdesk's "
                "web UI (o opens it)."
            )
        return allowed

    def action_tags(self) -> None:
        ids = self.target_ids()
        if not ids or not self._allowed(ids[0], "can_tag", "change tags"):
            return
        detail = self.desk.store.conversation(ids[0])
        current = set(detail.tags) if detail and len(ids) == 1 else set()
        items = [PickItem("-" + t, f"remove {t}") for t in sorted(current)]
        items += [
            PickItem("+" + t, f"add {t}") for t in self.desk.store.known_tags() if t not in current
        ]

        def typed(text: str) -> PickItem | None:
            word = text.strip().lstrip("+")
            if not word or " " in word or word.startswith("-"):
                return None
            return PickItem("+" + word, f"add {word}", "new tag" if word not in current else "")

        def chosen(value: str | None) -> None:
            if not value:
                return
            tag = value[1:]
            payload = {"add": [tag]} if value[0] == "+" else {"remove": [tag]}
            verb = "tagged" if value[0] == "+" else "untagged"
            self.queue_action(ids, "tags", payload, f"{verb} {tag}")

        self._pick(
            PickerScreen(
                "Tags", items, placeholder="tag to add (or pick one to remove)", free_entry=typed
            ),
            chosen,
        )

    def action_assign(self) -> None:
        ids = self.target_ids()
        if not ids:
            return
        account = self.desk.store.account_of(ids[0]) or ""
        can_agent, _ = self.capability(ids[0], "can_assign_agent")
        can_team, _ = self.capability(ids[0], "can_assign_team")
        items: list[PickItem] = []
        for person in self.desk.store.assignees(account):
            if person.kind == "agent" and can_agent:
                label = f"{person.name} (me)" if person.is_me else person.name
                items.append(PickItem("agent:" + person.email, label, person.email))
            elif person.kind == "team" and can_team:
                items.append(PickItem("team:" + person.name, person.name, "team"))
        if can_agent:
            items.append(PickItem("unassign:", "Unassign", "nobody"))
        if not items:
            self.desk.notify_safe(f"Account {account} does not let agentdesk assign.")
            return

        def chosen(value: str | None) -> None:
            if not value:
                return
            kind, _, name = value.partition(":")
            if kind == "agent":
                payload: dict[str, object] = {"agent_email": name}
                if any(p.is_me and p.email == name for p in self.desk.store.assignees(account)):
                    self._self_assigned.update(ids)
            elif kind == "team":
                payload = {"team": name}
            else:
                payload = {"unassign": True}
            if kind == "unassign":
                words = "unassigned"
            else:  # the name the agent picked, not the address behind it
                label = next((item.label for item in items if item.value == value), name)
                words = "assigned to " + ("you" if label.endswith(" (me)") else label)
            self.queue_action(ids, "assign", payload, words)

        self._pick(PickerScreen("Assign to", items, placeholder="agent or team"), chosen)

    def action_snooze(self) -> None:
        ids = self.target_ids()
        if not ids:
            return
        now, tz = self.desk.clock(), self.desk.tz
        items = [
            PickItem(to_iso(moment), label, local_time(moment, now, tz))
            for label, moment in when.presets(now, tz)
        ]

        def typed(text: str) -> PickItem | None:
            moment = when.parse_when(text, now, tz)
            if moment is None:
                return None
            return PickItem(to_iso(moment), f"until {local_time(moment, now, tz)}", "typed")

        can_snooze, account = self.capability(ids[0], "can_snooze", default=False)
        note = (
            ""
            if can_snooze
            else (
                f"{account} has no snooze: it is kept in agentdesk only and the conversation "
                "comes back here at that time."
            )
        )
        asleep = (self.desk.store.sla_due(cid).snoozed_until for cid in ids)
        snoozed = [until for until in asleep if until is not None and until > now]
        if snoozed:
            wakes = local_time(min(snoozed), now, tz)
            items.insert(0, PickItem(to_iso(now), "unsnooze (wake now)", f"sleeping until {wakes}"))

        def chosen(value: str | None) -> None:
            if not value:
                return
            where = "" if can_snooze else " (locally)"
            if from_iso(value) <= now:
                self.queue_action(ids, "snooze", {"until": value}, f"unsnoozed{where}")
                return
            shown = local_time(from_iso(value), now, tz)
            self.queue_action(ids, "snooze", {"until": value}, f"snoozed{where} until {shown}")

        self._pick(
            PickerScreen(
                "Snooze until",
                items,
                placeholder="2h, 3d, tomorrow, 14:00, 2025-03-10",
                free_entry=typed,
                note=note,
            ),
            chosen,
        )

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.desk.notify_safe("Nothing to undo.")
            return
        what, mutation_ids = self.undo_stack.pop()
        undone = sum(1 for mid in mutation_ids if self.desk.store.cancel(mid))
        if undone == 0:
            self.desk.notify_safe(f"Too late to undo {what}: it was already sent.")
        elif undone < len(mutation_ids):
            self.desk.notify_safe(f"Undid {undone} of {len(mutation_ids)} ({what}).")
        else:
            self.desk.notify_safe(f"Undone: {what}")
        self._after_local_change()

    def action_mark(self) -> None:
        conversations = self.conversations
        key = conversations.current_key
        if not isinstance(key, int):
            return
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        conversations.refresh_rows()
        conversations.move_to(conversations.cursor + 1)
        self._set_list_title(len(conversations.source))

    # ---------------------------------------------------------------- web, files, sync state
    def _web_url(self) -> str | None:
        cid = self.current_conversation_id()
        detail = self.desk.store.conversation(cid) if cid is not None else None
        url = detail.web_url if detail else None
        if not url or not url.lower().startswith(("https://", "http://")) or clean(url) != url:
            self.desk.notify_safe("This conversation has no web address in the helpdesk.")
            return None
        return url

    def action_open_url(self) -> None:
        if url := self._web_url():
            self.app.open_url(url)
            self.desk.notify_safe(f"Opening {url}")

    def action_copy_url(self) -> None:
        if url := self._web_url():
            self.app.copy_to_clipboard(url)
            self.desk.notify_safe(f"Copied {url}")

    def action_attachments(self) -> None:
        cid = self.open_conversation_id
        if cid is None:
            return
        files = [
            attachment
            for message in self.desk.store.thread(cid)
            for attachment in message.attachments
            if str(attachment.get("url", "")).lower().startswith(("https://", "http://"))
        ]
        if not files:
            self.desk.notify_safe("No attachments in this conversation.")
            return
        items = [
            PickItem(str(i), str(a.get("name", "attachment")), str(a.get("content_type", "")))
            for i, a in enumerate(files)
        ]

        def chosen(value: str | None) -> None:
            if value is not None:
                attachment = files[int(value)]
                self.desk.notify_safe(f"Downloading {attachment.get('name', 'attachment')}…")
                policy = self.desk.attachment_policy(self.desk.store.account_of(cid))
                self.download(
                    str(attachment["url"]), str(attachment.get("name", "attachment")), policy
                )

        self._pick(PickerScreen("Open attachment", items), chosen)

    @work(thread=True, exclusive=False, group="download", exit_on_error=False)
    def download(self, url: str, name: str, policy) -> None:  # type: ignore[no-untyped-def]
        try:
            path = self.desk.download_file(url, name, policy)
        except Exception as exc:  # noqa: BLE001 - any failure is reported as a toast
            self.post_message(DownloadDone(None, str(exc)))
            return
        self.post_message(DownloadDone(path))

    @on(DownloadDone)
    def _download_done(self, message: DownloadDone) -> None:
        if message.path is None:
            self.desk.notify_safe(f"Download failed: {message.error}", error=True)
            return
        self.desk.notify_safe(f"Saved {message.path}")
        self.desk.open_file(message.path)

    def action_conflicts(self) -> None:
        from agentdesk.tui.screens.conflict import ConflictScreen

        cid = self.current_conversation_id()
        if cid is None:
            return
        problems = self.desk.store.mutations(
            conversation_id=cid, states=("conflict", "failed", "pending", "sending")
        )
        if not problems:
            self.desk.notify_safe("Nothing waiting or stuck for this conversation.")
            return
        self.app.push_screen(ConflictScreen(problems))

    # ---------------------------------------------------------------- customers
    def action_merge(self) -> None:
        keep = self.open_customer_id
        if keep is None:
            return
        suggestions = self.desk.store.duplicate_suggestions(keep)
        if not suggestions:
            self.desk.notify_safe("No likely duplicates of this customer.")
            return
        items = [PickItem(str(s.customer_id), s.name, s.reason) for s in suggestions]

        def chosen(value: str | None) -> None:
            if value is None:
                return
            try:
                self.desk.store.merge_customers(keep, int(value))
            except MergeError as exc:
                self.desk.notify_safe(str(exc), error=True)
                return
            self.desk.notify_safe("Merged (locally; U unmerges)")
            self.show_customer(keep)

        self._pick(PickerScreen("Merge into this customer", items), chosen)

    def action_unmerge(self) -> None:
        customer = self.open_customer_id
        if customer is None:
            return
        merged = self.desk.store.merged_customers(customer)
        if not merged:
            self.desk.notify_safe("Nobody is merged into this customer.")
            return
        items = [PickItem(str(m.customer_id), m.name) for m in merged]

        def chosen(value: str | None) -> None:
            if value is not None:
                self.desk.store.unmerge_customer(int(value))
                self.desk.notify_safe("Unmerged")
                self.show_customer(customer)

        self._pick(PickerScreen("Split off (unmerge)", items), chosen)

    def go_to_customer(self, customer_id: int) -> None:

        conversation = self.desk.store.latest_conversation_of(customer_id)
        if conversation is not None:
            self.open_conversation(conversation)
        else:
            self.show_customer(customer_id)

    # ---------------------------------------------------------------- search, views, sort
    def _search_field(self) -> Input:
        try:
            return self.query_one("#search-input", Input)
        except NoMatches:
            field = Input(
                placeholder='search: status:open tag:vip priority:high "refund" (Enter)',
                id="search-input",
            )
            self.query_one("#search-bar").mount(field, before="#search-error")
            return field

    def action_search(self) -> None:
        bar = self.query_one("#search-bar")
        bar.display = True
        field = self._search_field()
        if self.search_query and not field.value:
            field.value = self.search_query
        field.focus()

    @on(Input.Submitted, "#search-input")
    def _search_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        error = self.query_one("#search-error", Static)
        if not text:
            return
        try:
            parse(text)
        except QueryError as exc:
            # Show where: the query with a caret under the column, then the reason.
            caret = " " * exc.position + "^"
            error.update(Content(f"{clean(text)}\n{caret} {clean(exc.reason)}"))
            error.add_class("-error")
            return
        error.update(Content(""))
        error.remove_class("-error")
        self.search_query = text
        if self.view_id == userviews.SEARCH_VIEW:
            self._reload_views_pane()
            self._reload_ids()
            self.conversations.focus()
        else:
            self.show_view(userviews.SEARCH_VIEW)

    def save_search_as_view(self) -> None:
        query = self.search_query
        config_dir = self.desk.config_dir
        if query is None or config_dir is None:
            self.desk.notify_safe("Search first (/), then save the search as a view.")
            return

        def chosen(name: str | None) -> None:
            if not name:
                return
            view = userviews.save_user_view(config_dir, name, query)
            self.user_views = userviews.load_user_views(config_dir)
            self.desk.notify_safe(f"Saved view {view.name}")
            self.show_view(view.id)
            self._counts_inflight = True
            self.load_counts(self.all_views())

        self._pick(PromptScreen("Save search as a view", placeholder="view name"), chosen)

    def action_pick_view(self) -> None:
        items = [
            PickItem(v.id, v.name, thousands(self.counts[v.id]) if v.id in self.counts else "")
            for v in self.all_views()
        ]

        def chosen(view_id: str | None) -> None:
            if view_id:
                self.show_view(view_id)

        self._pick(PickerScreen("Views", items, placeholder="view name"), chosen)

    def action_cycle_sort(self) -> None:
        order = [s for s, _label in SORTS]
        self.set_sort(order[(order.index(self.sort) + 1) % len(order)])
        self.desk.notify_safe(f"Sorted by {dict(SORTS)[self.sort]}")

    def action_toggle_side_panes(self) -> None:
        """Show the views and customer panes where the width hides them, hide them elsewhere."""
        self.toggle_class("-panes-toggled")

    def action_cancel(self) -> None:
        """Escape: leave the search box, clear marks, or go back to the list."""
        bar = self.query_one("#search-bar")
        if bar.display and self.focused is self._search_field():
            bar.display = False
            self.conversations.focus()
            return
        if self.marked:
            self.marked.clear()
            self.conversations.refresh_rows()
            self._set_list_title(len(self.conversations.source))
            return
        self.conversations.focus()
