"""Help Scout in the behaviour suite: the simulator's Help Scout dialect over loopback.

The oracle reads fields through Help Scout's own API (plain httpx with its own access token,
not the connector and not the fault transport) and messages from `/_sim/state`. Help Scout's
ids are the world's (conversations, users, customers; mailboxes are the world's groups).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import httpx

from agentdesk.connectors.base import AccountSettings, Connector
from agentdesk.connectors.helpscout import HelpScoutConnector, map_status
from agentdesk.connectors.http import HttpPolicy
from agentdesk.sim.server import start_in_thread
from tests.connectors.backends import OracleConversation, OracleMessage, register
from tests.vendors.simbackend import SimBackend, optional_id

SCALE = 40
SEED = 3
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)
# agentdesk status → the world status a colleague sets (world pending shows as Help Scout's).
WORLD_STATUS: dict[str, str] = {
    "new": "new", "open": "open", "pending": "pending", "on_hold": "hold",
    "solved": "solved", "closed": "closed",
}  # fmt: skip


@dataclass
class HelpScoutSim(SimBackend):
    world_status: ClassVar[dict[str, str]] = WORLD_STATUS

    def connector(self, *, token: str | None = None) -> Connector:
        return HelpScoutConnector(
            self.settings, token or self.token, policy=FAST, transport=self.faults
        )

    def access_token(self) -> str:
        """A token of the oracle's own (Help Scout: the app's client credentials)."""
        response = httpx.post(
            f"{self._sim.base_url}/v2/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self.settings.user,
                  "client_secret": self.token},
        )  # fmt: skip
        response.raise_for_status()
        return response.json()["access_token"]

    def oracle(self, external_id: str) -> OracleConversation:
        response = httpx.get(
            f"{self._sim.base_url}/v2/conversations/{external_id}",
            headers={"Authorization": f"Bearer {self.access_token()}"},
        )
        response.raise_for_status()
        c = response.json()
        (row,) = self._control(f"state?ids={external_id}")["conversations"]
        assignee = c.get("assignee") or {}
        return OracleConversation(
            external_id=str(c["id"]),
            status=map_status(c["status"])[0],
            priority="normal",  # Help Scout has no priority
            assignee_external_id=optional_id(assignee.get("id")),
            team_external_id=optional_id(c["mailboxId"]),
            tags=frozenset(t["tag"] for t in c["tags"]),
            messages=tuple(
                OracleMessage(
                    body=m["body"], public=m["public"],
                    author_external_id=optional_id(m["author_id"]),
                )  # fmt: skip
                for m in row["messages"]
            ),
        )

    def expire_tokens(self, **knobs: object) -> dict:
        """`/_sim/tokens`: expire every access token now, or after N requests each."""
        return self._control("tokens", dict(knobs))

    def rate_limited(self) -> httpx.Response:
        # Help Scout: 429 with X-RateLimit-Retry-After (seconds) and the per-minute budget.
        return httpx.Response(
            429,
            headers={
                "Content-Type": "application/vnd.error+json",
                "X-RateLimit-Retry-After": "1",
                "X-RateLimit-Limit-Minute": "200",
                "X-RateLimit-Remaining-Minute": "0",
            },
            content=b'{"logRef":"rate-limit","message":"Rate limit exceeded"}',
        )


@contextlib.contextmanager
def helpscout_backend(scale: int = SCALE, seed: int = SEED) -> Iterator[HelpScoutSim]:
    with start_in_thread(dialect="helpscout", seed=seed, scale=scale) as sim:
        settings = AccountSettings(
            name="hs", connector="helpscout", base_url=sim.base_url, user=sim.user
        )
        handle = HelpScoutSim(vendor="helpscout", settings=settings, token=sim.token, sim=sim)
        handle.faults.rate_limited = handle.rate_limited
        yield handle


register("helpscout", helpscout_backend)
