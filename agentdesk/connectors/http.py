"""The one HTTP policy every connector uses: timeouts, a bounded pool, retries, rate limits.

Why one policy: a connector should only translate vendor JSON. How long to wait, when to retry,
how to honour `Retry-After` and how to phrase a failure for a person are the same for every
backend, so they live here once:

* timeouts (connect 5 s, read 30 s) and an overall deadline per attempt (a server trickling
  one byte at a time cannot hold a sync), HTTP/1.1, a pool and a semaphore bounding concurrency;
* bodies are streamed and counted after decompression (a gzip bomb stops at the cap), and JSON
  nested too deeply is refused with a sentence;
* retries with exponential backoff and full jitter for connect errors, timeouts, 5xx and 429;
  a 429 honours `Retry-After` (seconds or HTTP date) or the reset headers
  (`X-Rate-Limit-Reset`, `ratelimit-reset`, `X-RateLimit-Reset`), a bare 429 backs off
  exponentially; a wait longer than `max_wait` (or not a number at all: `inf`, a date in
  9999) fails the request at once with the cap in its sentence, and a wait of 0 or less never
  makes retries back-to-back;
* the rate-limit budget is spent proactively: when `X-Rate-Limit-Remaining` /
  `ratelimit-remaining` runs low, requests are spread over the time left until the reset;
* proxies from the environment (HTTPS_PROXY / NO_PROXY) and a per-account CA bundle;
* final failures become the typed errors of `connectors.base`, each one human sentence that
  names the account and what to do, never the token (the token lives only inside httpx's
  auth object; it is never formatted into a message, a log line or a repr).

Rate-limit waits are reported through `on_wait` or, for code that builds connectors through the
registry (the sync engine), through `report_waits_to(...)`, a context-local listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import json
import logging
import math
import random
import re
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

try:  # optional: a faster decoder for large pages; the stdlib is the reference
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_loads = None

from agentdesk import __version__
from agentdesk.connectors.base import (
    AccountSettings,
    AuthError,
    BackendError,
    ConflictError,
    ConnectorError,
    Invalid,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from agentdesk.sanitize import clean

log = logging.getLogger(__name__)

JsonObject = dict[str, object]
"""A decoded JSON object straight from a vendor: read it with `Fields`, never pass it on."""

Params = Mapping[str, str | int | float | bool | None] | list[tuple[str, str]]


# ---------------------------------------------------------------- policy
@dataclass(frozen=True, slots=True)
class HttpPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_connections: int = 8
    max_concurrency: int = 8
    """In-flight requests per account: vendors throttle bursts, and 8 saturates a link."""
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_wait: float = 120.0
    """A server asking for a longer pause than this fails the request as RateLimited instead
    of blocking sync for minutes; the caller reports it and tries again on its next round."""
    low_budget: int = 5
    """Remaining requests at which to start spreading the rest over the reset window."""
    request_deadline: float = 90.0
    """Seconds one attempt may take from connecting to the body's last byte: the read timeout
    restarts with every byte, so without it a server trickling bytes holds a sync forever."""
    max_body_bytes: int = 64 * 1024 * 1024
    """Decoded bytes one answer may have; the largest vendor pages are a few MB."""


DEFAULT_POLICY = HttpPolicy()
INTERACTIVE_POLICY = HttpPolicy(connect_timeout=3.0, read_timeout=3.0, max_attempts=2,
                                backoff_max=0.5, max_wait=5.0, request_deadline=8.0)
"""For a command someone is waiting on (`accounts test`): a server that never answers is
reported within seconds, where sync keeps the default's patience."""


@dataclass(frozen=True, slots=True)
class RateLimitWait:
    """A pause the policy is taking because the server asked for it (or the budget is low)."""

    account: str
    seconds: float
    reason: str
    """"429" (the server said slow down), "budget" (few requests left) or "retry" (5xx/net)."""


WaitListener = Callable[[RateLimitWait], None]
_wait_listener: contextvars.ContextVar[WaitListener | None] = contextvars.ContextVar(
    "agentdesk_http_wait_listener", default=None
)


