"""Simulators shared by the tests of one module: real uvicorn servers on loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from agentdesk.sim.server import SimHandle, start_in_thread

# A fixed "now" keeps generated worlds identical from run to run.
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
SCALE = 1500


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_in_thread("zendesk", seed=11, scale=SCALE, now=NOW) as handle:
        yield handle


@pytest.fixture(scope="module")
def agent_sim() -> Iterator[SimHandle]:
    with start_in_thread("zendesk", seed=11, scale=200, now=NOW, role="agent") as handle:
        yield handle


def client_for(handle: SimHandle) -> httpx.Client:
    return httpx.Client(
        base_url=handle.base_url, auth=(f"{handle.user}/token", handle.token), timeout=10
    )


@pytest.fixture(scope="module")
def api(sim: SimHandle) -> Iterator[httpx.Client]:
    with client_for(sim) as client:
        yield client
