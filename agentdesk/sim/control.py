"""The simulator's control API under `/_sim/`: dialect-neutral, loopback only, no vendor auth.

Every route speaks JSON and works on the shared `World` (world ids: Zendesk-style ticket and
user ids; a Chatwoot conversation's display id and a Freshdesk ticket id are the same number).

    GET  /_sim/clock                      {"now", "timestamp", "frozen"}
    POST /_sim/clock   {"freeze"?: bool, "advance_seconds"?: n, "set"?: ISO 8601}
    GET  /_sim/state   ?ids=1,2&messages=0  the oracle: conversations (status, priority, assignee,
                       group, tags, messages with the marker each write carried, writes), agents
    POST /_sim/inbound {"channel", "customer_email", "customer_name"?, "subject", "text",
                        "conversation_id"?, "customer_phone"?}
                       → 201 {"conversation_id", "message_id", "customer_id", "created"}
    POST /_sim/act     {"as"?: agent email|id (default: a supervisor), "conversation_id",
                        "assign"?: agent email|id|null, "group"?: id|name, "status"?,
                        "priority"?, "tags"?: [...], "add_tags"?, "remove_tags"?,
                        "reply"?: text, "note"?: text, "marker"?}
                       → 200 {"conversation": <state row>}
    GET/POST /_sim/faults     {"spec": "429=0.1,drop=0.02,..."} → {"spec", "rates", ...}
    GET/POST /_sim/ratelimit  {"per_minute": N | null}
    GET/POST /_sim/activity   {"rate": events per simulated minute}
    GET/POST /_sim/tokens     {"expire_now"?: true, "expire_every_requests"?: N | null,
                               "lifetime_seconds"?: N}  OAuth dialects' access tokens (sim.oauth)
    GET/POST /_sim/cable      Chatwoot's websocket: {"drop"?: true, "typing"?: {...},
                               "storm"?: {"messages": N, "conversations"?: K, "tag"?: text}}
                       storm: N customer messages at once over K open conversations (the
                       signed-in agent's first), each a `message.created` on every socket
                       → {"connections", "dropped", "stormed", "conversation_ids"}
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from agentdesk.sim.activity import Activity
from agentdesk.sim.cable import CableHub
from agentdesk.sim.faults import Faults, FaultSpec, FaultSpecError, RateLimiter
from agentdesk.sim.jsonbody import JSONResponse
from agentdesk.sim.oauth import AccessTokens
from agentdesk.sim.world import CHANNELS, Ticket, User, World

JsonDict = dict[str, Any]
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(slots=True)
class SimRuntime:
    """Everything one running simulator holds besides its dialect."""

    world: World
    dialect: str
    user: User  # the signed-in agent (the credentials printed at start)
    faults: Faults
    limiter: RateLimiter
    activity: Activity
    tokens: AccessTokens  # OAuth access tokens (Help Scout); unused by static-token dialects
    cable: CableHub | None = None
    """Chatwoot's websocket hub (None for the other dialects)."""


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host in ("::1", "localhost", "testclient") or host.startswith("127.")


