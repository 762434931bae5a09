"""Sync over real loopback HTTP against the Zendesk simulator (`agentdesk.sim`).

Skipped, clearly, while `agentdesk.sim.server.start_in_thread` does not exist yet.
"""

from __future__ import annotations

import pytest

from agentdesk.connectors.base import AccountSettings, AuthError
from agentdesk.connectors.zendesk import ZendeskConnector
from agentdesk.store import Store
from agentdesk.sync import sync_once
from tests.sync.test_engine import snapshot

sim_server = pytest.importorskip(
    "agentdesk.sim.server", reason="PENDING: the simulator (agentdesk.sim.server) is not built yet"
)
if not hasattr(sim_server, "start_in_thread"):  # pragma: no cover - until the sim lands
    pytest.skip("PENDING: agentdesk.sim.server.start_in_thread missing", allow_module_level=True)

SCALE = 120  # small world: the whole module must stay within a few seconds


def _pairs(sim, name: str = "sim") -> list[tuple[AccountSettings, str]]:
    # Every customer's history in the first round (the defaults spread it over rounds), so a
    # second round is a pure replay.
    settings = AccountSettings(
        name=name, connector="zendesk", base_url=sim.base_url, user=sim.user, history_batch=1000
    )
    return [(settings, sim.token)]


async def test_admin_sync_over_loopback_fills_the_cache_and_a_replay_changes_nothing(tmp_path):
    path = tmp_path / "cache.db"
    with sim_server.start_in_thread(dialect="zendesk", seed=1, scale=SCALE) as sim:
        first = await sync_once(path, _pairs(sim))
        assert first["ok"], first
        store = Store.open(path)
        try:
            before = snapshot(store)
        finally:
            store.close()
        second = await sync_once(path, _pairs(sim))
        assert second["ok"], second
    store = Store.open(path)
    try:
        after = snapshot(store)
        conversations = store.conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        channels = store.conn.execute(
            "SELECT count(DISTINCT channel) FROM conversations"
        ).fetchone()[0]
        messages = store.conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        role = store.conn.execute("SELECT role FROM accounts").fetchone()[0]
        cursor = store.get_cursor("sim", "tickets")
    finally:
        store.close()
    assert conversations > 0 and messages >= conversations and channels >= 2
    assert role == "admin" and cursor and not cursor.startswith("search:")
    assert before == after


async def test_agent_token_syncs_through_search_when_the_export_is_refused(tmp_path):
    path = tmp_path / "cache.db"
    with sim_server.start_in_thread(dialect="zendesk", seed=1, scale=SCALE, role="agent") as sim:
        summary = await sync_once(path, _pairs(sim))
    assert summary["ok"], summary
    store = Store.open(path)
    try:
        assert store.conn.execute("SELECT count(*) FROM conversations").fetchone()[0] > 0
        assert (store.get_cursor("sim", "tickets") or "").startswith("search:")
        assert store.conn.execute("SELECT role FROM accounts").fetchone()[0] == "agent"
    finally:
        store.close()


async def test_wrong_token_over_loopback_is_a_sentence_without_the_token():
    with sim_server.start_in_thread(dialect="zendesk", seed=1, scale=SCALE) as sim:
        settings = AccountSettings(
            name="sim", connector="zendesk", base_url=sim.base_url, user=sim.user
        )
        wrong = "definitely-not-the-token-123"
        connector = ZendeskConnector(settings, wrong)
        try:
            with pytest.raises(AuthError) as info:
                await connector.whoami()
        finally:
            await connector.aclose()
    assert "agentdesk accounts add sim" in str(info.value)
    assert wrong not in str(info.value) and sim.token not in str(info.value)
