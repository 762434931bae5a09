"""Row sources for the windowed lists: views, conversations, customer history, thread lines.

Each formats rows to a given width in terminal cells. Backend text is cleaned by the one
sanitizer and placed in `Text` objects (never markup). The conversation source fetches only the
rows asked for, by id, and keeps a bounded cache of them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timedelta, tzinfo

from rich.console import Console
from rich.style import Style
from rich.text import Text

from agentdesk.sanitize import clean
from agentdesk.store import Store
from agentdesk.store.queries import HistoryRow, InboxRow, MessageRow, ViewDef
from agentdesk.tui.format import (
    BADGE_WIDTH,
    PRIORITY_LABELS,
    badge,
    fit,
    fit_right,
    local_date,
    local_time,
    short_duration,
    thousands,
)
from agentdesk.tui.widgets.window import ListSource, Painter

AT_RISK = timedelta(minutes=30)
ROW_CACHE = 4000

Clock = Callable[[], datetime]


class ViewsSource(ListSource):
    """The views pane: a handful of saved views with their live counts."""

    def __init__(
        self,
        views: Sequence[ViewDef],
        counts: dict[str, int] | None = None,
        current: str | None = None,
    ) -> None:
        self.views = list(views)
        self.counts = dict(counts or {})
        self.current = current
        """The view shown in the conversation list, marked with ▸."""

    def __len__(self) -> int:
        return len(self.views)

    def key(self, index: int) -> Hashable | None:
        return self.views[index].id

    def render(self, start: int, end: int, width: int, paint: Painter) -> list[Text]:
        rows = []
        for view in self.views[start:end]:
            count = self.counts.get(view.id)
            number = thousands(count) if count is not None else "…"
            name_width = max(width - len(number) - 3, 1)
            marker = "▸ " if view.id == self.current else "  "
            rows.append(
                Text.assemble(
                    (marker, paint("wl--current")),
                    fit(view.name, name_width),
                    " ",
                    (number, paint("wl--muted")),
                    end="",
                )
            )
        return rows


class ConversationSource(ListSource):
    """A view's conversations: the ordered ids, with rows fetched by id for the visible window."""

    def __init__(
        self, store: Store, ids: Sequence[int], clock: Clock, tz: tzinfo | None = None
    ) -> None:
        self.store = store
        self.ids = list(ids)
        self.clock = clock
        self.tz = tz
        self._rows: OrderedDict[int, InboxRow] = OrderedDict()
        self._sync: dict[int, str] = {}
        self._positions: dict[int, int] | None = None
        self.marked: set[int] = set()
        """Conversations marked for a bulk action (shared with the screen)."""

    def __len__(self) -> int:
        return len(self.ids)

    def key(self, index: int) -> Hashable | None:
        return self.ids[index] if 0 <= index < len(self.ids) else None

    def index_of(self, key: Hashable) -> int | None:
        if self._positions is None:
            self._positions = {cid: i for i, cid in enumerate(self.ids)}
        return self._positions.get(key)  # type: ignore[arg-type]

    def forget_rows(self) -> None:
        self._rows.clear()
        self._sync.clear()

    def rows(self, start: int, end: int) -> list[InboxRow | None]:
        wanted = self.ids[start:end]
        missing = [cid for cid in wanted if cid not in self._rows]
        if missing:
            fetched = self.store.inbox_rows(missing)
            # Pending / failed / conflict per row, fetched with the rows (one indexed query).
            self._sync.update(self.store.conversation_sync_state(missing))
            for cid in missing:
                row = fetched.get(cid)
                if row is not None:
                    self._rows[cid] = row
            while len(self._rows) > ROW_CACHE:
                evicted, _row = self._rows.popitem(last=False)
                self._sync.pop(evicted, None)
        return [self._rows.get(cid) for cid in wanted]

    def render(self, start: int, end: int, width: int, paint: Painter) -> list[Text]:
        now = self.clock()
        return [
            conversation_line(
                row, width, now, paint, self._sync.get(row.id), row.id in self.marked
            )
            if row
            else Text(fit("(removed)", width))
            for row in self.rows(start, end)
        ]


