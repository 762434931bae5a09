"""A storm: 1,000 customer messages within a second on Chatwoot's websocket while the app is up.
The agent's key is still handled and shown, the cursor stays on the row they chose while rows
move under it, the replies on their conversations are one toast line, and the store ends with
every message. (How fast keys are answered meanwhile is the bench's storm row, not a test.)"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from agentdesk.connectors.base import AccountSettings
from agentdesk.sim.server import start_in_thread
from agentdesk.store import Store
from agentdesk.sync import BackgroundSync
from agentdesk.tui.app import AgentDeskApp
from agentdesk.tui.screens import inbox as inbox_module
from agentdesk.tui.widgets.window import WindowedList
from tests.adversarial.support import sim_post
from tests.tui.helpers import wait_for, wait_for_rows

SIZE = (160, 48)
STORM = 1000


def _stored(path: Path, prefix: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(
            "SELECT count(*) FROM messages WHERE body LIKE ?", (f"{prefix} %",)
        ).fetchone()[0]
    finally:
        conn.close()


async def test_a_storm_of_a_thousand_events_keeps_keys_cursor_toasts_and_every_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow this machine is, the second wave below counts as the same burst.
    monkeypatch.setattr(inbox_module, "BURST_WINDOW", 600.0)
    path = tmp_path / "cache.db"
    with start_in_thread("chatwoot", seed=4, scale=120) as sim:
        with sim.world.lock:
            open_ids = sorted(t.id for t in sim.world.tickets.values()
                              if t.status in ("new", "open"))  # fmt: skip
        for cid in open_ids[:6]:  # some of the storm lands on the agent's own conversations
            sim_post(sim.base_url, "act", {"conversation_id": cid, "assign": sim.user})
        url = f"{sim.base_url}/app/accounts/{sim.account_id}"
        settings = AccountSettings("chat", "chatwoot", url, sim.user, cache_days=3650)
        store = Store.open(path)
        store.upsert_account("chat", "chatwoot", url, sim.user)
        store.close()
        sync = BackgroundSync(path, [(settings, sim.token)], interval=10)
        app = AgentDeskApp(path, sync)
        async with app.run_test(size=SIZE) as pilot:
            inbox = await wait_for_rows(pilot)
            await wait_for(pilot, lambda: app.first_round_done and inbox._watch is not None, 90)
            await wait_for(pilot, lambda: app.lanes.get("chat", ("",))[0] == "live", 30)
            rows = inbox.query_one("#conversations", WindowedList)
            rows.focus()
            start = rows.current_key
            await pilot.press("down", "down", "down")  # the agent chooses a row of their own
            await wait_for(pilot, lambda: rows.current_key != start)
            await pilot.pause()
            chosen = rows.current_key
            toasts_before = {n.identity for n in app._notifications}

            tag = f"storm-{uuid.uuid4().hex[:6]}"
            answer = sim_post(sim.base_url, "cable",
                              {"storm": {"messages": STORM, "conversations": 40, "tag": tag}})  # fmt: skip
            assert answer["stormed"] == STORM

            # Rows move to the top as their messages land; the agent's row stays theirs.
            await wait_for(pilot, lambda: _stored(path, tag) >= 100, 30)
            assert rows.current_key == chosen
            await pilot.press("down")  # handled, and the screen shows it, mid-storm
            await wait_for(pilot, lambda: rows.current_key != chosen, 10)
            moved_to = rows.current_key
            await pilot.press("up")  # rows land between them meanwhile: the row above now
            await wait_for(pilot, lambda: rows.current_key != moved_to, 10)
            await pilot.pause()
            chosen = rows.current_key  # the agent's row from here on

            # Nothing lost: the fast lane, or the complete lane behind it, stores every one.
            deadline = time.monotonic() + 90
            while _stored(path, tag) < STORM:
                assert time.monotonic() < deadline, f"{_stored(path, tag)}/{STORM} stored"
                await pilot.pause(0.2)
            assert rows.current_key == chosen and moved_to != chosen

            def replies() -> list[str]:
                return [str(n.message) for n in app._notifications
                        if n.identity not in toasts_before and "repl" in str(n.message)]  # fmt: skip

            await wait_for(pilot, lambda: replies(), 30)
            first = replies()
            # A second wave while that toast is up: still one line, recounted.
            again = f"{tag}-again"
            sim_post(sim.base_url, "cable",
                     {"storm": {"messages": 60, "conversations": 6, "tag": again}})  # fmt: skip
            await wait_for(pilot, lambda: _stored(path, again) >= 60, 90)
            await wait_for(pilot, lambda: replies() != first, 30)
            await pilot.pause(1.0)  # the last refresh and its notices
            assert len(replies()) == 1, replies()
            assert "customer replies" in replies()[0]
