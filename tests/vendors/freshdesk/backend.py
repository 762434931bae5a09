"""Freshdesk in the shared behaviour suite: the simulator's Freshdesk dialect over loopback.

Registered with `tests.connectors.backends` at import time. The oracle is the simulator's
dialect-neutral `/_sim/state`, read in agentdesk's vocabulary the way the connector would see it
(world status → Freshdesk code → agentdesk status), so the suite compares like with like.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ClassVar

import httpx

from agentdesk.connectors.base import Connector
from agentdesk.connectors.freshdesk import FreshdeskConnector, map_priority, map_status
from agentdesk.connectors.http import HttpPolicy
from agentdesk.sim import freshdesk as dialect
from tests.connectors.backends import OracleConversation, OracleMessage, register
from tests.vendors.simbackend import SimBackend, optional_id

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
class FreshdeskSim(SimBackend):
    world_status: ClassVar[dict[str, str]] = WORLD_STATUS

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
            assignee_external_id=optional_id(row["assignee_id"]),
            team_external_id=optional_id(row["group_id"]),
            tags=frozenset(row["tags"]),
            messages=tuple(
                OracleMessage(
                    body=m["body"], public=m["public"], author_external_id=optional_id(m["author_id"])
                )
                for m in row["messages"]
            ),
        )

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


def freshdesk_backend(scale: int = SCALE, seed: int = SEED) -> AbstractContextManager[FreshdeskSim]:
    return FreshdeskSim.running("freshdesk", "fd", scale=scale, seed=seed)


register("freshdesk", freshdesk_backend)
