"""What the simulator-backed vendors of the behaviour suite share: the control API
(`/_sim/...`), the cache window's conversation count and a colleague's or customer's actions,
expressed in the simulator's world vocabulary."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Self

import httpx

from agentdesk.connectors.base import AccountSettings
from agentdesk.model import Status
from agentdesk.sim.server import SimHandle, start_in_thread
from tests.connectors.backends import BackendHandle


@dataclass
class SimBackend(BackendHandle):
    sim: SimHandle | None = field(default=None, repr=False)
    world_status: ClassVar[dict[str, str]] = {
        "new": "new", "open": "open", "pending": "pending", "on_hold": "hold",
        "solved": "solved", "closed": "closed",
    }  # fmt: skip
    """agentdesk status → the world status a colleague sets (the world says `hold`)."""

    @classmethod
    @contextlib.contextmanager
    def running(cls, dialect: str, account: str, *, scale: int, seed: int) -> Iterator[Self]:
        """A handle on a fresh simulator of `dialect` whose base URL is the account's URL."""
        with start_in_thread(dialect=dialect, seed=seed, scale=scale) as sim:
            settings = AccountSettings(
                name=account, connector=dialect, base_url=sim.base_url, user=sim.user
            )
            handle = cls(vendor=dialect, settings=settings, token=sim.token, sim=sim)
            handle.faults.rate_limited = handle.rate_limited
            yield handle

    @property
    def _sim(self) -> SimHandle:
        assert self.sim is not None
        return self.sim

    def _control(self, path: str, body: dict[str, object] | None = None) -> dict:
        url = f"{self._sim.base_url}/_sim/{path}"
        response = httpx.post(url, json=body) if body is not None else httpx.get(url)
        response.raise_for_status()
        return response.json()

    def _world_agent_id(self, assignee_external_id: str) -> int:
        """The world's id of the agent the connector knows as `assignee_external_id`."""
        return int(assignee_external_id)

    def conversation_count(self) -> int:
        # The first pull caches what was updated within `cache_days` of the connector's own
        # (real) clock.
        cutoff = time.time() - self.settings.cache_days * 86_400
        return sum(1 for t in self._sim.world.tickets.values() if t.updated_at >= cutoff)

    def change_as_colleague(
        self,
        external_id: str,
        *,
        assignee_external_id: str | None = None,
        status: Status | None = None,
        add_tags: tuple[str, ...] = (),
    ) -> None:
        body: dict[str, object] = {"conversation_id": int(external_id)}
        if assignee_external_id is not None:
            body["assign"] = self._world_agent_id(assignee_external_id)
        if status is not None:
            body["status"] = self.world_status[status]
        if add_tags:
            body["add_tags"] = list(add_tags)
        self._tick()
        self._control("act", body)

    def add_customer_message(self, external_id: str, body: str) -> None:
        ticket = self._sim.world.tickets[int(external_id)]
        customer = self._sim.world.users[ticket.requester_id]
        self._tick()
        self._control(
            "inbound",
            {"conversation_id": ticket.id, "customer_email": customer.email, "text": body,
             "channel": ticket.channel},
        )  # fmt: skip

    def _tick(self) -> None:
        # The vendors' `updated_at` have second precision: a colleague acts a second later
        # than anything the last pull saw, as in real life, never inside the cursor's second.
        self._control("clock", {"advance_seconds": 1})

    def settle(self) -> None:
        """The dialects show changes at once (`updated_since`, `updated_within`)."""


def optional_id(value: object) -> str | None:
    return None if value is None else str(value)
