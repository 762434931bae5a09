"""Chatwoot in the shared behaviour suite: the simulator's Chatwoot dialect over loopback.

Registered with `tests.connectors.backends` at import time. Chatwoot numbers agents and teams
its own way (small account-scoped ids), so the handle translates between the simulator's
world ids (what `/_sim/state` and `/_sim/act` speak) and Chatwoot's (what the connector sees).
The oracle reads fields from Chatwoot's own API with plain httpx (not the connector, not the
fault transport) and messages from `/_sim/state`, which holds them without activity lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from agentdesk.connectors.base import AccountSettings, Connector
from agentdesk.connectors.chatwoot import ChatwootConnector, map_priority, map_status
from agentdesk.connectors.http import HttpPolicy
from agentdesk.sim.chatwoot import ChatwootDialect
from agentdesk.sim.server import start_in_thread
from tests.connectors.backends import OracleConversation, OracleMessage, register
from tests.vendors.simbackend import SimBackend, optional_id

SCALE = 40
SEED = 3
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)


@dataclass
class ChatwootSim(SimBackend):
    # A colleague's world `pending` shows as a snooze without a time: agentdesk's pending.
    ids: ChatwootDialect | None = field(default=None, repr=False)
    """A dialect over the same world, used only to translate ids (never served)."""

    @property
    def _ids(self) -> ChatwootDialect:
        assert self.ids is not None
        return self.ids

    def _world_agent_id(self, assignee_external_id: str) -> int:
        agent = self._ids.user_of(assignee_external_id)
        assert agent is not None, f"no Chatwoot agent {assignee_external_id}"
        return agent.id

    def _cid(self, world_id: int | None) -> str | None:
        user = self._sim.world.users.get(world_id or 0)
        return None if user is None else str(self._ids.user_cid(user))

    def connector(self, *, token: str | None = None) -> Connector:
        return ChatwootConnector(
            self.settings, token or self.token, policy=FAST, transport=self.faults
        )

    def oracle(self, external_id: str) -> OracleConversation:
        response = httpx.get(
            f"{self._sim.base_url}/api/v1/accounts/{self._sim.account_id}"
            f"/conversations/{external_id}",
            headers={"api_access_token": self.token},
        )
        response.raise_for_status()
        c = response.json()
        meta = c["meta"]
        (row,) = self._control(f"state?ids={external_id}")["conversations"]
        return OracleConversation(
            external_id=str(c["id"]),
            status=map_status(c["status"], c["snoozed_until"]),
            priority=map_priority(c["priority"]),
            assignee_external_id=optional_id((meta.get("assignee") or {}).get("id")),
            team_external_id=optional_id((meta.get("team") or {}).get("id")),
            tags=frozenset(c["labels"]),
            messages=tuple(
                OracleMessage(
                    body=m["body"], public=m["public"], author_external_id=self._cid(m["author_id"])
                )
                for m in row["messages"]
            ),
        )

    def rate_limited(self) -> httpx.Response:
        # Chatwoot (Rack::Attack): a bare 429 in plain text, no Retry-After, no reset header.
        return httpx.Response(
            429, headers={"Content-Type": "text/plain; charset=utf-8"}, content=b"Retry later\n"
        )


@contextlib.contextmanager
def chatwoot_backend(scale: int = SCALE, seed: int = SEED) -> Iterator[ChatwootSim]:
    with start_in_thread(dialect="chatwoot", seed=seed, scale=scale) as sim:
        settings = AccountSettings(
            name="chat",
            connector="chatwoot",
            base_url=f"{sim.base_url}/app/accounts/{sim.account_id}",
            user=sim.user,
        )
        handle = ChatwootSim(
            vendor="chatwoot", settings=settings, token=sim.token, sim=sim,
            ids=ChatwootDialect(sim.world, account_id=sim.account_id or 1),
        )  # fmt: skip
        handle.faults.rate_limited = handle.rate_limited
        yield handle


register("chatwoot", chatwoot_backend)