async def _json(request: Request) -> JsonDict:
    if request.method != "POST":
        return {}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ControlError(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def create_control_app(rt: SimRuntime) -> ASGIApp:
    world = rt.world

    def route(path: str, handler: Callable[[Request, JsonDict], Awaitable[JsonDict | Response]],
              methods: tuple[str, ...] = ("GET", "POST")) -> Route:  # fmt: skip
        async def endpoint(request: Request) -> Response:
            if not _loopback(request):
                return JSONResponse({"error": "the simulator control API is loopback only"}, 403)
            try:
                body = await _json(request)
                with world.lock:
                    rt.activity.catch_up()
                    result = await handler(request, body)
            except ControlError as problem:
                return JSONResponse({"error": problem.message}, problem.status)
            except (FaultSpecError, ValueError, TypeError) as problem:
                return JSONResponse({"error": str(problem)}, 400)
            return result if isinstance(result, Response) else JSONResponse(result)

        return Route(path, endpoint, methods=list(methods))

    # ---------------------------------------------------------------- clock
    def clock_json() -> JsonDict:
        now = world.clock.now()
        return {"now": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "timestamp": now.timestamp(),
                "frozen": world.clock.frozen}  # fmt: skip

    async def clock(request: Request, body: JsonDict) -> JsonDict:
        c = world.clock
        if "set" in body:
            moment = datetime.fromisoformat(str(body["set"]))
            c.set(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        if "freeze" in body:
            c.freeze(bool(body["freeze"]))
        if "advance_seconds" in body:
            c.advance(float(body["advance_seconds"]))
        if body:
            rt.activity.catch_up()  # what was due in the skipped time has now happened
        return clock_json()

    # ---------------------------------------------------------------- state
    def row(t: Ticket, with_messages: bool) -> JsonDict:
        out: JsonDict = {
            "id": t.id, "subject": t.subject, "status": t.status, "priority": t.priority,
            "channel": t.channel, "via": t.via, "requester_id": t.requester_id,
            "assignee_id": t.assignee_id, "group_id": t.group_id, "tags": list(t.tags),
            "created_at": iso(t.created_at), "updated_at": iso(t.updated_at),
            "message_count": world.comment_count(t), "writes": world.writes.get(t.id, []),
        }  # fmt: skip
        if with_messages:
            out["messages"] = [
                {
                    "id": c.id,
                    "author_id": c.author_id,
                    "public": c.public,
                    "body": c.body,
                    "created_at": iso(c.created_at),
                    "channel": c.channel,
                    "marker": c.marker,
                    "metadata": dict(c.custom or {}),
                }
                for c in world.comments(t)
            ]
        return out

    async def state(request: Request, body: JsonDict) -> JsonDict:
        q = request.query_params
        with_messages = q.get("messages", "1").lower() not in ("0", "false", "no")
        raw = q.get("ids")
        if raw:
            wanted = [int(x) for x in raw.split(",") if x.strip().isdigit()]
            tickets = [world.tickets[i] for i in wanted if i in world.tickets]
        else:
            tickets = list(world.tickets.values())
        agents = [{"id": u.id, "name": u.name, "email": u.email, "role": u.role}
                  for u in (world.users[i] for i in world.agent_ids)]  # fmt: skip
        return {
            "dialect": rt.dialect, "seed": world.seed, "scale": world.scale,
            "instance": world.instance, "now": clock_json()["now"], "user_id": rt.user.id,
            "agents": agents, "conversations": [row(t, with_messages) for t in tickets],
            "faults": rt.faults.as_json(), "rate_limit": rt.limiter.as_json(),
        }  # fmt: skip

    # ---------------------------------------------------------------- inbound
    async def inbound(request: Request, body: JsonDict) -> Response:
        channel = str(body.get("channel") or "email")
        if channel not in CHANNELS:
            raise ControlError(422, f"channel must be one of {', '.join(CHANNELS)}")
        email = body.get("customer_email")
        if not isinstance(email, str) or "@" not in email:
            raise ControlError(422, "customer_email is required")
        message = body.get("text")
        if not isinstance(message, str) or not message.strip():
            raise ControlError(422, "text is required")
        customer = world.add_end_user(email, body.get("customer_name"), body.get("customer_phone"))
        cid = body.get("conversation_id")
        created = cid is None
        t: Ticket | None = None
        if cid is not None:
            t = world.tickets.get(int(cid))
            if t is None:
                raise ControlError(404, f"no conversation {cid}")
            if t.status == "closed":  # a closed ticket cannot reopen: Zendesk makes a follow-up
                created = True
                t = None
        if t is None:
            t = world.create_ticket(customer, subject=str(body.get("subject") or ""),
                                    channel=channel)  # fmt: skip
        changes: JsonDict = {"comment": {"public": True}}
        if created:
            changes["created"] = True
        elif t.status in ("pending", "hold", "solved"):
            t.status = "open"  # the customer's message puts it back in the queue
            changes["status"] = "open"
        comment = world.add_comment(t, customer.id, message, channel=t.via,
                                    marker=body.get("marker"))  # fmt: skip
        world.record_write(t, customer.id, "control", changes, marker=body.get("marker"),
                           comment_id=comment.id)  # fmt: skip
        return JSONResponse(
            {"conversation_id": t.id, "message_id": comment.id, "customer_id": customer.id,
             "created": created},
            201,
        )  # fmt: skip

    # ---------------------------------------------------------------- act
    def agent(ref: object) -> User:
        uid = None
        if isinstance(ref, int):
            uid = ref
        elif isinstance(ref, str):
            uid = int(ref) if ref.isdigit() else world.users_by_email.get(ref.strip().lower())
        found = world.users.get(uid) if uid is not None else None
        if found is None or found.id not in world.agent_ids:
            raise ControlError(422, f"{ref!r} is not an agent of this helpdesk")
        return found

    async def act(request: Request, body: JsonDict) -> JsonDict:
        t = world.tickets.get(int(body.get("conversation_id") or 0))
        if t is None:
            raise ControlError(404, f"no conversation {body.get('conversation_id')!r}")
        if "as" in body:
            actor = agent(body["as"])
        else:  # a supervisor other than the signed-in agent
            admins = [world.users[i] for i in world.agent_ids
                      if world.users[i].role == "admin" and i != rt.user.id]  # fmt: skip
            actor = admins[0] if admins else world.users[world.agent_ids[0]]
        changes: JsonDict = {}
        if "status" in body:
            if body["status"] not in STATUSES:
                raise ControlError(422, f"status must be one of {', '.join(STATUSES)}")
            changes["status"] = body["status"]
        if "priority" in body:
            if body["priority"] is not None and body["priority"] not in PRIORITIES:
                raise ControlError(422, f"priority must be one of {', '.join(PRIORITIES)}")
            changes["priority"] = body["priority"]
        if "assign" in body:
            changes["assignee_id"] = None if body["assign"] is None else agent(body["assign"]).id
        if "group" in body:
            ref = body["group"]
            gid = next((g.id for g in world.groups.values() if g.id == ref or g.name == ref
                        or str(g.id) == str(ref)), None)  # fmt: skip
            if gid is None:
                raise ControlError(422, f"no group {ref!r}")
            changes["group_id"] = gid
        tags = list(t.tags)
        if "tags" in body:
            tags = [str(x) for x in body["tags"]]
        tags += [str(x) for x in body.get("add_tags", []) if str(x) not in tags]
        removed = {str(x) for x in body.get("remove_tags", [])}
        tags = [x for x in tags if x not in removed]
        if tags != t.tags:
            changes["tags"] = tags
        for name, value in changes.items():
            setattr(t, name, value)
        marker = body.get("marker")
        comment_id = None
        for kind in ("reply", "note"):
            if isinstance(body.get(kind), str) and body[kind].strip():
                c = world.add_comment(t, actor.id, body[kind], public=kind == "reply",
                                      marker=marker)  # fmt: skip
                changes["comment"] = {"public": kind == "reply"}
                comment_id = c.id
        if not changes:
            raise ControlError(422, "nothing to do: give assign, status, priority, tags, ...")
        if comment_id is None:
            world.touch(t)
        world.record_write(t, actor.id, "control", changes, marker=marker,
                           comment_id=comment_id)  # fmt: skip
        return {"conversation": row(t, with_messages=False)}

    # ---------------------------------------------------------------- knobs
    async def faults(request: Request, body: JsonDict) -> JsonDict:
        if "spec" in body:
            rt.faults.configure(FaultSpec.parse(str(body["spec"] or "")))
        return rt.faults.as_json()

    async def ratelimit(request: Request, body: JsonDict) -> JsonDict:
        if "per_minute" in body:
            value = body["per_minute"]
            rt.limiter.configure(None if value is None else int(value))
        return rt.limiter.as_json()

    async def activity(request: Request, body: JsonDict) -> JsonDict:
        if "rate" in body:
            rt.activity.set_rate(float(body["rate"] or 0))
        return rt.activity.as_json()

    async def cable(request: Request, body: JsonDict) -> JsonDict:
        """Chatwoot's websocket: `{"drop": true}` closes every socket; `{"typing":
        {"conversation_id": N, "as": AGENT, "on": true}}` sends a colleague's typing;
        `{"storm": {"messages": N}}` writes N customer messages at once."""
        hub = rt.cable
        if hub is None:
            raise ControlError(404, f"the {rt.dialect} dialect has no websocket")
        dropped = hub.drop_all() if body.get("drop") else 0
        stormed: list[int] = []
        storm = body.get("storm")
        if isinstance(storm, dict):
            stormed = storm_messages(
                int(storm.get("messages", 1000)), int(storm.get("conversations", 50)),
                str(storm.get("tag") or "storm"),
            )  # fmt: skip
        typing = body.get("typing")
        if isinstance(typing, dict):
            t = world.tickets.get(int(typing.get("conversation_id") or 0))
            if t is None:
                raise ControlError(404, f"no conversation {typing.get('conversation_id')!r}")
            hub.typing(
                t, agent(typing.get("as", world.agent_ids[-1])), bool(typing.get("on", True))
            )
        return {"connections": hub.connections, "dropped": dropped,
                "stormed": len(stormed), "conversation_ids": sorted(set(stormed))}  # fmt: skip

    def storm_messages(count: int, spread: int, tag: str) -> list[int]:
        """`count` customer messages over `spread` open conversations, the signed-in
        agent's first (so the app has replies to tell): the ids they went to, in order."""
        open_ones = [t for t in world.tickets.values() if t.status in ("new", "open")]
        open_ones.sort(key=lambda t: (t.assignee_id != rt.user.id, t.id))
        targets = open_ones[: max(1, spread)]
        if not targets:
            raise ControlError(422, "no open conversation to storm")
        went: list[int] = []
        for n in range(max(0, count)):
            t = targets[n % len(targets)]
            comment = world.add_comment(t, t.requester_id, f"{tag} {n}", channel=t.via)
            world.record_write(t, t.requester_id, "control", {"comment": {"public": True}},
                               comment_id=comment.id)  # fmt: skip
            went.append(t.id)
        return went

    async def tokens(request: Request, body: JsonDict) -> JsonDict:
        rt.tokens.configure(body)
        return rt.tokens.as_json()

    routes = [
        route("/_sim/cable", cable),
        route("/_sim/clock", clock),
        route("/_sim/state", state, ("GET",)),
        route("/_sim/inbound", inbound, ("POST",)),
        route("/_sim/act", act, ("POST",)),
        route("/_sim/faults", faults),
        route("/_sim/ratelimit", ratelimit),
        route("/_sim/activity", activity),
        route("/_sim/tokens", tokens),
    ]

    async def unknown(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"no control route {request.url.path}"}, 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "method not allowed"}, 405)

    return Starlette(routes=routes, exception_handlers={404: unknown, 405: not_allowed})
