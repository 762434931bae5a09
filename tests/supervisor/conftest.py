"""A Zendesk simulator world synced into a real SQLite cache, shared per module."""

from __future__ import annotations

import pytest

from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from tests.connectors.backend_zendesk import zendesk_backend


@pytest.fixture(scope="module")
def sim():
    with zendesk_backend(scale=700, seed=11) as handle:
        yield handle


@pytest.fixture
async def synced(sim, tmp_path):
    """(store, engine, sim) with the world pulled into a fresh cache."""
    store = Store.open(tmp_path / "cache.db")
    connector = sim.connector()
    engine = SyncEngine(store, {sim.settings.name: connector})
    sim.settle()
    result = await engine.sync_account(sim.settings.name)
    assert result.ok, result.error
    yield store, engine, sim
    await connector.aclose()
    store.close()
