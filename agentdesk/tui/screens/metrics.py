"""The metrics screen (supervisors): charts of backlog and response times with the numbers.

Computed from the cache in a worker (`agentdesk.supervisor.metrics`); `p` cycles the period,
`d` the breakdown (agent, team, channel, account).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Footer, Static

from agentdesk.store import Store
from agentdesk.supervisor.metrics import DIMENSIONS, Figures, Report, compute_report
from agentdesk.supervisor.roles import supervised_accounts
from agentdesk.tui.screens.services import AppServices
from agentdesk.tui.widgets.charts import BarChart, Cell, Column, TableSource
from agentdesk.tui.widgets.window import WindowedList

PERIODS: tuple[tuple[str, timedelta], ...] = (
    ("7d", timedelta(days=7)),
    ("30d", timedelta(days=30)),
    ("24h", timedelta(hours=24)),
)
COLUMNS = (
    Column("Name", 0),
    Column("Conv", 6, right=True),
    Column("1st resp", 9, right=True),
    Column("Resolve", 9, right=True),
    Column("Reopen", 7, right=True),
    Column("CSAT", 5, right=True),
    Column("Rated", 6, right=True),
)


def minutes_text(value: float | None) -> str:
    if value is None:
        return "-"
    minutes = int(value)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes // 1440}d{(minutes % 1440) // 60:02d}h"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def figure_cells(f: Figures) -> list[Cell]:
    return [
        Cell(f.key, "wl--strong"),
        Cell(str(f.conversations)),
        Cell(minutes_text(f.first_response_median_min)),
        Cell(minutes_text(f.resolution_median_min)),
        Cell(pct(f.reopen_rate)),
        Cell(pct(f.csat)),
        Cell(str(f.rated), "wl--muted"),
    ]


class MetricsScreen(AppServices, inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="metrics.back"),
        Binding("p", "period", "Period", id="metrics.period"),
        Binding("d", "dimension", "Breakdown", id="metrics.dimension"),
    ]
    DEFAULT_CSS = """
    MetricsScreen { layout: vertical; }
    MetricsScreen .sv-title { height: 1; padding: 0 1; background: $panel; }
    MetricsScreen .sv-header { height: 1; color: $text-muted; text-style: bold; }
    MetricsScreen #metrics-summary { height: 3; padding: 0 1; }
    MetricsScreen #metrics-charts { height: 16; }
    MetricsScreen #metrics-charts BarChart { width: 1fr; }
    MetricsScreen #metrics-table { height: 1fr; }
    """

    class Loaded(Message):
        def __init__(self, report: Report) -> None:
            super().__init__()
            self.report = report

    def __init__(self) -> None:
        super().__init__(id="metrics")
        self.period_index = 0
        self.dimension = "agent"
        self.report: Report | None = None

    def compose(self) -> ComposeResult:
        yield Static("Metrics", id="metrics-title", classes="sv-title")
        yield Static("computing…", id="metrics-summary")
        with Horizontal(id="metrics-charts"):
            yield BarChart(id="chart-backlog")
            yield BarChart(id="chart-frt")
        with Vertical():
            yield Static("", id="metrics-header", classes="sv-header")
            yield WindowedList(id="metrics-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#metrics-table", WindowedList).focus()
        self.load()

    def mark_dirty(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_period(self) -> None:
        self.period_index = (self.period_index + 1) % len(PERIODS)
        self.load()

    def action_dimension(self) -> None:
        self.dimension = DIMENSIONS[(DIMENSIONS.index(self.dimension) + 1) % len(DIMENSIONS)]
        if self.report is not None:
            self._show(self.report)

    @work(thread=True, exclusive=True, exit_on_error=False, group="metrics")
    def load(self) -> None:
        end = self.clock()
        start = end - PERIODS[self.period_index][1]
        opener = getattr(self.app, "background_store", None)
        if opener is None:
            store = Store.open(self.app.store_path)  # type: ignore[attr-defined]
            try:
                report = compute_report(
                    store, start, end, accounts=supervised_accounts(store), tz=self.tz
                )
            finally:
                store.close()
        else:
            with opener("supervisor") as store:
                report = compute_report(
                    store, start, end, accounts=supervised_accounts(store), tz=self.tz
                )
        self.post_message(self.Loaded(report))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.report = message.report
        self._show(message.report)

    def _show(self, report: Report) -> None:
        o = report.overall
        label = PERIODS[self.period_index][0]
        self.query_one("#metrics-title", Static).update(
            Content(f"Metrics · last {label} · by {self.dimension}   (p period, d breakdown)")
        )
        nps = "-" if o.nps is None else f"{o.nps:+.0f}"
        ces = "-" if o.ces is None else f"{o.ces:.1f}"
        self.query_one("#metrics-summary", Static).update(
            Content(
                f"{o.conversations} conversations · first response median "
                f"{minutes_text(o.first_response_median_min)} (mean "
                f"{minutes_text(o.first_response_mean_min)}, {o.responded} answered)\n"
                f"resolution median {minutes_text(o.resolution_median_min)} ({o.resolved} resolved)"
                f" · reopen rate {pct(o.reopen_rate)} · CSAT {pct(o.csat)} of {o.rated} rated"
                f" ({o.offered} unanswered) · NPS {nps} · CES {ces}\n"
                f"backlog now {report.backlog[-1][1] if report.backlog else 0}"
            )
        )
        self.query_one("#chart-backlog", BarChart).show(
            "Backlog (open at end of day)",
            [d.strftime("%m-%d") for d, _n in report.backlog],
            [n for _d, n in report.backlog],
            kind="line" if len(report.backlog) > 10 else "bar",
        )
        rows = [f for f in report.by[self.dimension] if f.first_response_median_min is not None]
        top = rows[:8]
        self.query_one("#chart-frt", BarChart).show(
            f"First response, median hours, by {self.dimension}",
            [f.key for f in top],
            [round((f.first_response_median_min or 0) / 60, 1) for f in top],
        )
        source = TableSource(COLUMNS, [(f.key, figure_cells(f)) for f in report.by[self.dimension]])
        table = self.query_one("#metrics-table", WindowedList)
        table.set_source(source, keep_key=table.current_key)
        self.query_one("#metrics-header", Static).update(
            Content(source.header(max(self.size.width - 1, 40)).plain)
        )
