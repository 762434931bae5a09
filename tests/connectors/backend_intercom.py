"""Intercom in the shared behaviour suite: the simulator's Intercom dialect over loopback.

Admin and team ids are the world's own (as strings), so a colleague's assignment needs no
translation. The oracle reads fields from Intercom's own API with plain httpx (not the
connector, not the fault transport) and messages from `/_sim/state`.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx

from agentdesk.connectors.base import Connector
from agentdesk.connectors.http import HttpPolicy
from agentdesk.connectors.intercom import IntercomConnector, map_priority, map_status
from tests.connectors.backends import OracleConversation, OracleMessage, register
from tests.vendors.simbackend import SimBackend, optional_id

SCALE = 40
SEED = 3
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)


def rate_limited_response(reset_in: int = 2) -> httpx.Response:
    """Intercom's 429: `rate_limit_exceeded`, the X-RateLimit-* headers with the reset as a
    Unix time, and no Retry-After."""
    return httpx.Response(
        429,
        headers={
            "X-RateLimit-Limit": "166",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + reset_in),
        },
        json={"type": "error.list", "request_id": "00000000-0000-0000-0000-000000000000",
              "errors": [{"code": "rate_limit_exceeded", "message": "Rate Limit Exceeded"}]},
    )  # fmt: skip


@dataclass
class IntercomSim(SimBackend):
    # A colleague's world pending or hold shows as Intercom's snooze: agentdesk's pending.

    def connector(self, *, token: str | None = None) -> Connector:
        return IntercomConnector(
            self.settings, token or self.token, policy=FAST, transport=self.faults
        )

    def oracle(self, external_id: str) -> OracleConversation:
        response = httpx.get(
            f"{self._sim.base_url}/conversations/{external_id}",
            headers={"Authorization": f"Bearer {self.token}", "Intercom-Version": "2.16"},
        )
        response.raise_for_status()
        c = response.json()
        (row,) = self._control(f"state?ids={external_id}")["conversations"]
        return OracleConversation(
            external_id=c["id"],
            status=map_status(c["state"]),
            priority=map_priority(c["priority"]),
            assignee_external_id=optional_id(c["admin_assignee_id"] or None),
            team_external_id=optional_id(c["team_assignee_id"] or None),
            tags=frozenset(t["name"] for t in c["tags"]["tags"]),
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
        return rate_limited_response()


def intercom_backend(scale: int = SCALE, seed: int = SEED) -> AbstractContextManager[IntercomSim]:
    return IntercomSim.running("intercom", "ic", scale=scale, seed=seed)


register("intercom", intercom_backend)
