"""Support metrics over a period, computed from the cache alone.

For conversations created in the period `[start, end)`:
- first response: created -> first public reply by an agent (bots and notes do not count);
- resolution: for conversations now solved or closed whose solve fell before the period's end,
  created -> `solved_at` (when it last became solved or closed: the vendor's own figure where
  it keeps one — Zendesk ticket metrics, Freshdesk stats, RT's Resolved date — otherwise the
  update in which sync, or this machine's outbox, saw it move to solved/closed);
- reopen rate: reopened / reached solved, where reopened means `reopen_count` > 0 (Zendesk's
  own count; otherwise every move from solved/closed back to open work that sync saw or the
  agent made here) and reached solved means solved now or reopened since;
- CSAT: good / rated, where a rating is good, ok or bad (Zendesk good/bad, Chatwoot 1-5 mapped
  by the connector); `offered` counts surveys sent without an answer;
- NPS (promoters - detractors, in points) and CES (mean) from ratings stored as `nps:N` and
  `ces:N`, where a backend has them; None otherwise;
- backlog: open conversations at the end of each day (created by then, not resolved by then).
Figures are broken down by agent (the assignee), team, channel and account.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from agentdesk.model import RESOLVED_STATUSES as RESOLVED
from agentdesk.sanitize import csv_cell, safe_json
from agentdesk.store import Store
from agentdesk.timeutil import to_iso

DIMENSIONS = ("agent", "team", "channel", "account")
_PERIOD = re.compile(r"^(\d+)([hdw])$")


class PeriodError(ValueError):
    pass


def parse_period(text: str) -> timedelta:
    """`24h`, `7d`, `4w`."""
    match = _PERIOD.match(text.strip().lower())
    if match is None or int(match.group(1)) <= 0:
        raise PeriodError(f"{text!r} is not a period; write it like 24h, 7d or 4w")
    amount, unit = int(match.group(1)), match.group(2)
    return {"h": timedelta(hours=amount), "d": timedelta(days=amount),
            "w": timedelta(weeks=amount)}[unit]


@dataclass(frozen=True, slots=True)
class Facts:
    """What one conversation contributes to the metrics."""

    id: int
    account: str
    channel: str
    agent: str
    team: str
    created_at: datetime
    first_response: timedelta | None
    resolved_at: datetime | None
    reopened: bool
    rating: str | None


@dataclass(frozen=True, slots=True)
class Figures:
    key: str
    conversations: int
    responded: int
    first_response_median_min: float | None
    first_response_mean_min: float | None
    resolved: int
    resolution_median_min: float | None
    reopened: int
    reopen_rate: float | None
    """0..1 of the conversations that reached solved."""
    rated: int
    offered: int
    csat: float | None
    """0..1: good ratings over all ratings."""
    nps: float | None
    ces: float | None


@dataclass(frozen=True, slots=True)
class Report:
    start: datetime
    end: datetime
    overall: Figures
    by: dict[str, tuple[Figures, ...]]
    backlog: tuple[tuple[date, int], ...]
    arrivals: tuple[tuple[date, int], ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "start": to_iso(self.start),
            "end": to_iso(self.end),
            "overall": asdict(self.overall),
            "by": {dim: [asdict(f) for f in rows] for dim, rows in self.by.items()},
            "backlog": [{"date": d.isoformat(), "open": n} for d, n in self.backlog],
            "arrivals": [{"date": d.isoformat(), "created": n} for d, n in self.arrivals],
        }

    def to_json(self) -> str:
        return safe_json(self.as_dict(), indent=2)

    def to_csv(self) -> str:
        out = io.StringIO()
        names = [f for f in Figures.__dataclass_fields__]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["dimension", *names])
        writer.writerow(["overall", *_cells(self.overall)])
        for dim, rows in self.by.items():
            for figures in rows:
                writer.writerow([dim, *_cells(figures)])
        return out.getvalue()


def _cells(figures: Figures) -> list[object]:
    cells: list[object] = []
    for value in asdict(figures).values():
        if isinstance(value, float):
            value = round(value, 4)
        cells.append(csv_cell(value))  # names are backend text
    return cells


# ---------------------------------------------------------------- gathering facts
def conversation_facts(store: Store, start: datetime, end: datetime) -> list[Facts]:
    facts = []
    for c in store.conversation_outcomes(start, end):
        first = c.first_reply
        resolved_at = None
        if c.status in RESOLVED and c.solved_at:
            resolved_at = c.solved_at if c.solved_at < end else None  # solved after: not yet
        facts.append(
            Facts(
                id=c.id,
                account=c.account,
                channel=c.channel,
                agent=c.agent or "unassigned",
                team=c.team or "no team",
                created_at=c.created_at,
                first_response=(first - c.created_at) if first is not None else None,
                resolved_at=resolved_at,
                reopened=c.reopen_count > 0,
                rating=c.satisfaction,
            )
        )
    return facts


# ---------------------------------------------------------------- figures
def _minutes(values: Iterable[timedelta]) -> list[float]:
    return [max(v.total_seconds(), 0.0) / 60 for v in values]


def _score(rating: str | None, kind: str) -> int | None:
    if rating and rating.startswith(kind + ":"):
        try:
            return int(rating.split(":", 1)[1])
        except ValueError:
            return None
    return None


def figures(key: str, facts: Sequence[Facts]) -> Figures:
    firsts = _minutes(f.first_response for f in facts if f.first_response is not None)
    resolutions = _minutes(f.resolved_at - f.created_at for f in facts
                           if f.resolved_at is not None)
    reached_solved = [f for f in facts if f.resolved_at is not None or f.reopened]
    reopened = sum(f.reopened for f in reached_solved)
    ratings = [f.rating for f in facts if f.rating in ("good", "ok", "bad")]
    nps_scores = [s for s in (_score(f.rating, "nps") for f in facts) if s is not None]
    ces_scores = [s for s in (_score(f.rating, "ces") for f in facts) if s is not None]
    nps = None
    if nps_scores:
        promoters = sum(s >= 9 for s in nps_scores)
        detractors = sum(s <= 6 for s in nps_scores)
        nps = 100 * (promoters - detractors) / len(nps_scores)
    return Figures(
        key=key,
        conversations=len(facts),
        responded=len(firsts),
        first_response_median_min=statistics.median(firsts) if firsts else None,
        first_response_mean_min=statistics.fmean(firsts) if firsts else None,
        resolved=len(resolutions),
        resolution_median_min=statistics.median(resolutions) if resolutions else None,
        reopened=reopened,
        reopen_rate=reopened / len(reached_solved) if reached_solved else None,
        rated=len(ratings),
        offered=sum(f.rating == "offered" for f in facts),
        csat=ratings.count("good") / len(ratings) if ratings else None,
        nps=nps,
        ces=statistics.fmean(ces_scores) if ces_scores else None,
    )


def _days(start: datetime, end: datetime, tz: tzinfo | None) -> list[date]:
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def backlog_series(
    store: Store, start: datetime, end: datetime, tz: tzinfo | None = None
) -> tuple[tuple[date, int], ...]:
    """Open conversations at the end of each day (or at `end` for the last day)."""
    days = _days(start, end, tz)
    cutoffs = []
    for day in days:
        moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz or start.tzinfo)
        cutoffs.append(min(moment, end))
    spans = store.backlog_spans(start, end)
    created = sorted(opened for opened, _ in spans)
    done = sorted(resolved for _, resolved in spans if resolved)
    series = []
    for day, cutoff in zip(days, cutoffs, strict=True):
        opened = _count_before(created, cutoff)
        closed = _count_before(done, cutoff)
        series.append((day, opened - closed))
    return tuple(series)


def _count_before(values: Sequence[datetime], cutoff: datetime) -> int:
    import bisect

    return bisect.bisect_left(values, cutoff)


def arrivals_series(
    facts: Sequence[Facts], start: datetime, end: datetime, tz: tzinfo | None = None
) -> tuple[tuple[date, int], ...]:
    counts: dict[date, int] = defaultdict(int)
    for f in facts:
        counts[f.created_at.astimezone(tz).date()] += 1
    return tuple((day, counts.get(day, 0)) for day in _days(start, end, tz))


def compute_report(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    accounts: Sequence[str] | None = None,
    tz: tzinfo | None = None,
) -> Report:
    facts = conversation_facts(store, start, end)
    if accounts is not None:
        facts = [f for f in facts if f.account in accounts]
    by: dict[str, tuple[Figures, ...]] = {}
    for dim in DIMENSIONS:
        groups: dict[str, list[Facts]] = defaultdict(list)
        for f in facts:
            groups[getattr(f, dim)].append(f)
        rows = [figures(key, items) for key, items in groups.items()]
        rows.sort(key=lambda fig: (-fig.conversations, fig.key.casefold()))
        by[dim] = tuple(rows)
    return Report(
        start=start,
        end=end,
        overall=figures("all", facts),
        by=by,
        backlog=backlog_series(store, start, end, tz),
        arrivals=arrivals_series(facts, start, end, tz),
    )