def sla_cell(due: datetime | None, now: datetime, paint: Painter) -> tuple[str, Style]:
    if due is None:
        return "", Style()
    left = due - now
    if left < timedelta(0):
        return "⚠ " + short_duration(left), paint("wl--overdue")
    style = paint("wl--at-risk") if left <= AT_RISK else paint("wl--ok")
    return "⏱ " + short_duration(left), style


def priority_style(priority: str, paint: Painter) -> Style:
    if priority == "urgent":
        return paint("wl--urgent")
    if priority == "high":
        return paint("wl--high")
    if priority == "low":
        return paint("wl--low")
    return Style()


SYNC_MARKS = {"pending": ("↑", "wl--muted"), "failed": ("!", "wl--overdue"),
              "conflict": ("≠", "wl--overdue")}
"""One cell per row: the outbox state of the conversation (shown in the list and thread)."""
SYNC_WORDS = {"pending": "↑ pending sync", "failed": "! failed to send",
              "conflict": "≠ conflict: press C"}


def conversation_line(
    row: InboxRow,
    width: int,
    now: datetime,
    paint: Painter,
    sync_state: str | None = None,
    marked: bool = False,
) -> Text:
    """mark · sync · badge · customer · subject · waiting · priority · SLA, in `width` cells."""
    waiting = short_duration(now - row.waiting_since) if row.waiting_since else ""
    if row.snoozed_until is not None and row.snoozed_until > now:
        # A sleeping conversation's deadline is when it wakes (the Snoozed view).
        sla, sla_style = "z " + short_duration(row.snoozed_until - now), paint("wl--muted")
    else:
        sla, sla_style = sla_cell(row.sla_due, now, paint)
    customer_width = 18 if width >= 80 else 12
    fixed = 2 + BADGE_WIDTH + 1 + customer_width + 1 + 1 + 4 + 1 + 4 + 1 + 7
    subject_width = max(width - fixed, 4)
    mark, mark_style = SYNC_MARKS.get(sync_state or "", (" ", ""))
    return Text.assemble(
        ("*" if marked else " ", paint("wl--current")),
        (mark, paint(mark_style) if mark_style else Style()),
        (badge(row.channel), paint("wl--badge")),
        " ",
        (fit(clean(row.customer_name) or "—", customer_width), paint("wl--strong")),
        " ",
        fit(clean(row.subject) or "(no subject)", subject_width),
        " ",
        (fit_right(waiting, 4), paint("wl--muted")),
        " ",
        (
            fit(PRIORITY_LABELS.get(row.priority, clean(row.priority)), 4),
            priority_style(row.priority, paint),
        ),
        " ",
        (fit_right(sla, 7), sla_style),
        end="",
    )


class HistorySource(ListSource):
    """A customer's conversations on every channel and account, newest first."""

    def __init__(
        self,
        rows: Sequence[HistoryRow],
        clock: Clock,
        tz: tzinfo | None = None,
        current: int | None = None,
    ) -> None:
        self.history = list(rows)
        self.clock = clock
        self.tz = tz
        self.current = current
        """The conversation open in the thread, marked in the list."""

    def __len__(self) -> int:
        return len(self.history)

    def key(self, index: int) -> Hashable | None:
        return self.history[index].id if 0 <= index < len(self.history) else None

    def render(self, start: int, end: int, width: int, paint: Painter) -> list[Text]:
        now = self.clock()
        out = []
        for row in self.history[start:end]:
            when = local_date(row.created_at, now, self.tz)
            marker = "◀" if row.id == self.current else " "
            status_width = 7
            subject_width = max(width - BADGE_WIDTH - 1 - 5 - 1 - 1 - status_width - 2, 4)
            out.append(
                Text.assemble(
                    (badge(row.channel), paint("wl--badge")),
                    " ",
                    (fit(when, 5), paint("wl--muted")),
                    " ",
                    fit(clean(row.subject) or "(no subject)", subject_width),
                    " ",
                    (fit(clean(row.status).replace("_", " "), status_width), paint("wl--muted")),
                    " ",
                    (marker, paint("wl--current")),
                    end="",
                )
            )
        return out


