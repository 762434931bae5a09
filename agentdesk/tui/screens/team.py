"""The team screen (supervisors): agents and queues with load, SLA risk and arrival rate.

Reads the store only. Live: a cheap `data_version` poll (and `mark_dirty()` from the app on
sync events) triggers a recompute in a worker; rows are swapped in, keeping the cursor.
Also holds the reassignment preview (`ReassignScreen`) used from here and from the inbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from agentdesk.sanitize import clean
from agentdesk.store import Store, presence
from agentdesk.supervisor import reassign
from agentdesk.supervisor.capacity import Capacity
from agentdesk.supervisor.roles import supervised_accounts
from agentdesk.supervisor.team import AgentLoad, QueueLoad, TeamSnapshot, team_snapshot
from agentdesk.tui.format import short_duration
from agentdesk.tui.screens.services import AppServices
from agentdesk.tui.widgets.charts import Cell, Column, TableSource
from agentdesk.tui.widgets.picker import PickerScreen, PickItem
from agentdesk.tui.widgets.window import WindowedList

POLL_SECONDS = 2.0


@contextmanager
def worker_store(app: App, name: str) -> Iterator[Store]:
    """A connection for a worker thread: the app's per-group one, or a fresh one."""
    opener = getattr(app, "background_store", None)
    if opener is None:
        store = Store.open(app.store_path)  # type: ignore[attr-defined]
        try:
            yield store
        finally:
            store.close()
    else:
        with opener(name) as store:
            yield store

AGENT_COLUMNS = (
    Column("Agent", 0),
    Column("Account", 10),
    Column("Presence", 9),
    Column("Open", 5, right=True),
    Column("Pend", 5, right=True),
    Column("Breach", 6, right=True),
    Column("Oldest", 7, right=True),
    Column("Today", 6, right=True),
    Column("1st resp", 8, right=True),
    Column("Load/Cap", 9, right=True),
)
QUEUE_COLUMNS = (
    Column("Team / queue", 0),
    Column("Account", 10),
    Column("Backlog", 8, right=True),
    Column("Unassigned", 10, right=True),
    Column("Oldest", 7, right=True),
    Column("Breach", 6, right=True),
    Column("Arrivals/h", 10, right=True),
)


def _age(moment: datetime | None, now: datetime) -> str:
    return short_duration(now - moment) if moment is not None else "-"


def agent_rows(agents: Sequence[AgentLoad], now: datetime) -> list:
    rows = []
    for a in agents:
        cap = "-" if a.capacity is None else str(a.capacity)
        rows.append(
            (
                a.agent_id,
                [
                    Cell(a.name, "wl--strong"),
                    Cell(a.account, "wl--muted"),
                    Cell(a.presence or "-", "wl--muted" if not a.presence else None),
                    Cell(str(a.open)),
                    Cell(str(a.pending)),
                    Cell(str(a.breaching), "wl--overdue" if a.breaching else "wl--muted"),
                    Cell(_age(a.oldest_waiting, now)),
                    Cell(str(a.handled_today)),
                    Cell(
                        short_duration(a.median_first_response_today)
                        if a.median_first_response_today is not None
                        else "-"
                    ),
                    Cell(f"{a.load}/{cap}", "wl--overdue" if a.over_capacity else None),
                ],
            )
        )
    return rows


def queue_rows(queues: Sequence[QueueLoad], now: datetime) -> list:
    return [
        (
            (q.account, q.team_id),
            [
                Cell(q.name, "wl--strong"),
                Cell(q.account, "wl--muted"),
                Cell(str(q.backlog)),
                Cell(str(q.unassigned), "wl--at-risk" if q.unassigned else "wl--muted"),
                Cell(_age(q.oldest_waiting, now)),
                Cell(str(q.breaching), "wl--overdue" if q.breaching else "wl--muted"),
                Cell(f"{q.arrival_rate:.1f}"),
            ],
        )
        for q in queues
    ]


