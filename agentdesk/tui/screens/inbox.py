"""The agent's inbox: views, conversation list, thread, and the customer with their history.

Slow queries (a view's ids, the view counts) run in thread workers on their own connections
and post messages; only message handlers touch widgets. Refreshes after sync or another
process's writes are throttled and keep the cursor on the same conversation.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from agentdesk.sanitize import clean, safe_content, safe_text
from agentdesk.store.queries import ViewDef
from agentdesk.store.uiqueries import thread_stamp
from agentdesk.tui.format import CHANNEL_BADGES, local_time, thousands
from agentdesk.tui.widgets.sources import (
    ConversationSource,
    HistorySource,
    ThreadSource,
    ViewsSource,
)
from agentdesk.tui.widgets.window import WindowedList

if TYPE_CHECKING:
    from agentdesk.tui.app import AgentDeskApp

DEFAULT_VIEW = "open"
REFRESH_INTERVAL = 0.25
"""At most ~4 list refreshes a second, however fast sync pages arrive."""
POLL_INTERVAL = 1.0
"""How often to look for commits by other processes (PRAGMA data_version)."""
CLOCK_INTERVAL = 30.0
"""Countdowns and waiting times are re-rendered this often."""


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


class InboxScreen(Screen[None], inherit_bindings=False):
    """Three panes over the local cache; everything by keyboard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Next pane", id="pane.next"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, id="pane.previous"),
        Binding("ctrl+c", "screen.copy_text", "Copy selected text", show=False, id="screen.copy"),
    ]

    def __init__(self) -> None:
        super().__init__(id="inbox")
        self.view_id = DEFAULT_VIEW
        self.open_conversation_id: int | None = None
        self.open_customer_id: int | None = None
        self._open_signature: object = None
        self.counts: dict[str, int] = {}
        self._generation = 0
        self._ids_inflight = False
        self._counts_inflight = False
        self._dirty = False
        self._first_load = True
        self._data_version: int | None = None
        self.first_rows_at: float | None = None
        """perf_counter() when the list first had rows on screen (for the speed tests)."""

    @property
    def desk(self) -> AgentDeskApp:
        return self.app  # type: ignore[return-value]

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        with Horizontal(id="panes"):
            yield WindowedList(id="views")
            with Vertical(id="centre"):
                yield WindowedList(id="conversations")
                yield WindowedList(id="thread", show_cursor=False)
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
        views = self.query_one("#views", WindowedList)
        views.set_source(ViewsSource(store.views(), current=self.view_id), keep_key=self.view_id)
        self._set_list_title(None)
        self._render_topbar()
        self.refresh_status()
        self.query_one("#conversations", WindowedList).focus()
        self._data_version = store.data_version()
        self._ids_inflight = self._counts_inflight = True
        self.load_ids(self.view_id, self._generation)
        self.load_counts()
        self.set_interval(REFRESH_INTERVAL, self._refresh_if_dirty)
        self.set_interval(POLL_INTERVAL, self._poll_data_version)
        self.set_interval(CLOCK_INTERVAL, self._tick)

    # ---------------------------------------------------------------- views
    def view_def(self, view_id: str) -> ViewDef:
        return next(v for v in self.desk.store.views() if v.id == view_id)

    def show_view(self, view_id: str) -> None:
        """Switch the conversation list to another view (views pane, palette)."""
        if view_id != self.view_id:
            self.view_id = view_id
            self._generation += 1
            views = self.query_one("#views", WindowedList)
            if isinstance(views.source, ViewsSource):
                views.source.current = view_id
            views.set_source(views.source, keep_key=view_id)
            conversations = self.query_one("#conversations", WindowedList)
            conversations.cursor = 0
            conversations.scroll_to(y=0, animate=False, immediate=True)
            self._set_list_title(None)
            self._ids_inflight = True
            self.load_ids(view_id, self._generation)
        self.query_one("#conversations", WindowedList).focus()

    def _set_list_title(self, count: int | None) -> None:
        name = self.view_def(self.view_id).name
        shown = thousands(count) if count is not None else "loading…"
        self.query_one("#conversations", WindowedList).border_title = Content(f"{name} · {shown}")

    # ---------------------------------------------------------------- workers
    @work(thread=True, exclusive=True, group="ids", exit_on_error=False)
    def load_ids(self, view_id: str, generation: int) -> None:
        with self.desk.background_store("ids") as store:
            ids = store.view_conversation_ids(view_id)
        self.post_message(IdsLoaded(view_id, ids, generation))

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def load_counts(self) -> None:
        with self.desk.background_store("counts") as store:
            counts = store.view_counts()
        self.post_message(CountsLoaded(counts))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "ids":
            self._ids_inflight = False
        elif event.worker.group == "counts":
            self._counts_inflight = False
        if event.state == WorkerState.ERROR:
            # The next data change (sync page, poll) retries; no retry loop spamming toasts.
            self.desk.notify_safe(f"Could not read the cache: {event.worker.error}", error=True)

    @on(IdsLoaded)
    def _ids_loaded(self, message: IdsLoaded) -> None:
        self._ids_inflight = False
        if message.view_id != self.view_id or message.generation != self._generation:
            return
        conversations = self.query_one("#conversations", WindowedList)
        keep = conversations.current_key
        source = ConversationSource(self.desk.store, message.ids, self.desk.clock, self.desk.tz)
        conversations.set_source(source, keep_key=keep)
        self._set_list_title(len(message.ids))
        if message.ids and self.first_rows_at is None:
            self.first_rows_at = time.perf_counter()
        if self._first_load and message.ids:
            self._first_load = False
            key = conversations.current_key
            if isinstance(key, int):
                self.open_conversation(key)

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
        """Data changed (a sync page, another process): refresh soon, at a bounded rate."""
        self._dirty = True

    def _refresh_if_dirty(self) -> None:
        if not self._dirty or self._ids_inflight:
            return
        self._dirty = False
        conversations = self.query_one("#conversations", WindowedList)
        if isinstance(conversations.source, ConversationSource):
            conversations.source.forget_rows()
        conversations.invalidate()
        self._ids_inflight = True
        self.load_ids(self.view_id, self._generation)
        if not self._counts_inflight:
            self._counts_inflight = True
            self.load_counts()
        if self.open_conversation_id is not None:
            self.open_conversation(self.open_conversation_id, keep_scroll=True)
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

    # ---------------------------------------------------------------- opening
    @on(WindowedList.Chosen, "#views")
    def _view_chosen(self, event: WindowedList.Chosen) -> None:
        if isinstance(event.key, str):
            self.show_view(event.key)

    @on(WindowedList.Chosen, "#conversations")
    def _conversation_chosen(self, event: WindowedList.Chosen) -> None:
        if isinstance(event.key, int):
            self.open_conversation(event.key)

    @on(WindowedList.Chosen, "#history")
    def _history_chosen(self, event: WindowedList.Chosen) -> None:
        if isinstance(event.key, int):
            self.open_conversation(event.key, from_history=True)

    def open_conversation(
        self, conversation_id: int, *, from_history: bool = False, keep_scroll: bool = False
    ) -> None:
        """Show the conversation's thread, and its customer with their history."""
        store = self.desk.store
        detail = store.conversation(conversation_id)
        thread = self.query_one("#thread", WindowedList)
        if detail is None:
            thread.set_source(ThreadSource([], self.app.console, self.desk.clock, self.desk.tz))
            thread.border_title = Content("Thread")
            return
        signature = (detail, thread_stamp(store, conversation_id))
        if keep_scroll and signature == self._open_signature:
            return  # a refresh, and this conversation did not change: keep the wrapped lines
        self._open_signature = signature
        self.open_conversation_id = conversation_id
        scroll_y = thread.scroll_offset.y
        source = ThreadSource(
            store.thread(conversation_id), self.app.console, self.desk.clock, self.desk.tz
        )
        thread.set_source(source)
        if keep_scroll:
            thread.scroll_to(y=scroll_y, animate=False, immediate=True)
        else:
            # Latest messages are what the agent answers: start at the bottom.
            thread.scroll_to(y=thread.max_scroll_y, animate=False, immediate=True)
            self.call_after_refresh(thread.action_last)
        badge = CHANNEL_BADGES.get(detail.channel, detail.channel)
        thread.border_title = safe_content(
            f"{detail.subject or '(no subject)'} · {badge.lower()} · {detail.account} "
            f"#{detail.external_id} · {detail.status} · {detail.priority}"
        )
        if detail.customer_id is not None:
            self.show_customer(detail.customer_id, keep_position=from_history or keep_scroll)
        else:
            self.show_customer(None)

    def show_customer(self, customer_id: int | None, *, keep_position: bool = False) -> None:
        store = self.desk.store
        profile = self.query_one("#customer-profile", Static)
        history = self.query_one("#history", WindowedList)
        customer = store.customer(customer_id) if customer_id is not None else None
        if customer is None:
            self.open_customer_id = None
            profile.update(Text("No customer on this conversation.", style="italic"))
            history.set_source(HistorySource([], self.desk.clock, self.desk.tz))
            return
        self.open_customer_id = customer.id
        text = Text(end="")
        text.append_text(safe_text(customer.name or "(no name)", "bold"))
        text.append("\n")
        for identity in customer.identities:
            text.append(f"{clean(identity.kind):<9}", style="dim")
            text.append_text(safe_text(identity.value))
            text.append_text(safe_text(f" ({identity.account})", "dim"))
            text.append("\n")
        for key, value in list(customer.attributes.items())[:8]:
            text.append_text(safe_text(f"{key}: ", "dim"))
            text.append_text(safe_text(str(value)))
            text.append("\n")
        count = customer.conversation_count
        noun = "conversation" if count == 1 else "conversations"
        text.append(f"{thousands(count)} {noun}", style="dim")
        profile.update(text)
        keep = history.current_key if keep_position else None
        source = HistorySource(
            store.customer_history(customer.id),
            self.desk.clock,
            self.desk.tz,
            current=self.open_conversation_id,
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
            text.append("○ cache only (sync not running)", style="dim")
        elif self.desk.online is None:
            text.append("◌ connecting…", style="dim")
        elif self.desk.online:
            text.append("● online", style="bold")
        else:
            text.append("○ offline", style="bold")
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
        self.query_one("#sync-status", Static).update(text)

    def focused_list_key(self) -> Hashable | None:
        focused = self.focused
        return focused.current_key if isinstance(focused, WindowedList) else None
