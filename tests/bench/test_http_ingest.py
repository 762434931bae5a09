"""The HTTP ingest scenario runs end to end and the bulk comment path loses nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench import httpingest
from bench.__main__ import http_ingest


def test_http_ingest_row_reports_rates_beside_both_floors() -> None:
    (row,) = http_ingest(150, 1)
    assert row.unit == "msg/s" and row.median > 0 and row.baseline and row.baseline > 0
    assert row.extra["http_floor_msg_s"] > 0 and row.extra["store_floor_msg_s"] > 0
    assert row.ratio is not None
    # Bulk comments: a handful of requests, not one per ticket.
    assert row.extra["requests"] < 40


@pytest.mark.parametrize("bulk", [True, False])
async def test_first_pull_stores_every_comment_of_every_ticket(
    tmp_path: Path, bulk: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentdesk.connectors import zendesk

    if not bulk:  # the per-ticket path, as an agent token or an older pull would take
        monkeypatch.setattr(zendesk._CommentStream, "covers", lambda self, created: False)
    with httpingest.simulator(120, seed=5) as sim:
        seconds, convs, msgs, urls = await httpingest._product(sim, tmp_path / "s.db")
    db = sqlite3.connect(tmp_path / "s.db")
    stored = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    empty = db.execute(
        "SELECT count(*) FROM conversations c WHERE NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.conversation_id = c.id)"
    ).fetchone()[0]
    db.close()
    assert convs > 50 and stored == msgs and empty == 0
    per_ticket = [u for u in urls if "/comments" in u]
    assert (len(per_ticket) == 0) if bulk else (len(per_ticket) >= convs)
