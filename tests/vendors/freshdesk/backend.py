"""Freshdesk in the shared behaviour suite: the simulator's Freshdesk dialect over loopback.

Registered with `tests.connectors.backends` at import time. The oracle is the simulator's
dialect-neutral `/_sim/state`, read in agentdesk's vocabulary the way the connector would see it
(world status → Freshdesk code → agentdesk status), so the suite compares like with like.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from agentdesk.connectors.base import AccountSettings, Connector
from agentdesk.connectors.freshdesk import FreshdeskConnector, map_priority, map_status
from agentdesk.connectors.http import HttpPolicy
from agentdesk.model import Status
from agentdesk.sim import freshdesk as dialect
from agentdesk.sim.server import SimHandle, start_in_thread
from tests.connectors.backends import BackendHandle, OracleConversation, OracleMessage, register

SCALE = 40
SEED = 3
# Tiny back-offs: the suite injects faults on purpose and must stay fast.
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)
# agentdesk status → the world's (Zendesk-flavoured) status a colleague sets.
WORLD_STATUS: dict[str, str] = {
    "new": "open", "open": "open", "pending": "pending", "on_hold": "hold",
    "solved": "solved", "closed": "closed",
}  # fmt: skip


@dataclass
class FreshdeskSim(BackendHandle):
    sim: SimHandle | None = field(default=None, repr=False)

    @property
    def _sim(self) -> SimHandle:
        assert self.sim is not None
        return self.sim

    def _control(self, path: str, body: dict[str, object] | None = None) -> dict:
        url = f"{self._sim.base_url}/_sim/{path}"
        response = httpx.post(url, json=body) if body is not None else httpx.get(url)
        response.raise_for_status()
        return response.json()

    def connector(self, *, token: str | None = None) -> Connector:
        return FreshdeskConnector(
            self.settings, token or self.token, policy=FAST, transport=self.faults
        )

    def oracle(self, external_id: str) -> OracleConversation:
        (row,) = self._control(f"state?ids={external_id}")["conversations"]
        return OracleConversation(
            external_id=str(row["id"]),
            status=map_status(dialect.STATUS_CODE[row["status"]])[0],
            priority=map_priority(dialect.PRIORITY_CODE[row["priority"]]),
            assignee_external_id=_opt(row["assignee_id"]),
            team_external_id=_opt(row["group_id"]),
            tags=frozenset(row["tags"]),
            messages=tuple(
                OracleMessage(
                    body=m["body"], public=m["public"], author_external_id=_opt(m["author_id"])
                )
                for m in row["messages"]
            ),
        )

    def conversation_count(self) -> int:
        # The connector's first pull reaches back `cache_days` from its own (real) clock.
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
            body["assign"] = int(assignee_external_id)
        if status is not None:
            body["status"] = WORLD_STATUS[status]
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
        # Freshdesk's `updated_at` has second precision: a colleague acts a second later than
        # anything the last pull saw, as in real life, never inside the cursor's own second.
        self._control("clock", {"advance_seconds": 1})

    def settle(self) -> None:
        """Freshdesk's `updated_since` shows changes at once: nothing to wait for."""

    def rate_limited(self) -> httpx.Response:
        # Freshdesk: 429 with Retry-After in seconds and its X-RateLimit-* headers.
        return httpx.Response(
            429,
            headers={
                "Retry-After": "1",
                "X-RateLimit-Total": "50",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Used-CurrentRequest": "1",
            },
            json={"message": "You have exceeded the limit of requests per minute"},
        )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


@contextlib.contextmanager
def freshdesk_backend(scale: int = SCALE, seed: int = SEED) -> Iterator[FreshdeskSim]:
    with start_in_thread(dialect="freshdesk", seed=seed, scale=scale) as sim:
        settings = AccountSettings(
            name="fd", connector="freshdesk", base_url=sim.base_url, user=sim.user
        )
        handle = FreshdeskSim(vendor="freshdesk", settings=settings, token=sim.token, sim=sim)
        handle.faults.rate_limited = handle.rate_limited
        yield handle


register("freshdesk", freshdesk_backend)
