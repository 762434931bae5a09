"""A window over a long list: the one list widget for the inbox, the history and the thread.

Textual's DataTable and ListView build every row up front (45 s for 100k rows). This widget is
a Line-API `ScrollView`: its virtual height is the row count, and `render_line` formats only
the rows on screen, fetched from a `ListSource` a window at a time and kept in a small cache.
A source swap (new ids after sync) keeps the cursor on the same key (conversation id).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Painter = Callable[[str], Style]
"""Looks up a theme style by component class name (e.g. "wl--muted")."""

CACHE_LIMIT = 2000
PREFETCH = 8
"""Rows fetched beyond the visible window so a keypress rarely needs a query."""


class ListSource(ABC):
    """Rows for a `WindowedList`: a count, a key per row, and formatting of a range of rows."""

    @abstractmethod
    def __len__(self) -> int: ...

    def prepare(self, width: int) -> None:
        """Called before the count is read when the width is known or changes (wrapped text)."""

    @abstractmethod
    def key(self, index: int) -> Hashable | None:
        """A stable identity for the row (a conversation id), to keep the cursor across swaps."""

    def index_of(self, key: Hashable) -> int | None:
        for index in range(len(self)):
            if self.key(index) == key:
                return index
        return None

    @abstractmethod
    def render(self, start: int, end: int, width: int, paint: Painter) -> list[Text]:
        """Rows `start` to `end` (exclusive), each formatted to `width` cells as one line."""


class EmptySource(ListSource):
    def __len__(self) -> int:
        return 0

    def key(self, index: int) -> Hashable | None:
        return None

    def render(self, start: int, end: int, width: int, paint: Painter) -> list[Text]:
        return []


class WindowedList(ScrollView, can_focus=True, inherit_bindings=False):
    """A keyboard-driven list over a `ListSource`, rendering only what is visible."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False, id="list.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="list.up"),
        Binding("g,home", "first", "First", show=False, id="list.first"),
        Binding("G,end", "last", "Last", show=False, id="list.last"),
        Binding("pageup", "page_up", "Page up", show=False, id="list.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="list.page_down"),
        Binding("enter", "choose", "Open", id="list.open"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "wl--cursor",
        "wl--cursor-blurred",
        "wl--muted",
        "wl--strong",
        "wl--badge",
        "wl--urgent",
        "wl--high",
        "wl--low",
        "wl--overdue",
        "wl--at-risk",
        "wl--ok",
        "wl--customer",
        "wl--agent",
        "wl--bot",
        "wl--note",
        "wl--event",
        "wl--current",
    }

    DEFAULT_CSS = """
    WindowedList {
        overflow-x: hidden;
        overflow-y: auto;
    }
    """

    class CursorMoved(Message):
        def __init__(self, widget: WindowedList, index: int, key: Hashable | None) -> None:
            super().__init__()
            self.widget = widget
            self.index = index
            self.key = key

        @property
        def control(self) -> WindowedList:
            return self.widget

    class Chosen(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, widget: WindowedList, index: int, key: Hashable | None) -> None:
            super().__init__()
            self.widget = widget
            self.index = index
            self.key = key

        @property
        def control(self) -> WindowedList:
            return self.widget

    def __init__(
        self,
        source: ListSource | None = None,
        *,
        show_cursor: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.source: ListSource = source or EmptySource()
        self.show_cursor = show_cursor
        self.cursor = 0
        self._strips: dict[int, Strip] = {}
        self._cache_width = -1
        self._styles: dict[str, Style] = {}
        self._frame: tuple[int, Style] | None = None
        self._painted_theme = ""
        self._shown_height = 0

    # ------------------------------------------------------------------ data
    def set_source(self, source: ListSource, *, keep_key: Hashable | None = None) -> None:
        """Show `source`; the cursor stays on `keep_key`'s row when it is still there."""
        self.source = source
        source.prepare(self._content_width())
        count = len(source)
        index = source.index_of(keep_key) if keep_key is not None else None
        if index is None:
            index = min(self.cursor, max(count - 1, 0))
        self.invalidate()
        self.virtual_size = Size(self._content_width(), count)
        self._move_to(index, force_message=True)

    def invalidate(self) -> None:
        """Forget formatted rows (data or clock changed); visible rows are re-fetched."""
        self._strips.clear()
        self._styles.clear()
        self.refresh()

    def move_to(self, index: int) -> None:
        """Put the cursor on row `index` (clamped), scrolling it into view."""
        self._move_to(index)

    def refresh_rows(self) -> None:
        """Repaint the visible rows from the source (marks changed) without refetching data."""
        self._strips.clear()
        self.refresh()

    @property
    def current_key(self) -> Hashable | None:
        if not len(self.source):
            return None
        return self.source.key(self.cursor)

    # ------------------------------------------------------------------ rendering
    def _content_width(self) -> int:
        return max(self.scrollable_content_region.width, 1)

    def paint(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.get_component_rich_style(name, partial=True)
            styles = self.get_component_styles(name)
            # A partial style drops alpha ("$accent 40%" came out as the full accent): blend
            # translucent colours over the pane's own background, as the eye sees them.
            pane = self.background_colors[1]
            under = pane + styles.background if styles.has_rule("background") else pane
            if styles.has_rule("background") and styles.background.a < 1:
                style += Style(bgcolor=under.rich_color)
            if styles.has_rule("color") and styles.color.a < 1:
                style += Style(color=(under + styles.color).rich_color)
            self._styles[name] = style
        return style

    def on_resize(self, event: events.Resize) -> None:
        bottom = self.scroll_offset.y + self._shown_height
        self._shown_height = self.scrollable_content_region.height
        self.source.prepare(self._content_width())
        self.virtual_size = Size(self._content_width(), len(self.source))
        self.invalidate()
        if self.show_cursor:
            self._scroll_cursor_into_view()
        elif bottom:
            # A reader's list (the thread) keeps its last visible line where the eye is when
            # it shrinks (the composer opening under it): the message being answered.
            self.scroll_to(y=max(bottom - self._shown_height, 0), animate=False, immediate=True)

    def render_lines(self, crop: Region) -> list[Strip]:
        # Width and base style are the same for every line of a frame: computed once here
        # rather than per line (both walk the DOM; ~20% of a cold start's first frame).
        self._frame = (self._content_width(), self.rich_style)
        if self._painted_theme != self.app.theme:
            # Rows are formatted with the theme's colours: a new theme repaints them all.
            self._painted_theme = self.app.theme
            self._strips.clear()
            self._styles.clear()
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        width, base = self._frame or (self._content_width(), self.rich_style)
        if width != self._cache_width:
            self._strips.clear()
            self._cache_width = width
        index = self.scroll_offset.y + y
        if index >= len(self.source):
            return Strip.blank(width, base)
        strip = self._strips.get(index)
        if strip is None:
            self._fetch_window(index, width)
            strip = self._strips.get(index) or Strip.blank(width)
        strip = strip.apply_style(base)
        if self.show_cursor and index == self.cursor:
            name = "wl--cursor" if self.has_focus else "wl--cursor-blurred"
            strip = Strip(
                Segment.apply_style(strip, post_style=self.paint(name)), strip.cell_length
            )
        return strip

    def _fetch_window(self, index: int, width: int) -> None:
        if len(self._strips) > CACHE_LIMIT:
            self._strips.clear()
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        start = max(min(index, top) - PREFETCH, 0)
        end = min(max(index + 1, top + height) + PREFETCH, len(self.source))
        missing = [i for i in range(start, end) if i not in self._strips]
        if not missing:
            return
        start, end = missing[0], missing[-1] + 1
        console = self.app.console
        texts = self.source.render(start, end, width, self.paint)
        for offset, text in enumerate(texts):
            segments = list(text.render(console, end=""))
            self._strips[start + offset] = Strip(segments).crop_extend(0, width, None)

    # ------------------------------------------------------------------ cursor
    def _move_to(self, index: int, *, force_message: bool = False) -> None:
        count = len(self.source)
        index = max(0, min(index, count - 1)) if count else 0
        old = self.cursor
        self.cursor = index
        if self.show_cursor:
            self._scroll_cursor_into_view()
            self.refresh_line(old)
            self.refresh_line(index)
        if old != index or force_message:
            self.post_message(self.CursorMoved(self, index, self.current_key))

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        if height <= 0:
            return
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _page(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def action_cursor_down(self) -> None:
        if self.show_cursor:
            self._move_to(self.cursor + 1)
        else:
            self.scroll_to(y=self.scroll_offset.y + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        if self.show_cursor:
            self._move_to(self.cursor - 1)
        else:
            self.scroll_to(y=self.scroll_offset.y - 1, animate=False, immediate=True)

    def action_first(self) -> None:
        if self.show_cursor:
            self._move_to(0)
        else:
            self.scroll_to(y=0, animate=False, immediate=True)

    def action_last(self) -> None:
        if self.show_cursor:
            self._move_to(len(self.source) - 1)
        else:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def action_page_down(self) -> None:
        if self.show_cursor:
            self._move_to(self.cursor + self._page())
        else:
            self.scroll_to(y=self.scroll_offset.y + self._page(), animate=False, immediate=True)

    def action_page_up(self) -> None:
        if self.show_cursor:
            self._move_to(self.cursor - self._page())
        else:
            self.scroll_to(y=self.scroll_offset.y - self._page(), animate=False, immediate=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A list without a cursor (a thread, a preview) has nothing to open: Enter belongs to
        # the screen (a dialog's "apply"), and the footer does not offer "Open".
        return not (action == "choose" and not self.show_cursor)

    def action_choose(self) -> None:
        if self.show_cursor and len(self.source):
            self.post_message(self.Chosen(self, self.cursor, self.current_key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.show_cursor:
            return
        index = self.scroll_offset.y + offset.y
        if index < len(self.source):
            self._move_to(index)
            if event.chain >= 2:
                self.action_choose()

    def _on_focus(self, event: events.Focus) -> None:
        super()._on_focus(event)
        self.refresh_line(self.cursor)

    def _on_blur(self, event: events.Blur) -> None:
        super()._on_blur(event)
        self.refresh_line(self.cursor)
