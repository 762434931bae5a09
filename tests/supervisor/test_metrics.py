"""Metrics from a seeded, synced world match figures recomputed independently here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentdesk.supervisor.metrics import compute_report
from agentdesk.timeutil import to_iso


def _median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


async def test_metrics_match_an_independent_recount(synced):
    store, _engine, sim = synced
    end = sim.world.clock.now()
    start = end - timedelta(days=30)
    report = compute_report(store, start, end)

    # First response, recomputed with window functions in one query.
    rows = store.conn.execute(
        """WITH replies AS (
             SELECT conversation_id, created_at,
                    row_number() OVER (PARTITION BY conversation_id ORDER BY created_at) AS n
             FROM messages WHERE author_kind = 'agent' AND kind = 'reply')
           SELECT (julianday(f.created_at) - julianday(c.created_at)) * 1440 AS frt
           FROM conversations c
           LEFT JOIN replies f ON f.conversation_id = c.id AND f.n = 1
           WHERE c.created_at >= ? AND c.created_at < ? AND c.deleted_at IS NULL""",
        (to_iso(start), to_iso(end)),
    ).fetchall()
    frts = [r["frt"] for r in rows if r["frt"] is not None]
    o = report.overall
    assert o.conversations == len(rows) > 50
    assert o.responded == len(frts)
    assert abs(o.first_response_median_min - _median(frts)) < 0.05
    assert abs(o.first_response_mean_min - sum(frts) / len(frts)) < 0.05

    # Resolution time and reopen rate from the simulator's own status history (the truth
    # Zendesk's ticket metrics report), not from the cache.
    lo, hi = start.timestamp(), end.timestamp()
    tickets = [t for t in sim.world.tickets.values()
               if lo <= t.created_at < hi and t.status != "deleted"]
    solved = [t for t in tickets if t.status in ("solved", "closed")
              and t.solved_at is not None and t.solved_at < hi]
    resolutions = [(t.solved_at - t.created_at) / 60 for t in solved]
    assert o.resolved == len(solved) > 20
    assert o.resolution_median_min == _median(resolutions)
    reached = [t for t in tickets if t.status in ("solved", "closed") or t.reopens > 0]
    reopened = [t for t in reached if t.reopens > 0]
    assert o.reopened == len(reopened) > 0
    assert o.reopen_rate == len(reopened) / len(reached)
    by_agent = {f.key: f for f in report.by["agent"]}
    assert sum(f.reopened for f in by_agent.values()) == len(reopened)

    # CSAT and volumes per channel, straight from the simulator's world.
    good = sum(t.satisfaction == "good" for t in tickets)
    bad = sum(t.satisfaction == "bad" for t in tickets)
    assert o.rated == good + bad and o.csat == good / (good + bad)
    by_channel = {f.key: f.conversations for f in report.by["channel"]}
    for channel in {t.channel for t in tickets}:
        assert by_channel[channel] == sum(t.channel == channel for t in tickets)
    assert sum(f.conversations for f in report.by["agent"]) == len(tickets)

    # Backlog at the end of the last day = open now (nothing created after `end`).
    open_now = store.conn.execute(
        "SELECT count(*) FROM conversations WHERE deleted_at IS NULL AND status NOT IN "
        "('solved', 'closed') AND created_at < ?", (to_iso(end),)).fetchone()[0]
    assert report.backlog[-1][1] == open_now
    assert end.tzinfo is UTC or end.utcoffset() == timedelta(0)
    assert isinstance(report.start, datetime)