class TeamScreen(AppServices, inherit_bindings=False):
    """Agents (top) and queues (bottom); `r` reassigns the selected agent's or queue's work."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="team.back"),
        Binding("tab", "focus_next", "Switch list", show=False, id="team.switch"),
        Binding("r", "reassign", "Reassign…", id="team.reassign"),
        Binding("p", "presence", "My presence…", id="team.presence"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="team.refresh"),
    ]
    DEFAULT_CSS = """
    TeamScreen { layout: vertical; }
    TeamScreen .sv-title { height: 1; padding: 0 1; background: $panel; color: $text; }
    TeamScreen .sv-header { height: 1; color: $text-muted; text-style: bold; }
    TeamScreen #team-agents { height: 2fr; }
    TeamScreen #team-queues { height: 1fr; }
    """

    class Loaded(Message):
        def __init__(self, snapshot: TeamSnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    class WorkFound(Message):
        """The conversations a reassignment from here would move."""

        def __init__(self, conversation_ids: list[int]) -> None:
            super().__init__()
            self.conversation_ids = conversation_ids

    def __init__(self, *, capacity: Capacity | None = None) -> None:
        super().__init__(id="team")
        self.capacity = capacity or Capacity()
        self.snapshot: TeamSnapshot | None = None
        self._version: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("Team", id="team-title", classes="sv-title")
        yield Static("", id="team-agents-header", classes="sv-header")
        yield WindowedList(id="team-agents")
        yield Static("", id="team-queues-header", classes="sv-header")
        yield WindowedList(id="team-queues")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#team-agents", WindowedList).focus()
        self.load()
        self.set_interval(POLL_SECONDS, self._poll)

    def mark_dirty(self) -> None:
        """Sync brought changes (called by the app on sync page events)."""
        self.load()

    def _poll(self) -> None:
        version = self.store.data_version()
        if version != self._version:
            self._version = version
            self.load()

    def action_refresh(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="team")
    def load(self) -> None:
        now = self.clock()
        with worker_store(self.app, "supervisor") as store:
            snapshot = self._compute(store, now)
        self.post_message(self.Loaded(snapshot))

    def _compute(self, store: Store, now: datetime) -> TeamSnapshot:
        accounts = supervised_accounts(store)
        return team_snapshot(store, now, accounts=accounts, capacity=self.capacity, tz=self.tz)

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.snapshot = snap = message.snapshot
        now = snap.at
        agents = self.query_one("#team-agents", WindowedList)
        queues = self.query_one("#team-queues", WindowedList)
        agent_source = TableSource(AGENT_COLUMNS, agent_rows(snap.agents, now))
        queue_source = TableSource(QUEUE_COLUMNS, queue_rows(snap.queues, now))
        agents.set_source(agent_source, keep_key=agents.current_key)
        queues.set_source(queue_source, keep_key=queues.current_key)
        width = max(self.size.width, 40)
        self.query_one("#team-agents-header", Static).update(
            Content(agent_source.header(width - 1).plain)
        )
        self.query_one("#team-queues-header", Static).update(
            Content(queue_source.header(width - 1).plain)
        )
        over = sum(a.over_capacity for a in snap.agents)
        breaching = sum(q.breaching for q in snap.queues)
        backlog = sum(q.backlog for q in snap.queues)
        self.query_one("#team-title", Static).update(
            Content(
                f"Team · {len(snap.agents)} agents · backlog {backlog} · breaching {breaching}"
                f" · {over} over capacity"
            )
        )

    # ------------------------------------------------------------ my own presence
    def action_presence(self) -> None:
        """Pick your own presence per account: sent where the helpdesk allows agents to set
        it (at the next sync, offline-safe), kept locally where it has none."""
        items = presence_items(self.store)
        if not items:
            self.app.notify("no account to set a presence on")
            return
        self.app.push_screen(PickerScreen("My presence", items), self._presence_picked)

    def _presence_picked(self, value: str | None) -> None:
        if value is None:
            return
        account, _, wanted = value.rpartition("|")
        try:
            mine = self.store.set_my_presence(account, wanted)
        except presence.PresenceError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        where = ("sent at the next sync" if mine.settable
                 else "kept in agentdesk: this helpdesk has no agent presence")
        self.app.notify(f"{account}: you are {wanted} ({where})", markup=False)
        nudge = getattr(getattr(self.app, "sync", None), "nudge", None)
        if mine.settable and nudge is not None:
            nudge()  # send it now rather than at the next round
        self.load()

    # ------------------------------------------------------------ reassignment from here
    def action_reassign(self) -> None:
        """Reassign the focused agent's open work, or the focused queue's unassigned work."""
        focused = self.focused
        if not isinstance(focused, WindowedList) or focused.current_key is None:
            return
        self._find_work(focused.id == "team-agents", focused.current_key)

    @work(thread=True, exclusive=True, exit_on_error=False, group="team-work")
    def _find_work(self, of_agent: bool, key: object) -> None:
        with worker_store(self.app, "team-work") as store:
            if of_agent:
                ids = store.agent_open_work(key)  # type: ignore[arg-type]
            else:
                account, team_id = key  # type: ignore[misc]
                ids = store.queue_unassigned_work(account, team_id)
        self.post_message(self.WorkFound(ids))

    @on(WorkFound)
    def _work_found(self, message: WorkFound) -> None:
        if message.conversation_ids:
            self.app.push_screen(ReassignScreen(message.conversation_ids, capacity=self.capacity))
        else:
            self.app.notify("nothing to reassign there")


def presence_items(store: Store) -> list[PickItem]:
    """online/busy/offline for each account (value `ACCOUNT|PRESENCE`), current one marked."""
    items = []
    for mine in store.my_presence():
        kind = ("sent to the helpdesk" if mine.settable
                else "local: the helpdesk has no agent presence")
        for value in presence.PRESENCES:
            now = " · current" if mine.presence == value else ""
            items.append(PickItem(f"{mine.account}|{value}", f"{value} · {mine.account}",
                                  f"{kind}{now}"))
    return items


def target_items(store: Store, conversation_ids: Sequence[int]) -> list[PickItem]:
    """Agents and teams of the accounts these conversations belong to, for the fuzzy picker."""
    if not conversation_ids:
        return []
    accounts = sorted(store.accounts_of(conversation_ids))
    items = [
        PickItem(f"team:{name}", f"team {name}", "spread by least load")
        for name in store.team_names_on(accounts)
    ]
    items += [
        PickItem(email, name, f"{email} · {seen or 'presence unknown'}")
        for email, name, seen in store.assignable_agents_on(accounts)
    ]
    return items


class ReassignScreen(ModalScreen[str | None], inherit_bindings=False):
    """Pick a target, see the preview (load before/after, capacity overruns), then apply.

    Dismisses with the batch id when applied (None when cancelled); `u` on the screen that
    pushed it can call `undo_batch` with that id.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="reassign.cancel"),
        Binding("enter", "apply", "Apply batch", id="reassign.apply"),
        Binding("t", "pick", "Choose target…", id="reassign.target"),
        Binding("s", "spread('least_load')", "Spread: least load", id="reassign.least_load"),
        Binding("o", "spread('round_robin')", "Spread: round-robin", id="reassign.round_robin"),
    ]
    DEFAULT_CSS = """
    ReassignScreen { align: center middle; }
    ReassignScreen #reassign-box { width: 100; height: 30; border: round $accent;
                                   background: $surface; }
    ReassignScreen .sv-header { height: 1; color: $text-muted; text-style: bold; }
    ReassignScreen #reassign-summary { height: 2; padding: 0 1; }
    ReassignScreen #reassign-preview { height: 1fr; }
    """

    def __init__(
        self, conversation_ids: Sequence[int], *, capacity: Capacity | None = None
    ) -> None:
        super().__init__()
        self.conversation_ids = list(conversation_ids)
        self.capacity = capacity or Capacity()
        self.target: reassign.Target | None = None
        self.plan: reassign.Plan | None = None

    @property
    def store(self) -> Store:
        return self.app.store  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with Vertical(id="reassign-box"):
            yield Static("", id="reassign-summary")
            yield Static(
                " Agent                                    before  after  capacity",
                classes="sv-header",
            )
            yield WindowedList(id="reassign-preview", show_cursor=False)
        yield Footer()

    def on_mount(self) -> None:
        box = self.query_one("#reassign-box")
        box.border_title = f"Reassign {len(self.conversation_ids)} conversations"
        self._summary("t: choose an agent or team")
        self.action_pick()

    def _summary(self, text: str) -> None:
        self.query_one("#reassign-summary", Static).update(Content(clean(text)))

    class TargetsFound(Message):
        def __init__(self, items: list[PickItem]) -> None:
            super().__init__()
            self.items = items

    class Planned(Message):
        def __init__(self, plan: reassign.Plan) -> None:
            super().__init__()
            self.plan = plan

    def action_pick(self) -> None:
        self._find_targets()

    @work(thread=True, exclusive=True, exit_on_error=False, group="reassign-targets")
    def _find_targets(self) -> None:
        with worker_store(self.app, "reassign") as store:
            items = target_items(store, self.conversation_ids)
        self.post_message(self.TargetsFound(items))

    @on(TargetsFound)
    def _targets_found(self, message: TargetsFound) -> None:
        self.app.push_screen(PickerScreen("Reassign to", message.items), self._picked)

    def _picked(self, value: str | None) -> None:
        if value is None:
            return
        self.target = reassign.Target.parse(value)
        self._plan(self.target, None)

    def action_spread(self, strategy: str) -> None:
        if self.target is None or self.target.kind != "team":
            self._summary("choose a team first (t), then spread it over the team's agents")
            return
        self._plan(self.target, strategy)

    @work(thread=True, exclusive=True, exit_on_error=False, group="reassign-plan")
    def _plan(self, target: reassign.Target, strategy: str | None) -> None:
        """The preview: one target, or (with a strategy) spread over the target team."""
        with worker_store(self.app, "reassign") as store:
            if strategy is None:
                plan = reassign.plan_reassignment(
                    store, self.conversation_ids, target, capacity=self.capacity
                )
            else:
                plan = reassign.suggest(
                    store,
                    self.conversation_ids,
                    target.value,
                    strategy,  # type: ignore[arg-type]
                    capacity=self.capacity,
                )
        self.post_message(self.Planned(plan))

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        self.show(message.plan)

    def show(self, plan: reassign.Plan) -> None:
        self.plan = plan
        rows = []
        for d in plan.deltas:
            cap = "-" if d.capacity is None else str(d.capacity)
            rows.append(
                (
                    d.agent_id,
                    [
                        Cell(f"{d.name} ({d.account})", "wl--strong"),
                        Cell(str(d.before)),
                        Cell(str(d.after), "wl--overdue" if d.over_capacity else None),
                        Cell(
                            cap + (" OVER" if d.over_capacity else ""),
                            "wl--overdue" if d.over_capacity else "wl--muted",
                        ),
                    ],
                )
            )
        columns = (
            Column("Agent", 0),
            Column("before", 6, right=True),
            Column("after", 6, right=True),
            Column("capacity", 12, right=True),
        )
        self.query_one("#reassign-preview", WindowedList).set_source(TableSource(columns, rows))
        over = len(plan.overruns)
        self._summary(
            f"{len(plan.moves)} to move to {self.target}, {len(plan.skipped)} skipped"
            + (f" · {over} agent(s) over capacity" if over else "")
            + " · Enter applies as one batch"
        )

    def action_apply(self) -> None:
        if self.plan is None or not self.plan.moves:
            return
        try:
            batch = reassign.apply_plan(self.store, self.plan)
        except PermissionError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        self.app.notify(
            f"queued {len(batch.mutation_ids)} reassignments (batch "
            f"{batch.id[:8]}); undo from the audit log",
            markup=False,
        )
        self.dismiss(batch.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
