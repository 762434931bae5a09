"""The list panes are windows: 100k cached conversations paint at once and G reaches the end."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from agentdesk.store import Store
from agentdesk.timeutil import to_iso
from agentdesk.tui.widgets.window import WindowedList
from tests.tui.conftest import T0
from tests.tui.helpers import lines, wait_for, wait_for_rows

ROWS = 100_000
CHANNELS = ("email", "chat", "sms", "social", "voice", "web")
PRIORITIES = ("low", "normal", "high", "urgent")


def build_big_store(path: Path, rows: int = ROWS) -> Path:
    """Bulk SQL straight into the tables (one transaction): a fixture, not the sync path."""
    store = Store.open(path)
    store.upsert_account("big", "zendesk", "https://big.example.com", "agent@big.example")
    customers = rows // 5
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO customers (id, name, attributes) VALUES (?, ?, '{}')",
            ((i, f"顧客 {i}" if i % 3 == 0 else f"Customer {i}") for i in range(1, customers + 1)),
        )

        def conversation(i: int) -> tuple[object, ...]:
            created = T0 - timedelta(minutes=rows - i)
            priority = PRIORITIES[i % 4]
            return (
                i,
                "big",
                str(i),
                CHANNELS[i % 6],
                f"Question number {i}",
                "open",
                "open",
                priority,
                i % 4,
                (i % customers) + 1,
                to_iso(created),
                to_iso(created),
                to_iso(created),
                to_iso(created + timedelta(hours=8)),
            )

        conn.executemany(
            """INSERT INTO conversations (id, account, external_id, channel, subject, status,
                 vendor_status, priority, priority_rank, customer_id, created_at, updated_at,
                 waiting_since, first_response_due)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (conversation(i) for i in range(1, rows + 1)),
        )
    store.close()
    return path


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_big_store(tmp_path_factory.mktemp("big") / "big.db")


async def test_100k_conversations_paint_fast_and_G_reaches_the_last_row(big_store, make_app):
    started = time.perf_counter()
    app = make_app(big_store)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        await wait_for(pilot, lambda: "Question number" in lines(conversations)[0])
        painted = time.perf_counter() - started
        assert painted < 2.0, f"first rows painted after {painted:.2f}s"
        assert "Question number 100000" in lines(conversations)[0]  # newest first
        assert "All open · 100,000" in str(conversations.border_title)

        await pilot.press("G")
        assert conversations.cursor == ROWS - 1
        visible = lines(conversations)
        assert "Question number 1 " in visible[-1]  # the oldest, on the bottom line
        await pilot.press("k", "k")
        assert conversations.cursor == ROWS - 3
        await pilot.press("g")
        assert conversations.cursor == 0
        await pilot.press("end")
        assert conversations.cursor == ROWS - 1
        # Only a window of rows was ever fetched, not the view.
        assert len(conversations.source._rows) < 500
