"""The registry behind the ONE connector behaviour suite (`tests/connectors/test_behaviour.py`).

Every vendor runs the same scenarios against its own backend over loopback. To add a vendor:

1. Write a module that calls `register(VENDOR, factory)` at import time. It is discovered
   automatically if it lives at `tests/connectors/backend_<vendor>.py`,
   `tests/vendors/<vendor>/backend.py` or `tests/rt/backend.py`.
2. `factory()` is a context manager (e.g. `@contextlib.contextmanager`) that starts the
   vendor's backend (a simulator dialect with `agentdesk.sim.server.start_in_thread`, or a real
   RT) and yields a `BackendHandle` subclass. Raise `pytest.skip("why")` inside it when the
   backend cannot run here (binary missing, dialect not built yet).
3. Implement the handle's abstract methods: build a connector (always pass `self.faults` as its
   httpx transport so the suite can inject faults), read the backend's own truth (`oracle`),
   act as a colleague (`change_as_colleague`, `add_customer_message`), make recent changes
   visible to an incremental pull (`settle`), and answer 429 the vendor's way (`rate_limited`).
   Set `writes_missing` to a sentence while the backend cannot take writes yet: the write
   scenarios then skip with that reason instead of failing.

Vendors in `EXPECTED` that nobody registered yet are skipped with a reason naming the file to
write, so a missing registration is visible in every test run.
"""

from __future__ import annotations

import abc
import importlib
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from agentdesk.connectors.base import AccountSettings, Connector
from agentdesk.model import Priority, Status

TESTS = Path(__file__).resolve().parent.parent
EXPECTED = (
    "zendesk", "freshdesk", "chatwoot", "rt", "djangohelpdesk", "zammad", "intercom", "front",
    "helpscout",
)  # fmt: skip


# ---------------------------------------------------------------- what the suite reads
@dataclass(frozen=True, slots=True)
class OracleMessage:
    body: str
    public: bool
    author_external_id: str | None = None
    marker: str | None = None
    """The idempotency key / marker the write carried, when the backend records one."""


@dataclass(frozen=True, slots=True)
class OracleConversation:
    """The backend's own truth about one conversation, in agentdesk's vocabulary."""

    external_id: str
    status: Status
    priority: Priority
    assignee_external_id: str | None
    team_external_id: str | None
    tags: frozenset[str]
    messages: tuple[OracleMessage, ...] = ()

    def count(self, body: str) -> int:
        return sum(1 for m in self.messages if m.body.strip() == body.strip())


