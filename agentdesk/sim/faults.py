"""Fault injection and rate limits, shared by every dialect (an ASGI middleware).

Fault spec syntax (`--faults`, `POST /_sim/faults {"spec": ...}`), comma separated:

    429=0.1,500=0.05,drop=0.02,timeout=0.01,lost=0.02,latency=50ms

* `429`     answer "too many requests" the vendor's way (with `Retry-After` where it has one);
* `500`     answer a server error;
* `drop`    close the connection without any response (the request is NOT applied);
* `timeout` hold the request, unanswered and unapplied, until the client gives up;
* `lost`    APPLY the request, then close the connection before the response: the worst case
            for a client, which must not repeat a write it cannot see succeed;
* `latency` added to every request (`50ms`, `0.2s` or a number of milliseconds).

The probabilities are drawn per vendor request, in order, from an RNG seeded by the world's seed
(and `seed=` in the spec), so a test that sends the same requests sees the same faults.
`/_sim/...` control requests are never faulted.

Rate limits count vendor requests per minute of the SIMULATED clock (one budget per instance)
and answer in the dialect's style: Zendesk 429 + `Retry-After` + `X-Rate-Limit` /
`X-Rate-Limit-Remaining` on every response; Freshdesk 429 + `Retry-After` +
`X-RateLimit-Total` / `-Remaining` / `-Used-CurrentRequest`; Chatwoot and Zammad (Rack::Attack)
a bare 429 text; Intercom 429 `rate_limit_exceeded` + `X-RateLimit-Limit` / `-Remaining` /
`-Reset` (a Unix time), no Retry-After, over 10-second windows; Help Scout 429 +
`X-RateLimit-Retry-After` + `X-RateLimit-Limit-Minute` / `-Remaining-Minute`, its writes
counting as two requests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdesk.sim.clock import SimClock

FAULT_KINDS = ("429", "500", "drop", "timeout", "lost")
TIMEOUT_HOLD = 120.0  # real seconds a `timeout` fault holds a request at most
_LATENCY = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s)?$")


class FaultSpecError(ValueError):
    pass


@dataclass(slots=True)
class FaultSpec:
    rates: dict[str, float] = field(default_factory=dict)  # kind -> probability
    latency_ms: float = 0.0
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        out = cls()
        for part in (spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            key, value = key.strip().lower(), value.strip().lower()
            if not sep:
                raise FaultSpecError(f"fault {part!r}: expected KIND=VALUE")
            if key == "latency":
                match = _LATENCY.match(value)
                if not match:
                    raise FaultSpecError(f"latency {value!r}: expected e.g. 50ms or 0.2s")
                amount = float(match.group(1))
                out.latency_ms = amount * 1000 if match.group(2) == "s" else amount
            elif key == "seed":
                try:
                    out.seed = int(value)
                except ValueError:
                    raise FaultSpecError(f"seed {value!r}: expected an integer") from None
            elif key in FAULT_KINDS:
                try:
                    rate = float(value)
                except ValueError:
                    raise FaultSpecError(f"{key}={value!r}: expected a probability") from None
                if not 0 <= rate <= 1:
                    raise FaultSpecError(f"{key}={value}: a probability is between 0 and 1")
                out.rates[key] = rate
            else:
                raise FaultSpecError(
                    f"unknown fault {key!r}: choose from {', '.join(FAULT_KINDS)}, latency, seed"
                )
        if sum(out.rates.values()) > 1:
            raise FaultSpecError("the fault probabilities add up to more than 1")
        return out

    def render(self) -> str:
        parts = [f"{k}={self.rates[k]:g}" for k in FAULT_KINDS if self.rates.get(k)]
        if self.latency_ms:
            parts.append(f"latency={self.latency_ms:g}ms")
        return ",".join(parts)


class Faults:
    """The faults in force and a seeded RNG that decides, request by request, which one hits."""

    def __init__(self, spec: FaultSpec | None = None, *, seed: int = 0) -> None:
        self.base_seed = seed
        self.counts: Counter[str] = Counter()
        self.configure(spec or FaultSpec())

    def configure(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.rng = Random(f"faults:{self.base_seed}:{spec.seed or 0}")

    def draw(self) -> str | None:
        if not self.spec.rates:
            return None
        x = self.rng.random()
        for kind in FAULT_KINDS:
            rate = self.spec.rates.get(kind, 0.0)
            if x < rate:
                self.counts[kind] += 1
                return kind
            x -= rate
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.render(),
            "rates": dict(self.spec.rates),
            "latency_ms": self.spec.latency_ms,
            "seed": self.spec.seed,
            "injected": dict(self.counts),
        }


class RateLimiter:
    """A per-minute request budget on the simulated clock (`None`: unlimited), spent in
    windows of `window` seconds (Intercom spreads its minute over 10-second windows)."""

    def __init__(self, clock: SimClock, per_minute: int | None = None, window: int = 60) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self.window = window
        self._window = -1
        self._used = 0
        self.refused = 0

    def configure(self, per_minute: int | None) -> None:
        if per_minute is not None and per_minute < 1:
            raise ValueError("a rate limit is at least 1 request per minute")
        self.per_minute = per_minute
        self._window, self._used = -1, 0

    def take(self, cost: int = 1) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds until the window resets) for one more request that
        spends `cost` of the budget (Help Scout counts a write as two)."""
        now = self.clock.now().timestamp()
        window = int(now // self.window)
        if window != self._window:
            self._window, self._used = window, 0
        retry = max(1, int((window + 1) * self.window - now + 0.999))
        limit = self.limit
        if self._used + cost > limit:
            self.refused += 1
            return False, 0, retry
        self._used += cost
        return True, limit - self._used, retry

    @property
    def limit(self) -> int:
        """Requests allowed in one window."""
        return max(1, (self.per_minute or 0) * self.window // 60)

    def as_json(self) -> dict[str, Any]:
        return {"per_minute": self.per_minute, "refused": self.refused}


# ------------------------------------------------------------------ vendor styles
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class VendorStyle:
    """How a vendor says "slow down" and "I failed"."""

    name: str
    limit_header: str | None  # budget header names, or None (Chatwoot reports nothing)
    remaining_header: str | None
    used_header: str | None = None
    retry_after: bool = True
    retry_header: str = "retry-after"
    write_cost: int = 1
    """How much of the budget a POST/PUT/PATCH/DELETE spends (Help Scout: 2)."""
    throttled_body: bytes = b'{"error":"TooManyRequests"}'
    reset_header: str | None = None
    """When the window resets, as a Unix time (Intercom's `X-RateLimit-Reset`)."""
    window: int = 60
    throttled_type: bytes = b"application/json; charset=utf-8"
    error_body: bytes = b'{"error":"InternalServerError"}'

    def budget(self, limit: int, remaining: int, reset_at: int | None = None) -> Headers:
        out: Headers = []
        if self.reset_header and reset_at is not None:
            out.append((self.reset_header.encode(), str(reset_at).encode()))
        if self.limit_header:
            out.append((self.limit_header.encode(), str(limit).encode()))
        if self.remaining_header:
            out.append((self.remaining_header.encode(), str(remaining).encode()))
        if self.used_header:
            out.append((self.used_header.encode(), b"1"))
        return out


STYLES = {
    "zendesk": VendorStyle(
        "zendesk", "X-Rate-Limit", "X-Rate-Limit-Remaining",
        throttled_body=json.dumps({
            "error": "APIRateLimitExceeded",
            "description": "Number of allowed API requests per minute exceeded",
        }).encode(),
        error_body=b'{"error":"InternalError","description":"Something went wrong"}',
    ),
    "freshdesk": VendorStyle(
        "freshdesk", "X-RateLimit-Total", "X-RateLimit-Remaining",
        "X-RateLimit-Used-CurrentRequest",
        throttled_body=b'{"message":"You have exceeded the limit of requests per minute"}',
        error_body=b'{"code":"internal_error","message":"We are facing some issues"}',
    ),
    "chatwoot": VendorStyle(
        "chatwoot", None, None, retry_after=False, throttled_body=b"Retry later\n",
        throttled_type=b"text/plain; charset=utf-8",
        error_body=b'{"error":"Internal Server Error"}',
    ),
    "zammad": VendorStyle(
        "zammad", None, None, retry_after=False, throttled_body=b"Retry later\n",
        throttled_type=b"text/plain; charset=utf-8",
        error_body=b'{"error":"Error ID xT3sQ2: Please contact your administrator."}',
    ),
    "intercom": VendorStyle(
        "intercom", "X-RateLimit-Limit", "X-RateLimit-Remaining", retry_after=False,
        reset_header="X-RateLimit-Reset", window=10,
        throttled_body=json.dumps({"type": "error.list", "errors": [
            {"code": "rate_limit_exceeded", "message": "Rate Limit Exceeded"}]}).encode(),
        error_body=json.dumps({"type": "error.list", "errors": [
            {"code": "server_error", "message": "Server Error"}]}).encode(),
    ),
    "front": VendorStyle(
        "front", "x-ratelimit-limit", "x-ratelimit-remaining",
        throttled_body=b'{"_error":{"status":429,"title":"Too many requests",'
        b'"message":"Rate limit exceeded, retry later"}}',
        error_body=b'{"_error":{"status":500,"title":"Internal server error",'
        b'"message":"Something went wrong"}}',
    ),
    "helpscout": VendorStyle(
        "helpscout", "X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute",
        retry_header="X-RateLimit-Retry-After", write_cost=2,
        throttled_body=b'{"logRef":"rate-limit","message":"Rate limit exceeded"}',
        throttled_type=b"application/vnd.error+json",
        error_body=b'{"logRef":"internal","message":"Internal Server Error"}',
    ),
}  # fmt: skip


# ------------------------------------------------------------------ the middleware
def _abort(send: Send) -> bool:
    """Close the client's connection without a response (uvicorn: reach its transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    cycle.disconnected = True  # type: ignore[union-attr]  # no "returned without response"
    return True


async def _respond(send: Send, status: int, body: bytes, ctype: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class VendorGate:
    """Wraps one dialect's app: `/_sim/*` goes to the control app; every other request meets
    the rate limit and the fault injector first."""

    def __init__(
        self,
        app: ASGIApp,
        control: ASGIApp,
        *,
        style: VendorStyle,
        faults: Faults,
        limiter: RateLimiter,
        on_request: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.control = control
        self.style = style
        self.faults = faults
        self.limiter = limiter
        self.on_request = on_request
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/_sim/") or scope["path"] == "/_sim":
            await self.control(scope, receive, send)
            return
        self.requests += 1
        if self.on_request is not None:
            await self.on_request()  # live activity catches up with the simulated clock
        kind = self.faults.draw()
        if self.faults.spec.latency_ms:
            await asyncio.sleep(self.faults.spec.latency_ms / 1000)
        style = self.style
        if kind == "drop" and _abort(send):
            return
        if kind == "timeout":
            await self._hold(receive)
            _abort(send)
            return
        if kind == "500":
            await _respond(send, 500, style.error_body, b"application/json; charset=utf-8", [])
            return
        extra: Headers = []
        if kind == "429":
            await self._throttled(send, retry=1 + int(self.faults.rng.random() * 5))
            return
        if self.limiter.per_minute is not None:
            write = scope["method"] in ("POST", "PUT", "PATCH", "DELETE")
            allowed, remaining, retry = self.limiter.take(style.write_cost if write else 1)
            if not allowed:
                await self._throttled(send, retry=retry)
                return
            reset_at = self.limiter.clock.timestamp() + retry
            extra = style.budget(self.limiter.limit, remaining, reset_at)
        if kind == "lost":
            await self.app(scope, receive, _swallow)
            if not _abort(send):
                raise ConnectionAbortedError("the response was lost on purpose")
            return
        if extra:
            inner_send = send

            async def send(message: Message) -> None:  # add the budget headers
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await inner_send(message)

        await self.app(scope, receive, send)

    async def _throttled(self, send: Send, retry: int) -> None:
        style = self.style
        headers: Headers = []
        if style.retry_after:
            headers.append((style.retry_header.encode(), str(retry).encode()))
        limit = self.limiter.limit if self.limiter.per_minute else 0
        headers.extend(style.budget(limit, 0, self.limiter.clock.timestamp() + retry))
        await _respond(send, 429, style.throttled_body, style.throttled_type, headers)

    @staticmethod
    async def _hold(receive: Receive) -> None:
        """Wait until the client hangs up (or TIMEOUT_HOLD passes)."""

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            await asyncio.wait_for(until_disconnect(), TIMEOUT_HOLD)
        except TimeoutError:
            pass


async def _swallow(message: Message) -> None:
    return None