class ThreadSource(ListSource):
    """A conversation's messages as wrapped lines, computed once per width and cached."""

    def __init__(
        self,
        messages: Sequence[MessageRow],
        console: Console,
        clock: Clock,
        tz: tzinfo | None = None,
    ) -> None:
        self.messages = list(messages)
        self.console = console
        self.clock = clock
        self.tz = tz
        self._width = -1
        self._lines: list[tuple[str, list[tuple[str, str]]]] = []
        """Per line: the message-kind style name and (text, style name) spans."""

    def _layout(self, width: int) -> None:
        if width == self._width:
            return
        self._width = width
        now = self.clock()
        lines: list[tuple[str, list[tuple[str, str]]]] = []
        for message in self.messages:
            lines.extend(thread_lines(message, width, now, self.tz, self.console))
            lines.append(("", []))
        if lines:
            lines.pop()
        self._lines = lines

    def prepare(self, width: int) -> None:
        self._layout(width)

    def __len__(self) -> int:
        return len(self._lines)

    def key(self, index: int) -> Hashable | None:
        return index

    def render(self, start: int, end: int, width: int, paint: Painter) -> list[Text]:
        self._layout(width)
        out = []
        for _kind, spans in self._lines[start:end]:
            text = Text(end="", no_wrap=True)
            for chunk, style in spans:
                text.append(chunk, paint(style) if style else None)
            out.append(text)
        return out


AUTHOR_STYLES = {"customer": "wl--customer", "agent": "wl--agent", "bot": "wl--bot"}


def thread_lines(
    message: MessageRow, width: int, now: datetime, tz: tzinfo | None, console: Console
) -> list[tuple[str, list[tuple[str, str]]]]:
    """One message as lines: a header (time, author, channel, account) and the wrapped body."""
    when = local_time(message.created_at, now, tz)
    where = f"{clean(message.channel)} · {clean(message.account)}"
    author = clean(message.author_name) or message.author_kind
    if message.kind == "event":
        body = " ".join(clean(message.body, single_line=False).split())
        text = Text(f"· {when} {body} ({where})", no_wrap=False)
        return [("event", [(str(line), "wl--event")]) for line in text.wrap(console, width)]
    is_note = message.kind == "note"
    if is_note:
        label = "NOTE (internal)"
    elif message.author_kind == "bot":
        label = "BOT (automated)"
    else:
        label = clean(message.author_kind)
    header: list[tuple[str, str]] = [
        (when, "wl--muted"),
        (" ", ""),
        (author, "wl--note" if is_note else AUTHOR_STYLES.get(message.author_kind, "wl--strong")),
        (" · ", "wl--muted"),
        (label, "wl--note" if is_note else "wl--muted"),
        (" · " + where, "wl--muted"),
    ]
    lines: list[tuple[str, list[tuple[str, str]]]] = [("header", header)]
    gutter, gutter_style = ("▌ ", "wl--note") if is_note else ("  ", "")
    body = clean(message.body, single_line=False).expandtabs(4).rstrip("\n")
    body_width = max(width - 2, 8)
    for line in Text(body).wrap(console, body_width):
        lines.append(("note" if is_note else "body", [(gutter, gutter_style), (str(line), "")]))
    if message.attachments:
        for attachment in message.attachments:
            name = clean(str(attachment.get("name", "attachment")))
            size = attachment.get("size")
            size_text = f"{size:,} bytes" if isinstance(size, int) else "size unknown"
            lines.append(
                (
                    "body",
                    [
                        (gutter, gutter_style),
                        (f"attachment: {name} ({size_text}) · f opens", "wl--muted"),
                    ],
                )
            )
    return lines
