"""Agents set their own presence: sent to Chatwoot (offline-safe), local elsewhere."""

from __future__ import annotations

import httpx
import pytest

from agentdesk.connectors.base import AccountSettings, PermissionDenied
from agentdesk.connectors.chatwoot import ChatwootConnector
from agentdesk.sim.server import start_in_thread
from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from agentdesk.syncapi import SyncEvent
from agentdesk.tui.screens.team import TeamScreen
from agentdesk.tui.widgets.picker import PickerScreen
from tests.supervisor.fixture import build
from tests.supervisor.test_screens import SIZE, SupervisorApp, _rows
from tests.tui.helpers import wait_for


@pytest.fixture(scope="module")
def chatwoot():
    with start_in_thread(dialect="chatwoot", seed=5, scale=30) as sim:
        yield sim


def _connector(sim, cls=ChatwootConnector) -> ChatwootConnector:
    settings = AccountSettings(
        name="chat", connector="chatwoot",
        base_url=f"{sim.base_url}/app/accounts/{sim.account_id}", user=sim.user,
    )  # fmt: skip
    return cls(settings, sim.token)


def _served_availability(sim) -> str:
    """What Chatwoot's agents list says about the signed-in agent, read over HTTP."""
    agents = httpx.get(
        f"{sim.base_url}/api/v1/accounts/{sim.account_id}/agents",
        headers={"api_access_token": sim.token},
    ).json()
    served = next(a["availability_status"] for a in agents if a["email"] == sim.user)
    return "online" if served == "available" else served  # the spec's word for online


async def test_chatwoot_presence_set_offline_reaches_the_server_at_the_next_sync(
    chatwoot, tmp_path
):
    store = Store.open(tmp_path / "cache.db")
    connector = _connector(chatwoot)
    engine = SyncEngine(store, {"chat": connector})
    try:
        assert (await engine.sync_account("chat")).ok
        if _served_availability(chatwoot) == "offline":  # the seed's agent may start offline
            store.set_my_presence("chat", "online")
            assert (await engine.sync_account("chat")).ok
        assert _served_availability(chatwoot) == store.my_presence("chat")[0].presence
        # Set while not syncing (offline): optimistic at once, pending until sent.
        mine = store.set_my_presence("chat", "busy")
        mine = store.set_my_presence("chat", "offline")  # last write wins
        assert mine.settable and mine.state == "pending" and mine.presence == "offline"
        assert _served_availability(chatwoot) != "offline"

        result = await engine.sync_account("chat")
        assert result.ok, result.error
        assert _served_availability(chatwoot) == "offline"
        (after,) = store.my_presence("chat")
        assert after.state == "synced" and after.presence == "offline"
    finally:
        await connector.aclose()
        store.close()


class _Refusing(ChatwootConnector):
    async def set_presence(self, presence: str) -> str:
        raise PermissionDenied("Chatwoot refused: you may not change your availability")


async def test_a_refused_presence_is_reverted_and_says_so(chatwoot, tmp_path):
    store = Store.open(tmp_path / "cache.db")
    connector = _connector(chatwoot, _Refusing)
    events: list[SyncEvent] = []
    engine = SyncEngine(store, {"chat": connector}, events.append)
    try:
        assert (await engine.sync_account("chat")).ok
        served = _served_availability(chatwoot)
        wanted = "offline" if served != "offline" else "online"
        store.set_my_presence("chat", wanted)
        assert (await engine.sync_account("chat")).ok
        (mine,) = store.my_presence("chat")
        assert mine.refused == wanted and mine.state == f"refused ({wanted})"
        assert mine.presence == served  # the pull brought the server's value back
        assert any(e.kind == "error" and "refused" in e.message for e in events)
    finally:
        await connector.aclose()
        store.close()


async def test_zendesk_presence_is_local_and_survives_sync(tmp_path):
    from tests.connectors.backend_zendesk import zendesk_backend

    with zendesk_backend(scale=30, seed=4) as sim:
        store = Store.open(tmp_path / "cache.db")
        connector = sim.connector()
        engine = SyncEngine(store, {sim.settings.name: connector})
        try:
            assert (await engine.sync_account(sim.settings.name)).ok
            mine = store.set_my_presence(sim.settings.name, "busy")
            assert not mine.settable and mine.state == "local" and mine.presence == "busy"
            assert (await engine.sync_account(sim.settings.name)).ok
            (after,) = store.my_presence(sim.settings.name)
            assert after.state == "local" and after.presence == "busy"
        finally:
            await connector.aclose()
            store.close()


async def test_p_on_the_team_screen_sets_my_presence(tmp_path):
    path = build(tmp_path / "c.db")
    app = SupervisorApp(path, "team")
    async with app.run_test(size=SIZE) as pilot:
        await _rows(pilot, "#team-agents")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press(*"busy")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TeamScreen))
        screen = app.screen
        await wait_for(
            pilot,
            lambda: any(
                a.name == "Sarah Connors" and a.presence == "busy" for a in screen.snapshot.agents
            ),
        )
        (mine,) = app.store.my_presence("acme")
        assert mine.presence == "busy" and mine.state == "local"  # Zendesk: no presence API


def test_cli_presence_sets_and_prints_per_account(capsys):
    from agentdesk.cli import main
    from agentdesk.paths import current_profile

    build(current_profile().ensure().store_file)
    assert main(["presence", "busy", "--account", "acme"]) == 0
    assert main(["presence", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("acme\tbusy\tlocal")
    assert '"presence": "busy"' in out[-1] and '"state": "local"' in out[-1]
    assert main(["presence", "--account", "nope"]) == 2
