"""`agentdesk demo`, as a person sees it at 160x48: many conversations, every channel, and a
customer's history across channels — built from the same pieces the command uses."""

from __future__ import annotations

import html

import pytest

from agentdesk.cli import CliError, build_parser, demo_session, demo_sessions
from agentdesk.paths import current_profile
from agentdesk.sim.front import front_id
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


EXTERNAL_ID = {
    "zendesk": str,
    "intercom": str,
    "front": lambda number: front_id("conversation", number),
}


@pytest.mark.parametrize(("chat_on", "email_on"), [("zendesk", "front"), ("intercom", "front")])
async def test_a_customer_with_a_chat_on_one_vendor_and_an_email_on_another_is_one_person(
    chat_on: str, email_on: str
):
    """`agentdesk demo --accounts zendesk,front` (or intercom,front): the same people write to
    both vendors, and the store's customer merge (a shared normalised email) shows them as one
    person with both conversations."""
    args = build_parser().parse_args(["demo", "--accounts", f"{chat_on},{email_on}",
                                      "--scale", "600"])  # fmt: skip
    profile = current_profile().ensure()
    dialects = args.accounts.split(",")
    sessions = demo_sessions(profile, dialects, seed=args.seed, scale=args.scale, activity=0)
    (chat_sim, chat_settings), (mail_sim, mail_settings) = sessions
    try:
        pairs = [(settings, sim.token) for sim, settings in sessions]
        summary = await sync_once(profile.store_file, pairs)
    finally:
        for sim, _settings in sessions:
            sim.stop()
    assert summary["ok"], summary
    assert [chat_settings.name, mail_settings.name] == [chat_on, email_on]

    def emails(world, channel: str) -> dict[str, int]:
        return {world.users[t.requester_id].email: t.id for t in world.tickets.values()
                if t.channel == channel and world.users[t.requester_id].email}  # fmt: skip

    chats, mails = emails(chat_sim.world, "chat"), emails(mail_sim.world, "email")
    both = sorted(set(chats) & set(mails))
    assert both, f"the shared population gives some chatters on {chat_on} an email on {email_on}"
    email = both[0]
    store = Store.open(profile.store_file)
    try:
        rows = store.conn.execute(
            "SELECT customer_id FROM identities WHERE kind = 'email' AND value = ?", (email,)
        )
        customers = {r[0] for r in rows}
        assert len(customers) == 1, "one person, not one per vendor"
        history = store.customer_history(customers.pop())
    finally:
        store.close()
    seen = {(h.account, h.external_id, h.channel) for h in history}
    assert (chat_on, EXTERNAL_ID[chat_on](chats[email]), "chat") in seen
    assert (email_on, EXTERNAL_ID[email_on](mails[email]), "email") in seen


def test_demo_accounts_names_the_dialects_it_knows_when_given_one_it_does_not():
    profile = current_profile().ensure()
    with pytest.raises(CliError) as info:
        demo_sessions(profile, ["zendesk", "jira"], seed=1, scale=10, activity=0)
    assert "'jira' is not one" in str(info.value) and "front" in str(info.value)
