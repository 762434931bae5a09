"""`agentdesk demo`, as a person sees it at 160x48: many conversations, every channel, and a
customer's history across channels — built from the same pieces the command uses."""

from __future__ import annotations

import html

from agentdesk.cli import build_parser, demo_session
from agentdesk.paths import current_profile
from agentdesk.store import Store
from agentdesk.sync import sync_once


async def test_demo_shows_hundreds_of_conversations_from_every_channel_and_cross_channel_history():
    args = build_parser().parse_args(["demo"])
    profile = current_profile().ensure()
    sim, settings = demo_session(profile, seed=args.seed, scale=args.scale, activity=0)
    from agentdesk import canned

    names = {c.name for c in canned.load_canned(profile.config_dir)}
    assert {"thanks-resolved", "ja-thanks-resolved"} <= names  # `c` works in the demo
    with sim:
        summary = await sync_once(profile.store_file, [(settings, sim.token)])
    assert summary["ok"], summary
    store = Store.open(profile.store_file)
    open_ids = store.view_conversation_ids("open")
    assert len(open_ids) >= 200
    channels = {row.channel for row in store.inbox_rows(open_ids).values()}
    assert len(channels) >= 4
    # A customer who wrote on two or more channels, found through the store's own reads.
    cross = store.conn.execute(
        "SELECT customer_id FROM conversations GROUP BY customer_id "
        "HAVING count(DISTINCT channel) >= 2 LIMIT 1").fetchone()[0]
    history = store.customer_history(cross)
    assert len({h.channel for h in history}) >= 2

    from agentdesk.tui.app import AgentDeskApp

    app = AgentDeskApp(profile.store_file, account_labels="demo")
    async with app.run_test(size=(160, 48)) as pilot:
        count = f"{len(open_ids):,}"
        for _ in range(200):  # view counts and the list load in workers
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = html.unescape(app.export_screenshot()).replace("\xa0", " ")
            if count in screen:
                break
    assert "All open" in screen
    assert count in screen
    store.close()
