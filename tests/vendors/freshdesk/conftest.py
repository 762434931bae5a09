"""A Freshdesk simulator on a real loopback port, served by uvicorn from a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import uvicorn

from agentdesk.connectors.base import AccountSettings
from agentdesk.connectors.freshdesk import FreshdeskConnector
from agentdesk.sim.freshdesk import FreshdeskDialect
from agentdesk.sim.world import World, generate_world

SEED = 7
SCALE = 60
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class FreshdeskSim:
    base_url: str
    world: World
    dialect: FreshdeskDialect
    user: str
    key: str

    def connector(self, name: str = "fd", key: str | None = None, **kw) -> FreshdeskConnector:
        settings = AccountSettings(
            name=name, connector="freshdesk", base_url=self.base_url, user=self.user,
            cache_days=3650,
        )  # fmt: skip
        return FreshdeskConnector(settings, key if key is not None else self.key, **kw)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._started_event.set()


@contextlib.contextmanager
def serve(app: object) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    started = threading.Event()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http="h11")
    server = _Server(config, started)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    assert started.wait(10), "the simulator did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def running(
    *, seed: int = SEED, scale: int = SCALE, role: str = "admin", rate_limit: int | None = None
) -> Iterator[FreshdeskSim]:
    world = generate_world(seed, scale, instance="freshdesk", now=NOW)
    world.clock.freeze()  # time moves only when a test says so
    dialect = FreshdeskDialect(world, rate_limit_per_minute=rate_limit, role=role)
    user, key = dialect.credentials()
    with serve(dialect.app()) as url:
        yield FreshdeskSim(url, world, dialect, user, key)


@pytest.fixture
def fd_sim() -> Iterator[FreshdeskSim]:
    with running() as sim:
        yield sim
