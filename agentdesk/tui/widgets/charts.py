"""Supervisor widgets: a table-shaped row source for `WindowedList`, and plotext charts.

`TableSource` formats pre-computed rows (tens to thousands: agents, queues, audit entries)
into fixed columns; backend text is cleaned and placed in `Text`, never parsed as markup.
Charts use textual-plotext; labels are cleaned too.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import RenderResult
from rich.text import Text
from textual_plotext import PlotextPlot

from agentdesk.sanitize import clean
from agentdesk.tui.format import fit, fit_right
from agentdesk.tui.widgets.window import ListSource, Painter


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int
    """Cells; 0 takes what the other columns leave (one flexible column per table)."""
    right: bool = False


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    style: str | None = None
    """A WindowedList component class name ("wl--overdue"), or None."""


class TableSource(ListSource):
    def __init__(self, columns: Sequence[Column], rows: Sequence[tuple[Hashable, Sequence[Cell]]]):
        self.columns = list(columns)
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def key(self, index: int) -> Hashable | None:
        return self.rows[index][0] if 0 <= index < len(self.rows) else None

    def index_of(self, key: Hashable) -> int | None:
        for index, (row_key, _cells) in enumerate(self.rows):
            if row_key == key:
                return index
        return None

    def widths(self, width: int) -> list[int]:
        fixed = sum(c.width + 1 for c in self.columns if c.width)
        flexible = max(width - fixed - 1, 8)
        return [c.width or flexible for c in self.columns]

    def header(self, width: int) -> Text:
        """Column titles, aligned with rows shown in a list with a one-cell border."""
        text = Text("  ")
        for column, size in zip(self.columns, self.widths(width), strict=True):
            text.append((fit_right if column.right else fit)(column.title, size) + " ")
        return text

    def render(self, start: int, end: int, width: int, paint: Painter) -> list[Text]:
        widths = self.widths(width)
        lines = []
        for _key, cells in self.rows[start:end]:
            text = Text(" ")
            for column, size, cell in zip(self.columns, widths, cells, strict=True):
                shown = (fit_right if column.right else fit)(clean(cell.text), size)
                text.append(shown, paint(cell.style) if cell.style else None)
                text.append(" ")
            lines.append(text)
        return lines


class BarChart(PlotextPlot):
    """A bar or line chart that redraws from plain data (labels cleaned: they are backend text)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: tuple[str, Sequence[str], Sequence[float], str] = ("", [], [], "bar")

    def show(self, title: str, labels: Sequence[str], values: Sequence[float],
             kind: str = "bar") -> None:
        shown = [_crop_cells(clean(label), 14) for label in labels]
        self._data = (title, shown, list(values), kind)
        self._draw()

    def on_mount(self) -> None:
        self._draw()

    def _draw(self) -> None:
        title, labels, values, kind = self._data
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        if values:
            # Numeric positions with explicit ticks: plotext's own handling of string labels
            # depends on set order (hash seed), which made the same data draw differently.
            positions = list(range(1, len(values) + 1))
            step = max(1, len(labels) // 6)
            if kind == "line":
                plt.plot(positions, values, marker="braille")
            else:
                plt.bar(positions, values, orientation="vertical", width=0.6)
                step = 1
            shown = labels[::step]
            # Labels that would overlap make plotext drop some, in an order that varies from
            # run to run: cut them to the room each one has instead.
            room = max(3, (self.size.width - 12) // max(1, len(shown)) - 2)
            plt.xticks(positions[::step], [_crop_cells(label, room) for label in shown])
        self.refresh()

    def render(self) -> RenderResult:
        # plotext lays text out one character a column; a wide (CJK) character takes two
        # cells and pushes the rest of its line right. Each line gives that column back by
        # dropping the next space, so names such as 伊藤 遥 stay under their bars.
        drawn = super().render()
        if not isinstance(drawn, Text) or drawn.plain.isascii():
            return drawn
        return Text("\n").join(_give_back_cells(line) for line in drawn.split("\n"))


def _crop_cells(text: str, cells: int) -> str:
    return set_cell_size(text, cells).rstrip() if cell_len(text) > cells else text


def _give_back_cells(line: Text) -> Text:
    plain = line.plain
    owed = 0
    keep: list[tuple[int, int]] = []
    start = 0
    for index, char in enumerate(plain):
        padding = index + 1 == len(plain) or plain[index + 1] == " "  # not a name's own space
        if char == " " and owed and padding:
            owed -= 1
            if start < index:
                keep.append((start, index))
            start = index + 1
        else:
            owed += cell_len(char) - 1
    keep.append((start, len(plain)))
    return Text("").join(line[a:b] for a, b in keep if a < b)
