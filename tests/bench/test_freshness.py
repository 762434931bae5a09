"""The freshness scenario runs end to end (one dialect, a few messages) and reports its fields;
its figures are the bench's business, never asserted here."""

from __future__ import annotations

import pytest

from bench.__main__ import fast_lane_dialects, freshness
from bench.freshness import old_design_delay


def test_every_dialect_with_a_fast_lane_gets_a_freshness_scenario() -> None:
    assert {"zendesk", "freshdesk", "chatwoot"} <= set(fast_lane_dialects())


def test_the_old_designs_baseline_waits_for_the_next_round_after_the_hold_back() -> None:
    assert old_design_delay(5, 30, 0) == pytest.approx(25)
    assert old_design_delay(5, 30, 60) == pytest.approx(85)  # rounds at 30, 60, 90: 90 - 5
    assert old_design_delay(31, 30, 0) == pytest.approx(29)


def test_the_freshness_scenario_reports_screen_store_requests_and_the_storm() -> None:
    rows = {r.scenario: r for r in freshness(2, 3, 10, dialects=["chatwoot"])}
    screen = rows["freshness chatwoot (websocket): sent → on screen"]
    assert screen.unit == "s" and screen.baseline and screen.baseline > 0
    assert {"p95", "store_p50", "store_p95", "seen", "old_p95", "old"} <= set(screen.extra)
    assert screen.extra["seen"] == "2/2"
    requests = rows["freshness chatwoot: fast-lane requests, busiest min"]
    assert requests.unit == "req/min" and requests.baseline == pytest.approx(60)
    storm = rows["storm 1,000 chatwoot events: key → frame"]
    assert {"p99", "answered", "cursor_kept", "toast_lines", "stored"} <= set(storm.extra)
