"""Expiring OAuth 2 access tokens for dialects whose vendor signs in with client credentials.

A dialect issues a token for an agent (`issue`) and resolves the bearer token of each request
(`user_of`). Tokens expire on the SIMULATED clock after `lifetime` seconds (Help Scout: two
days), and the control API (`/_sim/tokens`) can make them all expire at once, or every N
requests, so a client's refresh can be tested mid-sync without waiting two days. (All at
once, as when the clock passes a real token's expiry, not per token and use.)
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from agentdesk.sim.clock import SimClock

DEFAULT_LIFETIME = 172_800  # Help Scout's client-credentials tokens: `expires_in` of 48 hours


@dataclass(slots=True)
class _Grant:
    user_id: int
    expires_at: float


class AccessTokens:
    def __init__(self, clock: SimClock, lifetime: int = DEFAULT_LIFETIME) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.expire_every_requests: int | None = None
        """Every N-th request, all tokens issued so far expire (None: only the clock)."""
        self._served = 0
        self.issued = 0
        self.expired_rejections = 0
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: int) -> tuple[str, int]:
        """A new access token for the user and its lifetime in seconds."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[token] = _Grant(user_id, self.clock.now().timestamp() + self.lifetime)
            self.issued += 1
        return token, self.lifetime

    def user_of(self, token: str) -> int | None:
        """The user a live token belongs to (counting one use), or None: unknown or expired."""
        with self._lock:
            self._served += 1
            every = self.expire_every_requests
            if every is not None and self._served % every == 0:
                for live in self._grants.values():
                    live.expires_at = 0.0
            grant = self._grants.get(token)
            if grant is None:
                return None
            if self.clock.now().timestamp() >= grant.expires_at:
                self.expired_rejections += 1
                return None
            return grant.user_id

    def expire_all(self) -> None:
        with self._lock:
            for grant in self._grants.values():
                grant.expires_at = 0.0

    def configure(self, body: dict[str, Any]) -> None:
        """The control API's knobs: `expire_now`, `expire_every_requests`, `lifetime_seconds`."""
        if "lifetime_seconds" in body:
            lifetime = int(body["lifetime_seconds"])
            if lifetime < 1:
                raise ValueError("a token lives at least 1 second")
            self.lifetime = lifetime
        if "expire_every_requests" in body:
            value = body["expire_every_requests"]
            if value is not None and int(value) < 1:
                raise ValueError("expire_every_requests is at least 1 (or null: off)")
            self.expire_every_requests = None if value is None else int(value)
            self._served = 0
        if body.get("expire_now"):
            self.expire_all()

    def as_json(self) -> dict[str, Any]:
        return {
            "lifetime_seconds": self.lifetime,
            "expire_every_requests": self.expire_every_requests,
            "issued": self.issued,
            "expired_rejections": self.expired_rejections,
        }
