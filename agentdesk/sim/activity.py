"""Live activity: the rest of the support team and the customers, moving the world along.

`rate` is events per SIMULATED minute. Events are scheduled on the simulated clock (exponential
gaps drawn from an RNG seeded by the world's seed and instance), so the same seed and the same
clock moves give the same events: a frozen clock means no activity, advancing it by ten minutes
plays ten minutes' worth at once, each event dated when it fell due. A server runs `catch_up()` from a background task (real time
moves the clock) and before each request and control call, so tests see a settled world.

Events: a new conversation from a customer; a customer's follow-up on an open or pending
conversation (which reopens it); another agent replying (→ pending), solving or putting on hold;
an internal note; a supervisor reassigning. The signed-in agent never acts here: everything
they see change was done by somebody else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from random import Random
from typing import Any

from agentdesk.sim import text
from agentdesk.sim.world import CHANNELS, Ticket, User, World

OPEN_ISH = ("new", "open", "pending", "hold")
MAX_EVENTS_PER_CATCH_UP = 2000  # a huge clock jump plays at most this many, then skips ahead
_KINDS = (  # (kind, weight)
    ("new_conversation", 0.22),
    ("customer_followup", 0.24),
    ("agent_reply", 0.22),
    ("agent_status", 0.12),
    ("supervisor_reassign", 0.1),
    ("agent_note", 0.1),
)


@dataclass(frozen=True, slots=True)
class Event:
    at: int
    kind: str
    conversation_id: int
    actor_id: int
    summary: str

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "conversation_id": self.conversation_id,
                "actor_id": self.actor_id, "summary": self.summary}  # fmt: skip


class Activity:
    def __init__(self, world: World, rate: float = 0.0, *, exclude: tuple[int, ...] = ()) -> None:
        self.world = world
        self.exclude = set(exclude)
        self.rng = Random(f"activity:{world.seed}:{world.instance}")
        self.rate = 0.0
        self.next_at: float | None = None
        self.count = 0
        self.recent: deque[Event] = deque(maxlen=200)
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        if rate < 0:
            raise ValueError("the activity rate is events per minute, at least 0")
        self.rate = float(rate)
        self.next_at = self._after(self.world.clock.now().timestamp()) if rate else None

    def _after(self, moment: float) -> float:
        return moment + self.rng.expovariate(self.rate / 60.0)

    def catch_up(self) -> list[Event]:
        """Play every event due by the simulated clock's now."""
        if not self.rate or self.next_at is None:
            return []
        now = self.world.clock.now().timestamp()
        played: list[Event] = []
        with self.world.lock:
            while self.next_at <= now:
                if len(played) >= MAX_EVENTS_PER_CATCH_UP:
                    self.next_at = self._after(now)
                    break
                # The event happens when it fell due, not now: a jump of the clock plays
                # the skipped minutes as they would have unfolded.
                with self.world.acting_at(int(self.next_at)):
                    event = self._one()
                if event is not None:
                    played.append(event)
                    self.recent.append(event)
                    self.count += 1
                self.next_at = self._after(self.next_at)
        return played

    def as_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "events": self.count,
                "recent": [e.as_json() for e in list(self.recent)[-50:]]}  # fmt: skip

    # ------------------------------------------------------------------ events
    def _staff(self, *, supervisor: bool = False) -> User:
        world = self.world
        pool = [
            world.users[i]
            for i in world.agent_ids
            if i not in self.exclude and (not supervisor or world.users[i].role == "admin")
        ] or [world.users[i] for i in world.agent_ids if i not in self.exclude]
        return pool[int(self.rng.random() * len(pool))]

    def _open_ticket(self, statuses: tuple[str, ...] = OPEN_ISH) -> Ticket | None:
        world = self.world
        index = world.export_index
        if not index:
            return None
        # Mostly the recently active ones, as in a real inbox; sampled, never scanned.
        for _ in range(40):
            pos = len(index) - 1 - int(len(index) * self.rng.random() ** 3)
            t = world.tickets[index[max(0, pos)][1]]
            if t.status in statuses:
                return t
        return None

    def _one(self) -> Event | None:
        x = self.rng.random()
        for kind, weight in _KINDS:
            if x < weight:
                break
            x -= weight
        return getattr(self, f"_{kind}")()

    def _new_conversation(self) -> Event | None:
        world, r = self.world, self.rng.random
        if not world.ticket_ids:
            return None
        if r() < 0.25:  # somebody from the shared population, maybe new to this helpdesk
            person = world.people[int(r() * len(world.people))]
            customer = world.add_end_user(person.email, person.name, person.phone)
        else:  # a customer with history here: their panel shows it
            some = world.tickets[world.ticket_ids[int(r() * len(world.ticket_ids))]]
            customer = world.users[some.requester_id]
        channel = CHANNELS[int(r() * len(CHANNELS))]
        if channel in ("sms", "voice") and not customer.phone:
            channel = "email"
        if channel == "email" and not customer.email:
            channel = "sms"
        t = world.create_ticket(customer, subject="", channel=channel)
        t.topic = int(r() * len(text.TOPICS[t.lang]))
        t.tags = list(text.TOPICS[t.lang][t.topic].tags)
        t.priority = ("low", "normal", "normal", "high", "urgent")[int(r() * 5)]
        group_ids = sorted(world.groups)
        t.group_id = group_ids[text.TOPICS[t.lang][t.topic].group % len(group_ids)]
        if channel in ("email", "web"):
            t.subject = world.line(t, "subject", self.rng)
        kind = "short" if channel in ("sms", "social", "chat", "voice") else "opening"
        comment = world.add_comment(t, customer.id, world.line(t, kind, self.rng),
                                    channel=t.via)  # fmt: skip
        world.record_write(t, customer.id, "activity", {"created": True},
                           comment_id=comment.id)  # fmt: skip
        return Event(world.timestamp(), "new_conversation", t.id, customer.id,
                     f"{customer.name} wrote in by {channel}")  # fmt: skip

    def _customer_followup(self) -> Event | None:
        world = self.world
        t = self._open_ticket(("open", "pending", "hold"))
        if t is None:
            return None
        comment = world.add_comment(t, t.requester_id, world.line(t, "followup", self.rng),
                                    channel=t.via)  # fmt: skip
        changes: dict[str, object] = {"comment": {"public": True}}
        if t.status == "pending":  # a customer's answer puts the ball back with the agents
            t.status = "open"
            changes["status"] = "open"
        world.record_write(t, t.requester_id, "activity", changes, comment_id=comment.id)
        return Event(world.timestamp(), "customer_followup", t.id, t.requester_id,
                     "the customer wrote again")  # fmt: skip

    def _agent_reply(self) -> Event | None:
        world = self.world
        t = self._open_ticket(("new", "open"))
        if t is None or t.assignee_id in self.exclude:
            return None
        agent = world.users[t.assignee_id] if t.assignee_id else self._staff()
        if t.assignee_id is None:
            t.assignee_id = agent.id
        comment = world.add_comment(t, agent.id, world.line(t, "reply", self.rng, agent.id))
        t.status = "pending"
        world.record_write(t, agent.id, "activity", {"status": "pending",
                           "comment": {"public": True}}, comment_id=comment.id)  # fmt: skip
        return Event(world.timestamp(), "agent_reply", t.id, agent.id,
                     f"{agent.name} replied")  # fmt: skip

    def _agent_status(self) -> Event | None:
        world = self.world
        t = self._open_ticket(("open", "pending"))
        if t is None or t.assignee_id in self.exclude or t.assignee_id is None:
            return None
        agent = world.users[t.assignee_id]
        status = "solved" if t.status == "pending" or self.rng.random() < 0.6 else "hold"
        t.status = status
        world.touch(t)
        world.record_write(t, agent.id, "activity", {"status": status})
        return Event(world.timestamp(), "agent_status", t.id, agent.id,
                     f"{agent.name} set it {status}")  # fmt: skip

    def _agent_note(self) -> Event | None:
        world = self.world
        t = self._open_ticket()
        if t is None:
            return None
        agent = self._staff()
        comment = world.add_comment(t, agent.id, world.line(t, "note", self.rng, agent.id),
                                    public=False)  # fmt: skip
        world.record_write(t, agent.id, "activity", {"comment": {"public": False}},
                           comment_id=comment.id)  # fmt: skip
        return Event(world.timestamp(), "agent_note", t.id, agent.id,
                     f"{agent.name} left a note")  # fmt: skip

    def _supervisor_reassign(self) -> Event | None:
        world = self.world
        t = self._open_ticket(("new", "open", "pending"))
        if t is None:
            return None
        supervisor = self._staff(supervisor=True)
        members = [m.user_id for m in world.memberships
                   if m.group_id == t.group_id and m.user_id != t.assignee_id]  # fmt: skip
        if not members:
            return None
        # The supervisor may hand work to anyone, the signed-in agent included: that is how
        # an agent's offline edit meets a reassignment (a conflict the app must show).
        target = members[int(self.rng.random() * len(members))]
        t.assignee_id = target
        if t.status == "new":
            t.status = "open"
        world.touch(t)
        world.record_write(t, supervisor.id, "activity", {"assignee": target})
        return Event(world.timestamp(), "supervisor_reassign", t.id, supervisor.id,
                     f"{supervisor.name} reassigned it to {world.users[target].name}")  # fmt: skip
