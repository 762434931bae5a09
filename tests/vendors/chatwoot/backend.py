"""Chatwoot in the shared behaviour suite: the simulator's Chatwoot dialect over loopback.

Registered with `tests.connectors.backends` at import time. Chatwoot numbers agents and teams
its own way (small account-scoped ids), so the handle translates between the simulator's
world ids (what `/_sim/state` and `/_sim/act` speak) and Chatwoot's (what the connector sees).
The oracle reads fields from Chatwoot's own API with plain httpx (not the connector, not the
fault transport) and messages from `/_sim/state`, which holds them without activity lines.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from agentdesk.connectors.base import AccountSettings, Connector
from agentdesk.connectors.chatwoot import ChatwootConnector, map_priority, map_status
from agentdesk.connectors.http import HttpPolicy
from agentdesk.model import Status
from agentdesk.sim.chatwoot import ChatwootDialect
from agentdesk.sim.server import SimHandle, start_in_thread
from tests.connectors.backends import BackendHandle, OracleConversation, OracleMessage, register

SCALE = 40
SEED = 3
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)
# agentdesk status → the world status a colleague sets (Chatwoot shows world `pending` as a
# snooze without a time, which agentdesk reads back as pending).
WORLD_STATUS: dict[str, str] = {
    "new": "new", "open": "open", "pending": "pending", "on_hold": "hold",
    "solved": "solved", "closed": "closed",
}  # fmt: skip


@dataclass
class ChatwootSim(BackendHandle):
    sim: SimHandle | None = field(default=None, repr=False)
    ids: ChatwootDialect | None = field(default=None, repr=False)
    """A dialect over the same world, used only to translate ids (never served)."""

    @property
    def _sim(self) -> SimHandle:
        assert self.sim is not None
        return self.sim

    @property
    def _ids(self) -> ChatwootDialect:
        assert self.ids is not None
        return self.ids

    def _control(self, path: str, body: dict[str, object] | None = None) -> dict:
        url = f"{self._sim.base_url}/_sim/{path}"
        response = httpx.post(url, json=body) if body is not None else httpx.get(url)
        response.raise_for_status()
        return response.json()

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
            assignee_external_id=_opt((meta.get("assignee") or {}).get("id")),
            team_external_id=_opt((meta.get("team") or {}).get("id")),
            tags=frozenset(c["labels"]),
            messages=tuple(
                OracleMessage(
                    body=m["body"], public=m["public"], author_external_id=self._cid(m["author_id"])
                )
                for m in row["messages"]
            ),
        )

    def conversation_count(self) -> int:
        # The first pass lists every conversation but caches those updated within
        # `cache_days` of the connector's own (real) clock.
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
            agent = self._ids.user_of(assignee_external_id)
            assert agent is not None, f"no Chatwoot agent {assignee_external_id}"
            body["assign"] = agent.id
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
        # A colleague acts a second after anything the last pull saw (whole-second clocks).
        self._control("clock", {"advance_seconds": 1})

    def settle(self) -> None:
        """`updated_within` shows changes at once: nothing to wait for."""

    def rate_limited(self) -> httpx.Response:
        # Chatwoot (Rack::Attack): a bare 429 in plain text, no Retry-After, no reset header.
        return httpx.Response(
            429, headers={"Content-Type": "text/plain; charset=utf-8"}, content=b"Retry later\n"
        )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


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
