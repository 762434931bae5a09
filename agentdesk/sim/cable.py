"""Chatwoot's real-time feed: an ActionCable server at `/cable`, as Chatwoot's dashboard uses it.

The ActionCable JSON protocol (subprotocol `actioncable-v1-json`):
- on connect the server sends `{"type": "welcome"}`, then `{"type": "ping", "message": <unix>}`
  every 3 s;
- the client sends `{"command": "subscribe", "identifier": "<json>"}` where the identifier is
  `{"channel": "RoomChannel", "pubsub_token": ..., "account_id": ..., "user_id": ...}`
  (Chatwoot's RoomChannel streams from the user's `pubsub_token`, from the profile); the
  server answers `confirm_subscription`, or `reject_subscription` for an unknown token;
- events arrive as `{"identifier": ..., "message": {"event": "message.created", "data": ...}}`
  with Chatwoot's payloads (`message.created`, `conversation.created`,
  `conversation.status_changed`, `assignee.changed`, `conversation.updated`,
  `conversation.typing_on` / `_off`); `{"command": "message", "data":
  "{\"action\": \"update_presence\"}"}` from the client is accepted.

World writes come from any thread (the server's loop, tests, the activity ticker): they are
turned into frames under the world's lock and handed to the loop that serves the sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from agentdesk.sim.world import Ticket, User, World

if TYPE_CHECKING:
    from agentdesk.sim.chatwoot import ChatwootDialect

log = logging.getLogger(__name__)

SUBPROTOCOL = "actioncable-v1-json"
PING_SECONDS = 3.0


def pubsub_token(user: User) -> str:
    """The user's `pubsub_token` as the profile shows it."""
    return hashlib.sha256(f"pubsub:{user.id}".encode()).hexdigest()[:24]


@dataclass(eq=False)
class _Socket:
    websocket: WebSocket
    identifiers: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class CableHub:
    """Every open `/cable` socket of one simulated Chatwoot, and the events they receive."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.dialect: ChatwootDialect | None = None
        self._sockets: set[_Socket] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._by_token = {pubsub_token(u): u for u in world.users.values() if u.token}
        # What each ticket looked like when last seen: new comments are message.created,
        # other changes status_changed / assignee.changed / conversation.updated.
        self._seen: dict[int, tuple[int, str, int | None]] = {
            t.id: self._shape(t) for t in world.tickets.values()
        }
        world.observers.append(self.changed)

    @staticmethod
    def _shape(ticket: Ticket) -> tuple[int, str, int | None]:
        return (len(ticket.extra), ticket.status, ticket.assignee_id)

    @property
    def connections(self) -> int:
        return len(self._sockets)

    # ------------------------------------------------------------ world → frames
    def changed(self, ticket: Ticket) -> None:
        """Called by the world after every change to `ticket` (any thread, lock held)."""
        before = self._seen.get(ticket.id)
        now = self._shape(ticket)
        self._seen[ticket.id] = now
        if not self._sockets or self.dialect is None:
            return
        d = self.dialect
        events: list[tuple[str, dict[str, object]]] = []
        if before is None:
            events.append(("conversation.created", d.conversation_json(ticket)))
            before = (0, now[1], now[2])
        for comment in ticket.extra[before[0]:]:
            data = d.message_json(ticket, comment)
            data["conversation"] = {**data["conversation"], "id": ticket.id,  # type: ignore[dict-item]
                                    "last_activity_at": ticket.updated_at}
            events.append(("message.created", data))
        if now[1] != before[1]:
            events.append(("conversation.status_changed", d.conversation_json(ticket)))
        if now[2] != before[2]:
            events.append(("assignee.changed", d.conversation_json(ticket)))
        if not events:
            events.append(("conversation.updated", d.conversation_json(ticket)))
        for event, data in events:
            self.broadcast(event, data)

    def typing(self, ticket: Ticket, agent: User, on: bool) -> None:
        """A colleague starts or stops typing (what the dashboard sends as it types)."""
        if self.dialect is None:
            return
        user = {**self.dialect.agent_json(agent), "type": "user"}
        self.broadcast(
            "conversation.typing_on" if on else "conversation.typing_off",
            {"conversation": self.dialect.conversation_json(ticket), "user": user,
             "is_private": False, "account_id": self.dialect.account_id},
        )  # fmt: skip

    def broadcast(self, event: str, data: dict[str, object]) -> None:
        with self._lock:
            sockets = list(self._sockets)
            loop = self._loop
        if loop is None:
            return
        for socket in sockets:
            for identifier in socket.identifiers:
                frame = json.dumps(
                    {"identifier": identifier, "message": {"event": event, "data": data}},
                    ensure_ascii=False, default=str,
                )  # fmt: skip
                loop.call_soon_threadsafe(socket.queue.put_nowait, frame)

    def drop_all(self) -> int:
        """Close every socket abruptly (a restarted Chatwoot, a proxy timeout)."""
        with self._lock:
            sockets = list(self._sockets)
            loop = self._loop
        if loop is not None:
            for socket in sockets:
                loop.call_soon_threadsafe(socket.queue.put_nowait, None)
        return len(sockets)

    # ------------------------------------------------------------ the endpoint
    async def endpoint(self, websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        socket = _Socket(websocket)
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._sockets.add(socket)
        sender = asyncio.create_task(self._send(socket))
        try:
            await websocket.send_text(json.dumps({"type": "welcome"}))
            while True:
                raw = await websocket.receive_text()
                reply = self._command(socket, raw)
                if reply is not None:
                    socket.queue.put_nowait(reply)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            with self._lock:
                self._sockets.discard(socket)
            sender.cancel()

    def _command(self, socket: _Socket, raw: str) -> str | None:
        try:
            command = json.loads(raw)
            identifier = command["identifier"]
            params = json.loads(identifier)
        except (ValueError, KeyError, TypeError):
            return None  # ActionCable ignores what it cannot parse
        if command.get("command") != "subscribe":
            return None  # update_presence and the like need no answer here
        with self.world.lock:
            user = self._by_token.get(str(params.get("pubsub_token", "")))
            ok = (
                params.get("channel") == "RoomChannel"
                and user is not None
                and self.dialect is not None
                and str(params.get("user_id")) == str(self.dialect.user_cid(user))
                and str(params.get("account_id")) == str(self.dialect.account_id)
            )
        if not ok:
            return json.dumps({"identifier": identifier, "type": "reject_subscription"})
        socket.identifiers.add(identifier)
        return json.dumps({"identifier": identifier, "type": "confirm_subscription"})

    async def _send(self, socket: _Socket) -> None:
        """Queued frames and the pings, until the socket goes or is dropped."""
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(socket.queue.get(), timeout=PING_SECONDS)
                except TimeoutError:
                    stamp = self.world.clock.timestamp()
                    frame = json.dumps({"type": "ping", "message": stamp})
                if frame is None:
                    await socket.websocket.close(code=1011)
                    return
                await socket.websocket.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            return
