"""Front in the shared behaviour suite: the simulator's Front dialect over loopback.

Front's ids are the world's numbers in base 36 behind a prefix (`cnv_`, `tea_`): the handle
translates them for the control API, which speaks world ids. The oracle reads the fields from
Front's own API with plain httpx (not the connector, not the fault transport) and messages from
`/_sim/state`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import httpx

from agentdesk.connectors.base import AccountSettings, Connector
from agentdesk.connectors.front import FrontConnector, map_status
from agentdesk.connectors.http import HttpPolicy
from agentdesk.model import Status
from agentdesk.sim.front import front_id, world_id
from agentdesk.sim.server import start_in_thread
from tests.connectors.backends import OracleConversation, OracleMessage, register
from tests.vendors.simbackend import SimBackend

SCALE = 40
SEED = 3
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)
WORLD_STATUS: dict[str, str] = {
    "new": "new",
    "open": "open",
    "pending": "pending",
    "on_hold": "hold",
    "solved": "solved",
    "closed": "closed",
}


@dataclass
class FrontSim(SimBackend):
    world_status: ClassVar[dict[str, str]] = WORLD_STATUS

    def _world_agent_id(self, assignee_external_id: str) -> int:
        number = world_id("teammate", assignee_external_id)
        assert number is not None, f"no Front teammate {assignee_external_id}"
        return number

    def _ticket_number(self, external_id: str) -> str:
        number = world_id("conversation", external_id)
        assert number is not None, f"no Front conversation {external_id}"
        return str(number)

    def connector(self, *, token: str | None = None) -> Connector:
        return FrontConnector(
            self.settings, token or self.token, policy=FAST, transport=self.faults
        )

    def oracle(self, external_id: str) -> OracleConversation:
        headers = {"Authorization": f"Bearer {self.token}"}
        base = f"{self._sim.base_url}/conversations/{external_id}"
        c = httpx.get(base, headers=headers).raise_for_status().json()
        (inbox,) = (
            httpx.get(f"{base}/inboxes", headers=headers).raise_for_status().json()["_results"]
        )
        owner = inbox["_links"]["related"].get("owner")
        snoozed = any(
            r["scheduled_at"] > self._sim.world.clock.timestamp() for r in c["scheduled_reminders"]
        )
        (row,) = self._control(f"state?ids={self._ticket_number(external_id)}")["conversations"]
        return OracleConversation(
            external_id=c["id"],
            status=map_status(c.get("status_category"), c["status"], snoozed),
            priority="normal",
            assignee_external_id=(c["assignee"] or {}).get("id"),
            team_external_id=owner.rsplit("/", 1)[-1] if owner else None,
            tags=frozenset(t["name"] for t in c["tags"]),
            messages=tuple(
                OracleMessage(
                    body=m["body"],
                    public=m["public"],
                    author_external_id=front_id("teammate", m["author_id"]),
                )
                for m in row["messages"]
            ),
        )

    def change_as_colleague(
        self,
        external_id: str,
        *,
        assignee_external_id: str | None = None,
        status: Status | None = None,
        add_tags: tuple[str, ...] = (),
    ) -> None:
        super().change_as_colleague(
            self._ticket_number(external_id),
            assignee_external_id=assignee_external_id,
            status=status,
            add_tags=add_tags,
        )

    def add_customer_message(self, external_id: str, body: str) -> None:
        super().add_customer_message(self._ticket_number(external_id), body)

    def rate_limited(self) -> httpx.Response:
        # Front's burst tier: 429 with retry-after (seconds) and x-front-tier, while the
        # company's per-minute budget still has requests left.
        return httpx.Response(
            429,
            headers={
                "retry-after": "1",
                "x-front-tier": "2",
                "x-ratelimit-limit": "100",
                "x-ratelimit-remaining": "87",
            },
            json={
                "_error": {
                    "status": 429,
                    "title": "Too many requests",
                    "message": "Burst rate limit exceeded for this resource",
                }
            },
        )


@contextlib.contextmanager
def front_backend(scale: int = SCALE, seed: int = SEED) -> Iterator[FrontSim]:
    with start_in_thread(dialect="front", seed=seed, scale=scale) as sim:
        settings = AccountSettings(
            name="fr", connector="front", base_url=sim.base_url, user=sim.user
        )
        handle = FrontSim(
            vendor="front", settings=settings, token=sim.token, sim=sim,
            # A conversation's team is its inbox: the conversations read the inboxes too.
            read_with_conversations=frozenset({"teams"}),
        )  # fmt: skip
        handle.faults.rate_limited = handle.rate_limited
        yield handle


register("front", front_backend)