# ---------------------------------------------------------------- fault injection
class FaultTransport(httpx.AsyncBaseTransport):
    """An httpx transport in front of the real loopback one that can misbehave on demand.

    Planned faults apply to the next matching request, in order. `chaos(p)` makes a random
    share of all requests fail (429, 503, lost response, refused connection, timeout).
    """

    WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self._plan: list[
            tuple[Callable[[httpx.Request], bool], str, httpx.Response | None, bool]
        ] = []
        self._chaos = 0.0
        self._rng = random.Random(7)
        self.rate_limited: Callable[[], httpx.Response] = lambda: httpx.Response(429)
        self.offline = False
        self.injected: dict[str, int] = {}
        self.recording: list[str] | None = None
        """When a list: every request's `signature` is appended to it."""
        self.wrote = False
        """Whether any write went out (a real backend then needs restoring after the test)."""
        self.route_through: str | None = None
        """A loopback proxy's URL (tests/adversarial/hostile.py) that every request goes via."""

    # -------------------------------------------------------- planning
    def plan(
        self,
        kind: str,
        *,
        writes_only: bool = False,
        response: httpx.Response | None = None,
        match: Callable[[httpx.Request], bool] | None = None,
        every: bool = False,
    ) -> None:
        """kind: "lose" (forward, then drop the answer), "refuse" (never sent), "timeout",
        "respond" (answer `response` without forwarding). `every`: not only the next matching
        request but all of them, until `clear()`."""

        def matches(request: httpx.Request) -> bool:
            if writes_only and request.method not in self.WRITE_METHODS:
                return False
            return match(request) if match is not None else True

        self._plan.append((matches, kind, response, every))

    def chaos(self, share: float, seed: int = 7) -> None:
        self._chaos = share
        self._rng = random.Random(seed)

    def clear(self) -> None:
        self._plan.clear()
        self._chaos = 0.0
        self.offline = False

    # -------------------------------------------------------- transport
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.recording is not None:
            self.recording.append(signature(request))
        self.wrote = self.wrote or request.method in self.WRITE_METHODS
        if self.route_through is not None:  # the Host header still names the backend
            via = httpx.URL(self.route_through)
            request.url = request.url.copy_with(scheme=via.scheme, host=via.host, port=via.port)
        if self.offline:
            return self._count_and_raise("refuse", request)
        for index, (matches, kind, response, every) in enumerate(self._plan):
            if matches(request):
                if not every:
                    del self._plan[index]
                return await self._inject(kind, request, response)
        if self._chaos and self._rng.random() < self._chaos:
            kind = self._rng.choice(["429", "503", "lose", "refuse", "timeout"])
            quick = httpx.Response(429, headers={"Retry-After": "0"})
            return await self._inject(kind, request, quick if kind == "429" else None)
        return await self.inner.handle_async_request(request)

    async def _inject(
        self, kind: str, request: httpx.Request, response: httpx.Response | None
    ) -> httpx.Response:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        if kind == "respond" and response is not None:
            return httpx.Response(
                response.status_code, headers=response.headers, content=response.content
            )
        if kind == "429":
            # Chaos asks for no real pause (Retry-After: 0); planned ones use the vendor's.
            return self.rate_limited() if response is None else response
        if kind == "503":
            return httpx.Response(503, json={"error": "Service Unavailable"})
        if kind == "lose":
            real = await self.inner.handle_async_request(request)
            await real.aread()  # the backend applied it; the client never hears back
            await real.aclose()
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return self._count_and_raise(kind, request)

    def _count_and_raise(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "timeout":
            raise httpx.ConnectTimeout("injected timeout", request=request)
        raise httpx.ConnectError("injected: connection refused", request=request)

    async def aclose(self) -> None:
        # Connectors come and go (one per test step); the levers must outlive them.
        inner, self.inner = self.inner, httpx.AsyncHTTPTransport()
        await inner.aclose()


def signature(request: httpx.Request) -> str:
    """What tells one kind of request from another: method, path and the type it accepts
    (one URL may serve JSON to one resource and an HTML form to another)."""
    return f"{request.method} {request.url.path} {request.headers.get('accept', '')}"


# ---------------------------------------------------------------- the handle
@dataclass
class BackendHandle(abc.ABC):
    """One running backend of one vendor, and the levers the suite pulls on it."""

    vendor: str
    settings: AccountSettings
    token: str = field(repr=False)
    faults: FaultTransport = field(default_factory=FaultTransport)
    writes_missing: str | None = None
    """None when the backend takes every write; else why the write scenarios are skipped."""
    wrong_token: str = "definitely-not-the-token-0000"
    read_with_conversations: frozenset[str] = frozenset()
    """Auxiliary resources whose every request the conversations' pull needs as well: they
    cannot fail while conversations sync, so there is nothing of their own to break."""
    recovers_when_refused: frozenset[str] = frozenset()
    """Auxiliary resources the connector reads another way when the backend refuses them
    (403), as the vendor documents for agents without admin rights."""

    @abc.abstractmethod
    def connector(self, *, token: str | None = None) -> Connector:
        """A fresh connector for this backend, built with `transport=self.faults`."""

    @abc.abstractmethod
    def oracle(self, external_id: str) -> OracleConversation:
        """The backend's truth about one conversation (not through the connector)."""

    @abc.abstractmethod
    def conversation_count(self) -> int:
        """How many live conversations the backend holds (full sync must bring all)."""

    @abc.abstractmethod
    def change_as_colleague(
        self,
        external_id: str,
        *,
        assignee_external_id: str | None = None,
        status: Status | None = None,
        add_tags: tuple[str, ...] = (),
    ) -> None:
        """Change fields as another agent would in the vendor's own UI."""

    @abc.abstractmethod
    def add_customer_message(self, external_id: str, body: str) -> None: ...

    @abc.abstractmethod
    def settle(self) -> None:
        """Make changes made so far visible to an incremental pull (e.g. move a held-back
        export window past them). A no-op for most backends."""

    @abc.abstractmethod
    def rate_limited(self) -> httpx.Response:
        """A 429 exactly as this vendor sends it (headers included), asking for a short wait."""


Factory = Callable[[], AbstractContextManager[BackendHandle]]
_REGISTRY: dict[str, Factory] = {}


def register(vendor: str, factory: Factory) -> None:
    _REGISTRY[vendor] = factory


def _discover() -> None:
    candidates = [
        *sorted((TESTS / "connectors").glob("backend_*.py")),
        *sorted((TESTS / "vendors").glob("*/backend.py")),
        TESTS / "rt" / "backend.py",
    ]
    for path in candidates:
        if not path.exists():
            continue
        module = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)
        importlib.import_module(module)


def vendors() -> list[str]:
    _discover()
    return list(dict.fromkeys([*EXPECTED, *_REGISTRY]))


def factory_for(vendor: str) -> Factory | None:
    _discover()
    return _REGISTRY.get(vendor)
