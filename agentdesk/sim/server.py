"""Serving the simulator: in a background thread (tests, demo) or in the foreground (CLI).

    with start_in_thread(seed=7, scale=500) as sim:
        httpx.get(f"{sim.base_url}/api/v2/users/me.json", auth=(f"{sim.user}/token", sim.token))

The listening socket is bound before uvicorn starts, so port 0 resolves to a real port at
once and the handle never races the server.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self, TextIO

import uvicorn
from starlette.types import ASGIApp

from agentdesk.sim.activity import Activity
from agentdesk.sim.cable import CableHub
from agentdesk.sim.control import SimRuntime, create_control_app
from agentdesk.sim.faults import STYLES, Faults, FaultSpec, RateLimiter, VendorGate
from agentdesk.sim.oauth import AccessTokens
from agentdesk.sim.world import World, generate_world

DIALECTS = ("zendesk", "freshdesk", "chatwoot", "zammad", "intercom", "front", "helpscout")
ROLES = ("admin", "agent")
TICK_SECONDS = 0.25
CHATWOOT_ACCOUNT_ID = 1


@dataclass(frozen=True, slots=True)
class SimCredentials:
    user: str  # the agent's email (Help Scout: the app id)
    token: str  # Zendesk: API token; Freshdesk: API key; Chatwoot: api_access_token;
    # Help Scout: the app secret (traded for expiring access tokens)
    account_id: int | None = None  # Chatwoot only: its URLs carry the account id

    def __repr__(self) -> str:  # never print a token by accident
        return f"SimCredentials(user={self.user!r}, token='***', account_id={self.account_id})"


def build_app(
    dialect: str,
    seed: int,
    scale: int,
    role: str = "admin",
    *,
    now: datetime | None = None,
    world: World | None = None,
    faults: str | None = None,
    rate_limit: int | None = None,
    activity: float = 0.0,
) -> tuple[ASGIApp, SimCredentials]:
    """The ASGI app of one simulated backend and the credentials of its signed-in agent.

    `role="admin"` gives an admin's token (may use the incremental export), `"agent"` an
    ordinary agent's (gets 403 there and must fall back to search).
    """
    app, credentials, _runtime = _build(
        dialect, seed, scale, role, now=now, world=world, faults=faults,
        rate_limit=rate_limit, activity=activity,
    )  # fmt: skip
    return app, credentials


def _dialect_app(
    dialect: str,
    world: World,
    role: str,
    *,
    tokens: AccessTokens,
    cable: CableHub | None = None,
    limiter: RateLimiter | None = None,
) -> ASGIApp:
    # Imported lazily: one module per dialect, each written against the same World.
    if dialect == "zendesk":
        from agentdesk.sim import zendesk

        return zendesk.create_app(world)
    if dialect == "freshdesk":
        from agentdesk.sim import freshdesk

        # Its own rate limit stays off: the shared gate applies one in Freshdesk's style.
        return freshdesk.build_app(world, role=role)
    if dialect == "zammad":
        from agentdesk.sim import zammad

        return zammad.create_app(world)
    if dialect == "intercom":
        from agentdesk.sim import intercom

        return intercom.create_app(world)
    if dialect == "front":
        from agentdesk.sim import front

        # Front's burst tier applies while the company budget (the shared gate's) does.
        return front.create_app(world, limiter=limiter)
    if dialect == "helpscout":
        from agentdesk.sim import helpscout

        return helpscout.create_app(world, tokens)
    from agentdesk.sim import chatwoot

    return chatwoot.create_app(world, account_id=CHATWOOT_ACCOUNT_ID, cable=cable)


def _build(
    dialect: str,
    seed: int,
    scale: int,
    role: str,
    *,
    now: datetime | None = None,
    world: World | None = None,
    faults: str | None = None,
    rate_limit: int | None = None,
    activity: float = 0.0,
) -> tuple[ASGIApp, SimCredentials, SimRuntime]:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}: choose one of {', '.join(DIALECTS)}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    spec = FaultSpec.parse(faults)  # a bad spec fails before the world is generated
    world = world or generate_world(seed, scale, instance=dialect, now=now)
    agent = world.agent_with_role(role)
    assert agent.email is not None and agent.token is not None
    limiter = RateLimiter(world.clock, window=STYLES[dialect].window)
    limiter.configure(rate_limit)
    tokens = AccessTokens(world.clock)
    runtime = SimRuntime(
        world=world, dialect=dialect, user=agent, faults=Faults(spec, seed=world.seed),
        limiter=limiter, activity=Activity(world, activity, exclude=(agent.id,)), tokens=tokens,
    )  # fmt: skip

    if dialect == "chatwoot":
        runtime.cable = CableHub(world)

    async def catch_up() -> None:
        if runtime.activity.rate:
            runtime.activity.catch_up()

    app = VendorGate(
        _dialect_app(dialect, world, role, tokens=tokens, cable=runtime.cable, limiter=limiter),
        create_control_app(runtime),
        style=STYLES[dialect], faults=runtime.faults, limiter=limiter, on_request=catch_up,
    )  # fmt: skip
    account = CHATWOOT_ACCOUNT_ID if dialect == "chatwoot" else None
    user = agent.email
    if dialect == "helpscout":  # Help Scout signs in with an app: user = app id, token = secret
        from agentdesk.sim.helpscout import app_id

        user = app_id(agent)
    return app, SimCredentials(user, agent.token, account), runtime


class _Server(uvicorn.Server):
    """uvicorn that reports when it listens and leaves signals to whoever owns the process."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_started: Callable[[], None],
        runtime: SimRuntime | None = None,
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._runtime = runtime
        self._ticker: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            if self._runtime is not None:
                self._ticker = asyncio.create_task(self._tick(self._runtime))
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await super().shutdown(sockets=sockets)

    @staticmethod
    async def _tick(runtime: SimRuntime) -> None:
        """Live activity follows the simulated clock as real time moves it."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if runtime.activity.rate and not runtime.world.clock.frozen:
                runtime.activity.catch_up()


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",  # pure Python, always installed; the asyncio transport sets TCP_NODELAY
        timeout_graceful_shutdown=2,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # TCP, and without it small responses wait ~40 ms for delayed ACKs (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class SimHandle:
    """A running simulator. `stop()` (or leaving the `with` block) shuts it down."""

    base_url: str
    user: str
    token: str = field(repr=False)
    world: World = field(repr=False, compare=False)
    _server: _Server = field(repr=False, compare=False)
    _thread: threading.Thread = field(repr=False, compare=False)
    account_id: int | None = None  # Chatwoot's account id (its URLs carry one)
    runtime: SimRuntime | None = field(default=None, repr=False, compare=False)

    @property
    def credentials(self) -> SimCredentials:
        return SimCredentials(self.user, self.token, self.account_id)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(
    dialect: str = "zendesk",
    seed: int = 1,
    scale: int = 2000,
    host: str = "127.0.0.1",
    port: int = 0,
    role: str = "admin",
    *,
    now: datetime | None = None,
    world: World | None = None,
    faults: str | None = None,
    rate_limit: int | None = None,
    activity: float = 0.0,
    timeout: float = 15.0,
) -> SimHandle:
    """Serve a simulator on `host:port` (0 = a free port) from a daemon thread."""
    app, credentials, runtime = _build(
        dialect, seed, scale, role, now=now, world=world, faults=faults,
        rate_limit=rate_limit, activity=activity,
    )  # fmt: skip
    sock = _listen(host, port)
    real_port = sock.getsockname()[1]
    ready = threading.Event()
    server = _Server(_config(app), ready.set, runtime)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            # Not the main thread: uvicorn installs no signal handlers here.
            asyncio.run(server.serve(sockets=[sock]))
        except (Exception, SystemExit) as problem:  # noqa: BLE001 - re-raised by the caller
            failure.append(problem)
        finally:
            ready.set()
            sock.close()

    thread = threading.Thread(target=run, name=f"agentdesk-sim-{real_port}", daemon=True)
    thread.start()
    if not ready.wait(timeout) or failure or not server.started:
        server.should_exit = True
        thread.join(5)
        raise RuntimeError(f"the simulator did not start on {host}:{real_port}") from (
            failure[0] if failure else None
        )
    return SimHandle(
        base_url=_url(host, real_port),
        user=credentials.user,
        token=credentials.token,
        world=runtime.world,
        _server=server,
        _thread=thread,
        account_id=credentials.account_id,
        runtime=runtime,
    )


def serve_forever(
    dialect: str = "zendesk",
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 1,
    scale: int = 2000,
    role: str = "admin",
    out: TextIO | None = None,
    *,
    faults: str | None = None,
    rate_limit: int | None = None,
    activity: float = 0.0,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (`agentdesk sim`).

    Once listening, prints exactly `base_url: ...`, `user: ...`, `token: ...` (one line each),
    and for Chatwoot a fourth, `account_id: ...`. `faults` is a spec such as
    "429=0.1,500=0.05,drop=0.02,timeout=0.01,lost=0.02,latency=50ms" (a bad one raises
    `ValueError` before anything is generated); `rate_limit` requests per simulated minute;
    `activity` live events per simulated minute.
    """
    out = out if out is not None else sys.stdout
    app, credentials, runtime = _build(
        dialect, seed, scale, role, faults=faults, rate_limit=rate_limit, activity=activity
    )
    sock = _listen(host, port)
    real_port = sock.getsockname()[1]

    def announce() -> None:
        out.write(f"base_url: {_url(host, real_port)}\n")
        out.write(f"user: {credentials.user}\n")
        out.write(f"token: {credentials.token}\n")
        if credentials.account_id is not None:
            out.write(f"account_id: {credentials.account_id}\n")
        out.flush()

    server = _Server(_config(app), announce, runtime)

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # uvicorn's own signal capture would re-raise SIGINT after shutdown; ours just stops.
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