@contextlib.contextmanager
def report_waits_to(listener: WaitListener) -> Iterator[None]:
    """Send rate-limit waits of requests made in this context (and tasks it starts) to
    `listener`; how the sync engine learns about waits of connectors it did not build."""
    token = _wait_listener.set(listener)
    try:
        yield
    finally:
        _wait_listener.reset(token)


class TokenAuth(httpx.Auth):
    """`Authorization: <scheme> <token>` (RT's `token`, DRF's `Token`); the token lives only
    here and is never printed."""

    def __init__(self, scheme: str, token: str) -> None:
        self._scheme = scheme
        self._token = token

    def auth_flow(self, request: httpx.Request):  # type: ignore[override]
        request.headers["Authorization"] = f"{self._scheme} {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"{self._scheme} auth"


class Unreachable(BackendError):
    """The backend could not be reached (DNS, refused connection, timeout, proxy), or the
    connection broke before its answer arrived."""

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        """The request may have reached the server (the answer was lost): not proof of
        being offline, and a non-idempotent write may have been applied."""


# ---------------------------------------------------------------- header parsing
def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(number) else max(0.0, number)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, moment.timestamp() - current)


def _parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """A reset header: seconds until the window resets, or an epoch timestamp (some vendors)."""
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if math.isnan(number):
        return None
    if number > 1_000_000_000:  # an epoch timestamp, not a delta
        current = time.time() if now is None else now
        return max(0.0, number - current)
    return max(0.0, number)


# Zendesk, the IETF draft (`ratelimit-*`), Intercom (`X-RateLimit-Reset` is a Unix time).
_RESET_HEADERS = ("x-rate-limit-reset", "ratelimit-reset", "x-ratelimit-reset")
_REMAINING_HEADERS = (
    "x-rate-limit-remaining", "ratelimit-remaining", "x-ratelimit-remaining",
    "x-ratelimit-remaining-minute",
)  # fmt: skip


