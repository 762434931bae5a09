"""Zammad in the shared behaviour suite: the simulator's Zammad dialect over loopback.

The oracle reads the ticket's fields through Zammad's own API with plain httpx (not the
connector, not the fault transport) — `GET /api/v1/tickets/{id}` mapped through the instance's
`/ticket_states?expand=true` and `/ticket_priorities`, tags from `GET /api/v1/tags` — and the
messages from `/_sim/state`, which holds each article's `internal` flag as `public`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import httpx

from agentdesk.connectors.base import AccountSettings, Connector, MalformedResponse
from agentdesk.connectors.http import Fields, HttpPolicy
from agentdesk.connectors.zammad import Vocabulary, ZammadConnector, read_vocabulary
from agentdesk.sim.server import start_in_thread
from tests.connectors.backends import OracleConversation, OracleMessage, register
from tests.vendors.simbackend import SimBackend, optional_id

SCALE = 40
SEED = 3
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)
WORLD_STATUS: dict[str, str] = {
    "new": "new", "open": "open", "pending": "pending", "on_hold": "hold",
    "solved": "solved", "closed": "closed",
}  # fmt: skip


def _fields(data: object, what: str) -> Fields:
    return Fields(data, what, lambda problem: MalformedResponse(f"{what}: {problem}"))


def vocabulary_of(base_url: str, token: str) -> Vocabulary:
    """The instance's states and priorities, read as the connector reads them."""
    headers = {"Authorization": f"Token token={token}"}
    states = httpx.get(f"{base_url}/api/v1/ticket_states", params={"expand": "true"},
                       headers=headers).json()  # fmt: skip
    priorities = httpx.get(f"{base_url}/api/v1/ticket_priorities", headers=headers).json()
    return read_vocabulary([_fields(s, "state") for s in states],
                           [_fields(p, "priority") for p in priorities])  # fmt: skip


@dataclass
class ZammadSim(SimBackend):
    world_status: ClassVar[dict[str, str]] = WORLD_STATUS

    def connector(self, *, token: str | None = None) -> Connector:
        return ZammadConnector(self.settings, token or self.token, policy=FAST,
                               transport=self.faults)  # fmt: skip

    def oracle(self, external_id: str) -> OracleConversation:
        base, headers = self.settings.base_url, {"Authorization": f"Token token={self.token}"}
        ticket = httpx.get(f"{base}/api/v1/tickets/{external_id}", headers=headers).json()
        tags = httpx.get(f"{base}/api/v1/tags", headers=headers,
                         params={"object": "Ticket", "o_id": external_id}).json()  # fmt: skip
        vocabulary = vocabulary_of(base, self.token)
        (row,) = self._control(f"state?ids={external_id}")["conversations"]
        owner = optional_id(ticket["owner_id"])
        return OracleConversation(
            external_id=str(ticket["id"]),
            status=vocabulary.status(str(ticket["state_id"]))[0],
            priority=vocabulary.priority(str(ticket["priority_id"])),
            assignee_external_id=None if owner == "1" else owner,
            team_external_id=optional_id(ticket["group_id"]),
            tags=frozenset(tags["tags"]),
            messages=tuple(
                OracleMessage(
                    body=m["body"],
                    public=m["public"],
                    author_external_id=optional_id(m["author_id"]),
                )
                for m in row["messages"]
            ),
        )

    def rate_limited(self) -> httpx.Response:
        # Zammad core has no API rate limit; in front of it, Rack::Attack-style throttling
        # answers a bare 429 in plain text with no Retry-After.
        return httpx.Response(
            429, headers={"Content-Type": "text/plain; charset=utf-8"}, content=b"Retry later\n"
        )


@contextlib.contextmanager
def zammad_backend(scale: int = SCALE, seed: int = SEED) -> Iterator[ZammadSim]:
    with start_in_thread(dialect="zammad", seed=seed, scale=scale) as sim:
        settings = AccountSettings(
            name="zm", connector="zammad", base_url=sim.base_url, user=sim.user
        )
        handle = ZammadSim(
            vendor="zammad", settings=settings, token=sim.token, sim=sim,
            # Only admin.group may list groups; an agent learns them from its tickets.
            recovers_when_refused=frozenset({"groups"}),
        )  # fmt: skip
        handle.faults.rate_limited = handle.rate_limited
        yield handle


register("zammad", zammad_backend)
