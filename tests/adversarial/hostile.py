"""A hostile backend: a loopback HTTP server in front of a real one that misbehaves on purpose.

It forwards every request to the backend behind it, except those a planned misbehaviour
matches: then it answers that way instead (one misbehaviour per mode, see `MODES`). Connectors
reach it unchanged through `FaultTransport.route_through` (tests/connectors/backends.py), so
every vendor's behaviour suite can run against it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Escape sequences, C1 controls and bidi overrides, as a hostile backend puts them in text.
HOSTILE_TEXT = (
    "\x1b]52;c;cHduZWQ=\x07\x1b]2;PWNTITLE\x07\x1b[2J\x9b31m\u202eevil\u202c\u2066x\u2069"
)
TEXT_KEYS = frozenset({
    "subject", "description", "description_text", "body", "html_body", "plain_body",
    "content", "name", "title", "message", "error", "details", "Subject", "Content",
    "RealName", "Name", "Description",
})  # fmt: skip

MODES = {
    "huge": "a 200 whose JSON body is larger than the client's cap",
    "gzip_bomb": "a 200 of ~256 KB gzip that decodes to 256 MiB",
    "deep_json": "a 200 of JSON nested 100,000 levels deep",
    "trickle": "headers, then one byte every 50 ms, for ever",
    "silent": "accepts the request and never answers",
    "retry_after": "429 with the planned Retry-After value (1e11, inf, a date in 9999, 0, -5)",
    "unavailable": "503 with the planned Retry-After value",
    "remaining": "forwards, adding X-Rate-Limit-Remaining / ratelimit-remaining: the value",
    "client_error": "422 whose error text is HOSTILE_TEXT",
    "escapes": "forwards, appending HOSTILE_TEXT to every text field of the JSON answer",
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
    "proxy-connection", "upgrade", "te", "trailer",
})  # fmt: skip


@dataclass
class Plan:
    mode: str
    value: str = ""
    times: int = 1
    writes_only: bool = False
    reads_only: bool = False

    def matches(self, method: str) -> bool:
        if self.writes_only and method not in WRITE_METHODS:
            return False
        return not (self.reads_only and method in WRITE_METHODS)


@cache
def gzip_bomb(decoded_mib: int = 256) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    block = b"0" * (1024 * 1024)
    parts = [packer.compress(block) for _ in range(decoded_mib)]
    return b"".join([*parts, packer.flush()])


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def with_hostile_text(node: object) -> object:
    if isinstance(node, dict):
        return {
            k: (v + HOSTILE_TEXT if k in TEXT_KEYS and isinstance(v, str) else with_hostile_text(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [with_hostile_text(v) for v in node]
    return node


class HostileBackend:
    """`plan(mode, ...)` misbehaves on the next matching requests; the rest is forwarded."""

    def __init__(self, target: str, *, huge_bytes: int = 3 * 1024 * 1024) -> None:
        self.target = urlsplit(target)
        self.huge_bytes = huge_bytes
        self.stopping = threading.Event()
        self.injected: dict[str, int] = {}
        self._plans: list[Plan] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def plan(self, mode: str, value: str = "", **options: object) -> None:
        assert mode in MODES, mode
        with self._lock:
            self._plans.append(Plan(mode, value, **options))  # type: ignore[arg-type]

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()

    def take(self, method: str) -> Plan | None:
        with self._lock:
            for plan in self._plans:
                if plan.matches(method):
                    plan.times -= 1
                    if plan.times <= 0:
                        self._plans.remove(plan)
                    self.injected[plan.mode] = self.injected.get(plan.mode, 0) + 1
                    return plan
        return None

    def start(self) -> HostileBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ forwarding
    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        target = self.target
        if target.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                target.netloc, timeout=60, context=ssl._create_unverified_context()
            )
        else:
            connection = http.client.HTTPConnection(target.netloc, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            sent["Accept-Encoding"] = "identity"
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, data
        finally:
            connection.close()


def _handler_for(backend: HostileBackend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            plan = backend.take(self.command)
            if plan is None or plan.mode in ("remaining", "escapes"):
                status, headers, data = backend.forward(
                    self.command, self.path, dict(self.headers.items()), body
                )
                if plan is not None and plan.mode == "remaining":
                    headers += [("X-Rate-Limit-Remaining", plan.value),
                                ("ratelimit-remaining", plan.value)]  # fmt: skip
                if plan is not None and plan.mode == "escapes" and data[:1] in (b"{", b"["):
                    data = json.dumps(with_hostile_text(json.loads(data))).encode()
                self._answer(status, headers, data)
                return
            getattr(self, f"_{plan.mode}")(plan)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def _json_type(self) -> list[tuple[str, str]]:
            return [("Content-Type", "application/json")]

        def _huge(self, plan: Plan) -> None:
            filler = b"x" * (backend.huge_bytes + 1)
            self._answer(200, self._json_type(), b'{"filler": "' + filler + b'"}')

        def _gzip_bomb(self, plan: Plan) -> None:
            self._answer(200, [*self._json_type(), ("Content-Encoding", "gzip")], gzip_bomb())

        def _deep_json(self, plan: Plan) -> None:
            self._answer(200, self._json_type(), deep_json())

        def _trickle(self, plan: Plan) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                self.wfile.write(b"{")
                while not backend.stopping.wait(0.05):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def _silent(self, plan: Plan) -> None:
            backend.stopping.wait(60)
            self.close_connection = True

        def _retry_after(self, plan: Plan) -> None:
            error = json.dumps({"error": "Too Many Requests"}).encode()
            self._answer(429, [*self._json_type(), ("Retry-After", plan.value)], error)

        def _unavailable(self, plan: Plan) -> None:
            error = json.dumps({"error": "Service Unavailable"}).encode()
            self._answer(503, [*self._json_type(), ("Retry-After", plan.value)], error)

        def _client_error(self, plan: Plan) -> None:
            error = json.dumps({"error": HOSTILE_TEXT, "description": HOSTILE_TEXT}).encode()
            self._answer(422, self._json_type(), error)

    return Handler


@contextmanager
def hostile_in_front_of(target: str, **options: object) -> Iterator[HostileBackend]:
    backend = HostileBackend(target, **options).start()  # type: ignore[arg-type]
    try:
        yield backend
    finally:
        backend.stop()