def _first_header(headers: httpx.Headers, *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


def server_wait(headers: httpx.Headers) -> float | None:
    """How long the server asked us to wait: Retry-After first, then the reset headers."""
    # Help Scout names its Retry-After `X-RateLimit-Retry-After`.
    wait = parse_retry_after(_first_header(headers, "retry-after", "x-ratelimit-retry-after"))
    if wait is None:
        wait = _parse_reset(_first_header(headers, *_RESET_HEADERS))
    return wait


def _remaining(headers: httpx.Headers) -> int | None:
    value = _first_header(headers, *_REMAINING_HEADERS)
    if value is None:
        return None
    try:
        return max(0, int(float(value)))  # a negative count means none left
    except (ValueError, OverflowError):
        return None


# ---------------------------------------------------------------- the client
def _ssl_context(settings: AccountSettings) -> ssl.SSLContext | bool:
    if not settings.ca_bundle:
        return True
    try:
        return ssl.create_default_context(cafile=settings.ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectorError(
            f"the CA bundle {settings.ca_bundle} for account {settings.name} cannot be read "
            f"({exc.__class__.__name__}) — fix the ca_bundle path in the config"
        ) from None


_SENT_HERE: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "agentdesk_sent_here", default=None
)


@contextlib.contextmanager
def count_requests() -> Iterator[Callable[[], int]]:
    """Counts the requests sent within the block by this task and the tasks it starts, not
    those of other tasks sharing the client: a fast-lane poll runs beside the complete lane
    on one connector, and only its own requests are its budget's."""
    box = [0]
    token = _SENT_HERE.set(box)
    try:
        yield lambda: box[0]
    finally:
        _SENT_HERE.reset(token)


class ApiClient:
    """An httpx AsyncClient wrapped in agentdesk's policy, for one account of one vendor.

    `vendor` is the label used in messages ("Zendesk"). `auth` carries the credentials; the
    client never reads it back. `transport` is for tests (respx works without it).
    """

    def __init__(
        self,
        settings: AccountSettings,
        *,
        vendor: str,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        policy: HttpPolicy = DEFAULT_POLICY,
        on_wait: WaitListener | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.vendor = vendor
        self.policy = policy
        self.base_url = settings.base_url.rstrip("/")
        self._on_wait = on_wait
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(policy.max_concurrency)
        self._not_before = 0.0  # monotonic time before which no request starts (budget)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            headers={
                "Accept": "application/json",
                # Only what `_read_capped` decodes within the size cap.
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": f"agentdesk/{__version__}",
                **(headers or {}),
            },
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            limits=httpx.Limits(
                max_connections=policy.max_connections,
                max_keepalive_connections=policy.max_connections,
            ),
            http1=True,
            http2=False,
            trust_env=True,  # HTTPS_PROXY / NO_PROXY / SSL_CERT_FILE
            verify=_ssl_context(settings),
            follow_redirects=False,  # a redirect to another host must not carry the token
            transport=transport,
        )

    def __repr__(self) -> str:  # never the auth object
        return f"ApiClient({self.vendor}, account={self.settings.name!r}, url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------ urls
    def same_origin(self, url: str) -> str:
        """A vendor-provided next-page URL, rebased onto the account's URL.

        Credentials only ever go to the configured host, whatever host a body names.
        """
        parts = urlsplit(url)
        if not parts.scheme:
            return urljoin(self.base_url + "/", url.lstrip("/"))
        base = urlsplit(self.base_url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    # ------------------------------------------------------------ requests
    async def get_json(self, url: str, *, params: Params | None = None, action: str) -> JsonObject:
        """GET a JSON object. `action` says what it is for, in words ("list groups")."""
        return await self.request_json("GET", url, params=params, action=action)

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        action: str,
        idempotent: bool | None = None,
    ) -> JsonObject:
        response = await self.request(
            method,
            url,
            params=params,
            json_body=json_body,
            form=form,
            headers=headers,
            action=action,
            idempotent=idempotent,
        )
        return self._decode(response, action)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        action: str,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send with retries; returns a 2xx response or raises a typed ConnectorError.

        `form` sends a form-encoded body instead of JSON (OAuth 2 token endpoints).

        A write is retried after a response-less failure only when it is idempotent (GET,
        PUT, DELETE, or any request with an Idempotency-Key); otherwise the server might
        have applied it, and the sync engine decides (it checks before re-sending).
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS") or any(
                k.lower() == "idempotency-key" for k in (headers or {})
            )
        policy = self.policy
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= policy.max_attempts
            await self._respect_budget()
            if (here := _SENT_HERE.get()) is not None:  # retries count too
                here[0] += 1
            try:
                async with self._semaphore:
                    response = await self._exchange(method, url, params, json_body, form, headers)
            except TimeoutError:
                # Sent, and the server is answering too slowly to trust a second try.
                raise self._too_slow(action) from None
            except httpx.DecodingError:
                what = "a compressed body that does not decompress"
                raise self._malformed(action, what) from None
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if last or (sent and not idempotent):
                    raise self._unreachable(exc, action, sent=sent) from None
                await self._wait(self._backoff(attempt), "retry")
                continue
            self._note_budget(response.headers)
            status = response.status_code
            if status < 400:
                return response
            if status == 429:
                wait = server_wait(response.headers)
                if wait is None:
                    wait = self._backoff(attempt, floor=1.0)
                elif wait <= 0:  # "now": still one back-off step, never a burst
                    wait = self._backoff(attempt, floor=self._min_backoff(attempt))
                if last or wait > policy.max_wait:
                    raise self._rate_limited(wait, action)
                await self._wait(wait, "429")
                continue
            if status >= 500:
                wait = parse_retry_after(response.headers.get("retry-after"))
                if last or not idempotent or (wait is not None and wait > policy.max_wait):
                    raise self._server_error(status, action, wait)
                floor = self._min_backoff(attempt)
                await self._wait(max(wait or 0.0, self._backoff(attempt, floor=floor)), "retry")
                continue
            raise self._client_error(response, action)

    async def _exchange(
        self,
        method: str,
        url: str,
        params: Params | None,
        json_body: object,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        """One attempt within the deadline, its body read (decoded) up to the size cap."""
        cap = self.policy.max_body_bytes
        async with asyncio.timeout(self.policy.request_deadline):
            request = self._client.build_request(
                method, url, params=params, json=json_body, data=form, headers=headers
            )
            response = await self._client.send(request, stream=True)
            try:
                body = await _read_capped(response, cap)
            except _TooLarge:
                raise self._too_large(method, request.url.path) from None
            finally:
                await response.aclose()
        # A plain, already-read response: the body is decoded, so its encoding headers go.
        return httpx.Response(
            response.status_code,
            headers=[
                (name, value)
                for name, value in response.headers.multi_items()
                if name.lower() not in _BODY_FRAMING
            ],
            content=body,
            request=request,
        )

    # ------------------------------------------------------------ waiting
    def _min_backoff(self, attempt: int) -> float:
        """Half the exponential step: what a retry waits at least, whatever the server says
        (a `Retry-After: 0` must not turn retries into a burst)."""
        return min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1)) / 2

    def _backoff(self, attempt: int, *, floor: float = 0.0) -> float:
        """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1))
        return max(floor, random.uniform(0, ceiling))

    async def _wait(self, seconds: float, reason: str) -> None:
        if seconds <= 0:
            return
        event = RateLimitWait(self.settings.name, seconds, reason)
        for listener in (self._on_wait, _wait_listener.get()):
            if listener is not None:
                try:
                    listener(event)
                except Exception:  # a listener must never break a request
                    log.exception("rate-limit wait listener failed")
        log.info("%s: waiting %.1f s (%s)", self.settings.name, seconds, reason)
        await self._sleep(seconds)

    def _note_budget(self, headers: httpx.Headers) -> None:
        remaining = _remaining(headers)
        if remaining is None or remaining > self.policy.low_budget:
            return
        reset = _parse_reset(_first_header(headers, *_RESET_HEADERS))
        if reset is None:
            reset = 60.0  # Zendesk's and most vendors' window is a minute
        # Spread what is left evenly over the window instead of running into a 429.
        spacing = min(self.policy.max_wait, reset / (remaining + 1))
        self._not_before = max(self._not_before, time.monotonic() + spacing)

    async def _respect_budget(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            await self._wait(delay, "budget")

    # ------------------------------------------------------------ decoding
    def _decode(self, response: httpx.Response, action: str) -> JsonObject:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            data = decode_json(response)
        except JsonTooDeep:
            raise self._malformed(action, "JSON nested too deeply to read") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._malformed(action, "something that is not JSON") from None
        if not isinstance(data, dict):
            raise self._malformed(action, f"a JSON {type(data).__name__} instead of an object")
        return data

    # ------------------------------------------------------------ error sentences
    @property
    def _who(self) -> str:
        return f"{self.settings.user} on account {self.settings.name}"

    @property
    def _host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def _malformed(self, action: str, what: str) -> MalformedResponse:
        return MalformedResponse(
            f'{self.vendor} at {self._host} answered "{action}" with {what} — check that the '
            f"URL of account {self.settings.name} points at a {self.vendor} instance"
        )

    def malformed(self, action: str, problem: str) -> MalformedResponse:
        """For connectors: a body that decoded but is not in the documented shape."""
        return self._malformed(action, f"an unexpected body ({problem})")

    def _unreachable(
        self, exc: httpx.TransportError, action: str, *, sent: bool = False
    ) -> Unreachable:
        reason = {
            httpx.ConnectTimeout: "connection timed out",
            httpx.ReadTimeout: "no answer within the read timeout",
            httpx.WriteTimeout: "write timed out",
            httpx.PoolTimeout: "too many requests in flight",
            httpx.ConnectError: "connection failed",
            httpx.ProxyError: "the proxy refused the connection",
            httpx.RemoteProtocolError: "the connection closed before the answer",
            httpx.ReadError: "the connection broke while reading the answer",
            httpx.WriteError: "the connection broke while sending",
            httpx.UnsupportedProtocol: "the address is not http or https",
        }.get(type(exc), "the connection failed")  # never a class name in an agent's sentence
        return Unreachable(
            f"cannot reach {self.vendor} at {self._host} for account {self.settings.name} to "
            f"{action} ({reason}) — check the network or proxy; agentdesk keeps working "
            "offline and will retry",
            sent=sent,
        )

    def _server_error(self, status: int, action: str, wait: float | None = None) -> BackendError:
        asked = (
            f"; it asked to wait {self._asked(wait)}, more than the {self._cap} agentdesk "
            "waits at most"
            if wait is not None and wait > self.policy.max_wait
            else ""
        )
        return BackendError(
            f"{self.vendor} at {self._host} failed to {action} (HTTP {status}) for account "
            f"{self.settings.name}{asked} — agentdesk will retry; if it persists, check the "
            f"{self.vendor} status page"
        )

    def _rate_limited(self, wait: float, action: str) -> RateLimited:
        over = (
            f", more than the {self._cap} agentdesk waits at most"
            if wait > self.policy.max_wait
            else ""
        )
        return RateLimited(
            f"{self.vendor} is rate-limiting account {self.settings.name} (asked to wait "
            f"{self._asked(wait)}{over}, while trying to {action}) — agentdesk will try "
            "again later; other tools using the same token share this limit",
            retry_after=wait,
        )

    @property
    def _cap(self) -> str:
        return f"{self.policy.max_wait:g} s"

    @staticmethod
    def _asked(wait: float) -> str:
        """A server-given wait in words; absurd ones (inf, a date in 9999) are not numbers."""
        if not math.isfinite(wait) or wait >= 86_400:
            return "more than a day"
        return f"{wait:.0f} s"

    def _too_slow(self, action: str) -> Unreachable:
        return Unreachable(
            f"{self.vendor} at {self._host} did not finish answering \"{action}\" within "
            f"{self.policy.request_deadline:.0f} s for account {self.settings.name} — the "
            "server or the network is too slow; agentdesk will retry later",
            sent=True,
        )

    def _too_large(self, method: str, path: str) -> MalformedResponse:
        megabytes = self.policy.max_body_bytes / (1024 * 1024)
        return MalformedResponse(
            f"{self.vendor} at {self._host} answered {method} {path} with more than "
            f"{megabytes:g} MB for account {self.settings.name}, more than agentdesk reads "
            "in one answer — check that the account URL points at a "
            f"{self.vendor} instance"
        )

    def _client_error(self, response: httpx.Response, action: str) -> ConnectorError:
        status = response.status_code
        detail = _error_detail(response)
        if status == 401:
            return AuthError(
                f"{self.vendor} rejected the token for {self._who} — run `agentdesk accounts "
                f"add {self.settings.name}` again with a new token"
            )
        if status == 403:
            return PermissionDenied(
                f"{self.vendor} does not allow {self._who} to {action} (403) — ask a "
                f"{self.vendor} admin for the permission, or use an admin's token"
            )
        if status == 404:
            return NotFound(
                f"{self.vendor} found nothing to {action} at {response.request.url.path} for "
                f"account {self.settings.name} (404) — it may have been deleted; if this "
                f"keeps happening check the account URL {self.base_url}"
            )
        if status in (409, 412):
            return ConflictError(
                f"{self.vendor} refused to {action}: it changed on the server since it was "
                f"loaded (HTTP {status}) — review the newer version and try again"
            )
        if status in (400, 422):
            suffix = f": {detail}" if detail else ""
            return Invalid(
                f"{self.vendor} refused the request to {action} as invalid (HTTP {status})"
                f"{suffix} — this is likely a bug in agentdesk, please report it"
            )
        return BackendError(
            f"{self.vendor} answered HTTP {status} when asked to {action} for account "
            f"{self.settings.name}" + (f": {detail}" if detail else "")
        )


class _TooLarge(Exception):
    """The body went past the size cap while being read."""


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """The body, decompressed; raises _TooLarge past `cap` bytes, httpx.DecodingError when a
    compressed body does not decompress.

    Decompression is bounded per step (`max_length`): a gzip bomb's 64 KB network chunk would
    otherwise decode to 64 MB at once, before any count could stop it."""
    if response.is_stream_consumed:  # answered from memory (a test transport): already read
        if len(response.content) > cap:
            raise _TooLarge
        return response.content
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        stream = _inflated(response, cap)
    elif encoding in ("", "identity"):
        stream = response.aiter_raw()
    else:  # never asked for (see Accept-Encoding): httpx decodes it, counted per chunk
        stream = response.aiter_bytes()
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _inflated(response: httpx.Response, cap: int) -> AsyncIterator[bytes]:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header, detected
    first = True
    async for raw in response.aiter_raw():
        pending = raw
        while pending:
            try:
                piece = inflater.decompress(pending, cap + 1)
            except zlib.error:
                if not first:
                    raise httpx.DecodingError("the compressed body does not decompress") from None
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no header
                first = False
                continue
            first = False
            yield piece
            pending = inflater.unconsumed_tail


_BODY_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _scrub(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


# Digits mapped to "0", so a run of 19 digits is one `find` (a C scan, ~1 ms per MB).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


class JsonTooDeep(json.JSONDecodeError):
    """JSON nested deeper than the decoder's recursion bound (about a thousand levels): no
    vendor nests like that, and walking it would exhaust the stack."""

    def __init__(self) -> None:
        super().__init__("nested too deeply", "", 0)


def decode_json(response: httpx.Response) -> object:
    """The body as JSON, every connector's one way to read it.

    JSON may escape half a surrogate pair (`"\\ud800"`); Python accepts it, but no UTF-8
    store or terminal can hold it, so such halves become U+FFFD here, at the edge.
    Raises json.JSONDecodeError (`JsonTooDeep` for absurd nesting) / UnicodeDecodeError on a
    body that is not JSON.
    """
    return _decode_bytes(response.content)


def _decode_bytes(content: bytes) -> object:
    # orjson (when installed) is faster on the large pages of a first pull (bench: sync
    # ingest), but it differs from the stdlib at the edges: it refuses lone surrogates, a
    # BOM, UTF-16, NaN and out-of-range floats, and turns integers beyond 64 bits into
    # floats. Bodies with surrogate escapes or 19+ digit runs therefore take the stdlib
    # path, as does anything orjson refuses, so the result (and every error) is the stdlib's.
    if (
        _orjson_loads is not None
        and not _SURROGATE_ESCAPE.search(content)
        and content.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) < 0
    ):
        try:
            return _orjson_loads(content)
        except ValueError:
            pass  # the stdlib decides: it accepts some of these, and phrases the error
    try:
        data = json.loads(content)
        if _SURROGATE_ESCAPE.search(content):
            data = _scrub(data)
    except RecursionError:
        raise JsonTooDeep from None
    return data


def _error_detail(response: httpx.Response, limit: int = 160) -> str:
    """The vendor's own short error text (`error`, `description`, `message`, the messages
    of an `errors` list), if any."""
    try:
        data = decode_json(response)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    for key in ("error", "description", "message"):
        value = data.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
        elif isinstance(value, dict):
            for sub in ("title", "message"):
                text = value.get(sub)
                if isinstance(text, str) and text:
                    parts.append(text)
    errors = data.get("errors")  # Intercom's and Freshdesk's: [{"code", "message"}, ...]
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict) and isinstance(item.get("message"), str) and item["message"]:
            parts.append(item["message"])
    text = " ".join(clean(" — ".join(parts)).split())  # it ends up in sentences on screen
    return text[:limit]


# ---------------------------------------------------------------- reading vendor JSON
class Fields:
    """Typed reads from one vendor JSON object; a wrong shape is a MalformedResponse.

    Connectors read payloads through this so a surprising body becomes one clear sentence
    instead of a KeyError/TypeError deep in a mapping function.

    The accessors sit on the hot loop of a first pull (a dozen reads per comment, ~1M
    comments): the common case (a str, an int, a missing key) is tested first by exact type,
    and the path named in a failure (`tickets[3].via`) is only formatted when one happens.
    """

    __slots__ = ("_data", "_fail", "_what")

    def __init__(self, data: object, what: str, fail: Callable[[str], MalformedResponse]) -> None:
        if not isinstance(data, dict):
            raise fail(f"{what} is not an object")
        self._data: JsonObject = data
        self._what: str | _Path = what
        self._fail = fail

    def _where(self) -> str:
        what = self._what
        return what if isinstance(what, str) else what.text()

    def _child(self, value: object, key: str, index: int | None = None) -> Fields:
        if not isinstance(value, dict):
            raise self._fail(f"{_Path(self._what, key, index).text()} is not an object")
        child = _new_fields(Fields)
        child._data = value
        child._what = _Path(self._what, key, index)
        child._fail = self._fail
        return child

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def raw(self, key: str) -> object:
        return self._data.get(key)

    def whole(self) -> JsonObject:
        """The object itself, as decoded (for fingerprints of a whole record)."""
        return self._data

    def obj(self, key: str) -> Fields | None:
        value = self._data.get(key)
        if value is None:
            return None
        return self._child(value, key)

    def objects(self, key: str) -> list[Fields]:
        value = self._data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(f"{self._where()}.{key} is not a list")
        child = self._child
        return [child(item, key, i) for i, item in enumerate(value)]

    def text(self, key: str, default: str | None = None) -> str:
        value = self._data.get(key)
        if value.__class__ is str:
            return value  # type: ignore[return-value]
        value = self.opt_text(key)
        if value is None:
            if default is None:
                raise self._fail(f"{self._where()}.{key} is missing")
            return default
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is None:
            return None
        if value.__class__ is str:
            return value  # type: ignore[return-value]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise self._fail(f"{self._where()}.{key} is not text")

    def id(self, key: str = "id") -> str:
        """An identifier (int or string in JSON) as text."""
        value = self._data.get(key)
        if value.__class__ is int:
            return str(value)
        if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
            raise self._fail(f"{self._where()}.{key} is missing or not an id")
        return str(value)

    def opt_id(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is None:
            return None
        if value.__class__ is int:
            return str(value)
        return self.id(key)

    def number(self, key: str, default: int = 0) -> int:
        value = self._data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(f"{self._where()}.{key} is not a number")
        return int(value)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(f"{self._where()}.{key} is not true/false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self._fail(f"{self._where()}.{key} is not a list")
        return tuple(str(v) for v in value if isinstance(v, (str, int)) and not isinstance(v, bool))

    def ids(self, key: str) -> tuple[str, ...]:
        return self.texts(key)

    def scalars(self, key: str) -> dict[str, str | int | float | bool | None]:
        """A flat object of scalar values (custom fields); nested values are skipped."""
        value = self._data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._fail(f"{self._where()}.{key} is not an object")
        return {
            str(k): v
            for k, v in value.items()
            if v is None or isinstance(v, (str, int, float, bool))
        }


_new_fields = object.__new__  # a child's checks are done by `_child`, not `__init__`


class _Path:
    """Where a nested object sits (`parent.key[index]`), formatted only for an error."""

    __slots__ = ("index", "key", "parent")

    def __init__(self, parent: str | _Path, key: str, index: int | None) -> None:
        self.parent = parent
        self.key = key
        self.index = index

    def text(self) -> str:
        parent = self.parent if isinstance(self.parent, str) else self.parent.text()
        if self.index is None:
            return f"{parent}.{self.key}"
        return f"{parent}.{self.key}[{self.index}]"
