"""A Chatwoot simulator served over real loopback HTTP (uvicorn in a thread, port 0)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import uvicorn

from agentdesk.connectors.base import AccountSettings
from agentdesk.connectors.chatwoot import ChatwootConnector
from agentdesk.connectors.http import HttpPolicy
from agentdesk.sim.chatwoot import ChatwootDialect, create_app
from agentdesk.sim.world import World, generate_world

SEED = 7
SCALE = 60
# The connector measures `updated_within` with its own clock, as against a real server whose
# clock is close to ours: the simulated clock starts at the real now (then frozen).
NOW = datetime.now(UTC).replace(microsecond=0)
FAST = HttpPolicy(max_attempts=1)  # no retries: a test sees the first answer


@dataclass
class Sim:
    world: World
    dialect: ChatwootDialect
    base_url: str
    user: str
    token: str

    def settings(self, name: str = "chat") -> AccountSettings:
        return AccountSettings(
            name=name, connector="chatwoot", base_url=f"{self.base_url}/app/accounts/1",
            user=self.user,
        )  # fmt: skip

    def connector(self, name: str = "chat", **kw: object) -> ChatwootConnector:
        return ChatwootConnector(self.settings(name), self.token, policy=FAST, **kw)  # type: ignore[arg-type]


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread: no signal handlers
        pass


def serve(dialect: ChatwootDialect) -> tuple[str, _Server, threading.Thread]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(dialect.world, dialect=dialect), log_level="warning", access_log=False,
        lifespan="off", http="h11",
    )  # fmt: skip
    server = _Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:  # bounded by the thread start; no sleep-polling on the network
        if not thread.is_alive():
            raise RuntimeError("the Chatwoot simulator did not start")
        threading.Event().wait(0.005)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def sim() -> Iterator[Sim]:
    world = generate_world(SEED, SCALE, instance="chatwoot", now=NOW)
    world.clock.freeze()
    dialect = ChatwootDialect(world)
    base_url, server, thread = serve(dialect)
    email, token = dialect.credentials("agent")
    try:
        yield Sim(world, dialect, base_url, email, token)
    finally:
        server.should_exit = True
        thread.join(5)
