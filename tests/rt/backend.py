"""A real Request Tracker as a test backend, for the RT tests and the shared behaviour suite.

    async with start_rt_backend(server) as backend:   # server: the `rt` fixture, or None
        connector = backend.connector                 # an RTConnector (root) via a proxy
        backend.settings                              # its AccountSettings
        await backend.set_field_as_other("1", "assignee", "bob")   # a colleague's change
        backend.lose_next_response("/correspond")     # RT applies it, the reply is lost
        backend.break_token()                         # every request now gets RT's 401
        backend.restore_token()
        backend.before_next_request("/ticket/2", hook, method="PUT")  # race a write
        state = await backend.oracle()                # RT's own view: tickets + history
        backend.proxy.log                             # (method, path, status) seen

What it is made of:
* `server`: the RT 5 instance. Pass the session's `rt` fixture (tests/rt/conftest.py) to
  share it; with None a fresh instance is initialised in a temporary directory, started on a
  free loopback port and stopped at the end (about 5 s; RT must be installed —
  `sh scripts/rt-fixture.sh install`).
* `proxy`: a small HTTP/1.1 proxy on 127.0.0.1 (asyncio + h11) in front of RT. The connector
  talks to RT only through it, so a test can drop the response of a chosen request after RT
  applied it (an ambiguous send), run a hook just before a request is forwarded (a
  colleague's change racing our write, giving RT's 412), or swap the token for a wrong one.
* The "other" user is `bob`, a second agent with his own token and ReassignTicket: what he
  does goes straight to RT, never through the proxy.

Field names for `set_field_as_other`: agentdesk's `status` (new/open/pending/on_hold/solved/
closed), `priority` (low/normal/high/urgent), `assignee` (an agent's RT user name or None),
`team` (a queue id or name) — or any RT ticket field name (`Owner`, `Queue`, `Subject`...),
sent as is. Tests that use it should use `rt_clean`, which restores RT's database after.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import h11
import httpx

from agentdesk.connectors.base import AccountSettings
from agentdesk.connectors.http import DEFAULT_POLICY, HttpPolicy
from agentdesk.connectors.rt import (
    NOBODY,
    PRIORITY_TO_RT,
    STATUS_FROM_RT,
    STATUS_TO_RT,
    RTConnector,
    priority_from_rt,
)
from agentdesk.timeutil import utcnow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "rt-fixture.sh"
ACCOUNT = "rt"
OTHER_USER = "bob"

Hook = Callable[[], Awaitable[object]]


# ---------------------------------------------------------------- the server
@dataclass(frozen=True, slots=True)
class RTServer:
    url: str
    token: str
    """root's token."""
    bob_token: str
    directory: Path
    port: int
    env: dict[str, str]

    def script(self, command: str, timeout: float = 120) -> None:
        run_script(command, self.env, timeout)


def run_script(command: str, env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(
        ["sh", str(SCRIPT), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"rt-fixture.sh {command} failed (exit {result.returncode}):\n{tail}")


def rt_installed(env: dict[str, str]) -> bool:
    return subprocess.run(["sh", str(SCRIPT), "check"], env=env, check=False).returncode == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def launch_rt(directory: Path, env: dict[str, str] | None = None) -> Iterator[RTServer]:
    """Initialise a throwaway instance in `directory`, start it, stop it afterwards.

    Raises RuntimeError (with the script's last lines) if it cannot be set up.
    """
    env = dict(os.environ if env is None else env)
    env.update(RT_DIR=str(directory), RT_PORT=str(free_port()))
    try:
        run_script("init", env, timeout=180)
        run_script("start", env, timeout=120)
    except (RuntimeError, subprocess.TimeoutExpired):
        run_script("stop", env, timeout=30)
        raise
    try:
        yield RTServer(
            url=(directory / "url").read_text().strip(),
            token=(directory / "token").read_text().strip(),
            bob_token=(directory / "token-bob").read_text().strip(),
            directory=directory,
            port=int(env["RT_PORT"]),
            env=env,
        )
    finally:
        run_script("stop", env, timeout=30)


# ---------------------------------------------------------------- the proxy
@dataclass(slots=True)
class _Rule:
    fragment: str
    method: str | None
    drop: bool = False
    hook: Hook | None = None
    after: Callable[[], None] | None = None
    """Run once RT has answered, before the answer is relayed (e.g. kill the client)."""

    def matches(self, method: str, target: str) -> bool:
        path = target.split("?", 1)[0]
        return self.fragment in path and (self.method is None or self.method == method)


_HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
    b"host",
    b"accept-encoding",
    b"content-encoding",
}


@dataclass(slots=True)
class LoopbackProxy:
    """HTTP/1.1 forwarder on 127.0.0.1: one request per connection, RT in the back."""

    upstream: str
    log: list[tuple[str, str, int | None]] = field(default_factory=list)
    """(method, path, status RT gave); status None when the response was dropped."""
    token: str | None = None
    """When set, replaces the client's Authorization token (break_token)."""
    _rules: list[_Rule] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _client: httpx.AsyncClient | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=60, trust_env=False)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._client is not None:
            await self._client.aclose()

    def add(self, rule: _Rule) -> None:
        self._rules.append(rule)

    def _take(self, method: str, target: str) -> list[_Rule]:
        """The rules this request consumes (each applies once)."""
        hit = [r for r in self._rules if r.matches(method, target)]
        taken: list[_Rule] = []
        for kind in ("hook", "drop"):
            rule = next((r for r in hit if (r.hook is not None) == (kind == "hook")), None)
            if rule is not None:
                self._rules.remove(rule)
                taken.append(rule)
        return taken

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._one(reader, writer)
        except (ConnectionError, h11.ProtocolError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # closed before a whole request arrived
                return
        assert request is not None and self._client is not None
        method, target = request.method.decode(), request.target.decode()
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
        if self.token is not None:
            headers = [(k, v) for k, v in headers if k.lower() != b"authorization"]
            headers.append((b"authorization", f"token {self.token}".encode()))
        rules = self._take(method, target)
        for rule in rules:
            if rule.hook is not None:
                await rule.hook()
        upstream = await self._client.request(
            method,
            self.upstream + target,
            headers=[(k.decode(), v.decode()) for k, v in headers],
            content=bytes(body),
        )
        for rule in rules:
            if rule.after is not None:
                rule.after()
        if any(rule.drop for rule in rules):
            # RT has done it; the client never hears: close without a byte of response.
            self.log.append((method, target.split("?", 1)[0], None))
            return
        self.log.append((method, target.split("?", 1)[0], upstream.status_code))
        out = [(k, v) for k, v in upstream.headers.raw if k.lower() not in _HOP_BY_HOP]
        out += [(b"content-length", str(len(upstream.content)).encode()), (b"connection", b"close")]
        data = conn.send(
            h11.Response(
                status_code=upstream.status_code, headers=out, reason=upstream.reason_phrase
            )
        )
        data += conn.send(h11.Data(data=upstream.content)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        writer.write(data)
        await writer.drain()


# ---------------------------------------------------------------- the backend
_FIELD_NAMES = {"status": "Status", "priority": "Priority", "assignee": "Owner", "team": "Queue"}


@dataclass(slots=True)
class RTBackend:
    server: RTServer
    proxy: LoopbackProxy
    settings: AccountSettings
    connector: RTConnector
    other_user: str = OTHER_USER

    def client(self, *, as_other: bool = False) -> httpx.AsyncClient:
        """Plain REST2 access straight to RT (not through the proxy), as root or bob."""
        token = self.server.bob_token if as_other else self.server.token
        return httpx.AsyncClient(
            base_url=f"{self.server.url}/REST/2.0",
            headers={"Authorization": f"token {token}"},
            timeout=30,
            trust_env=False,
        )

    def make_connector(self, policy: HttpPolicy = DEFAULT_POLICY) -> RTConnector:
        """Another connector through the same proxy (the caller closes it)."""
        return RTConnector(self.settings, self.server.token, policy=policy)

    async def set_field_as_other(self, external_id: str, field: str, value: object) -> str:
        """Change one ticket field as bob, behind agentdesk's back; RT's new ETag."""
        name = _FIELD_NAMES.get(field, field)
        if field == "status":
            value = STATUS_TO_RT.get(str(value), value)
        elif field == "priority":
            value = PRIORITY_TO_RT.get(value, value)  # type: ignore[call-overload]
        elif field == "assignee" and value is None:
            value = NOBODY
        async with self.client(as_other=True) as client:
            answer = await client.put(f"/ticket/{external_id}", json={name: value})
            answer.raise_for_status()
            ticket = await client.get(f"/ticket/{external_id}")
        got = ticket.json()[name]
        got = got.get("id") if isinstance(got, dict) else got
        if str(got) != str(value) and not (name == "Queue" and field == "team"):
            raise AssertionError(f"RT did not set {name} to {value!r}: {answer.json()}")
        return ticket.headers["etag"].strip('"')

    def lose_next_response(self, path_fragment: str, method: str | None = "POST") -> None:
        """The next matching request reaches RT, but its response never reaches the client."""
        self.proxy.add(_Rule(path_fragment, method, drop=True))

    def after_next_response(
        self, path_fragment: str, then: Callable[[], None], method: str | None = "POST"
    ) -> None:
        """The next matching request reaches RT; once RT answered, `then` runs and the answer
        is never relayed (the client is gone: e.g. `then` SIGKILLs it)."""
        self.proxy.add(_Rule(path_fragment, method, drop=True, after=then))

    def before_next_request(
        self, path_fragment: str, hook: Hook, method: str | None = None
    ) -> None:
        """Run `hook` (e.g. a colleague's change) just before the next matching request."""
        self.proxy.add(_Rule(path_fragment, method, hook=hook))

    def break_token(self) -> None:
        """From now on the proxy sends a wrong token: RT answers 401 to everything."""
        self.proxy.token = "1-14-" + "0" * 32

    def restore_token(self) -> None:
        self.proxy.token = None

    async def oracle(self) -> dict[str, dict[str, object]]:
        """RT's own view, read as root straight from RT: every ticket by id with its fields
        and its transactions (id, type, creator, field, old, new, and the text of Create/
        Correspond/Comment exactly as RT stored it)."""
        tickets: dict[str, dict[str, object]] = {}
        async with self.client() as client:
            found = await client.get(
                "/tickets", params={"query": "id > 0", "orderby": "id", "per_page": 100}
            )
            found.raise_for_status()
            for item in found.json()["items"]:
                ident = str(item["id"])
                read = await client.get(f"/ticket/{ident}")
                ticket = read.json()
                history = await client.get(
                    f"/ticket/{ident}/history",
                    params={
                        "fields": "Type,Creator,Field,OldValue,NewValue",
                        "per_page": 100,
                        "orderby": "id",
                    },
                )
                transactions = []
                for txn in history.json()["items"]:
                    entry: dict[str, object] = {
                        "id": str(txn["id"]),
                        "type": txn.get("Type"),
                        "creator": (txn.get("Creator") or {}).get("id"),
                        "field": txn.get("Field") or None,
                        "old": txn.get("OldValue") or None,
                        "new": txn.get("NewValue") or None,
                    }
                    if txn.get("Type") in ("Create", "Correspond", "Comment"):
                        parts = await client.get(
                            f"/transaction/{txn['id']}/attachments",
                            params={"fields": "ContentType,Content,Filename"},
                        )
                        entry["content"] = "\n".join(
                            p.get("Content") or ""
                            for p in parts.json()["items"]
                            if p.get("ContentType") == "text/plain" and not p.get("Filename")
                        )
                    transactions.append(entry)
                tickets[ident] = {
                    "subject": ticket.get("Subject"),
                    "status": ticket.get("Status"),
                    "owner": ticket["Owner"]["id"],
                    "queue": ticket["Queue"]["id"],
                    "priority": int(ticket.get("Priority") or 0),
                    "etag": read.headers.get("etag", "").strip('"'),
                    "transactions": transactions,
                }
        return tickets


@contextlib.asynccontextmanager
async def start_rt_backend(server: RTServer | None = None) -> AsyncIterator[RTBackend]:
    """An RTBackend over `server` (or over a fresh instance, started and stopped here)."""
    async with contextlib.AsyncExitStack() as stack:
        if server is None:
            if not rt_installed(dict(os.environ)):
                raise RuntimeError(
                    "Request Tracker is not installed: sudo sh scripts/rt-fixture.sh install"
                )
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rt-")))
            server = stack.enter_context(launch_rt(directory))
        proxy = LoopbackProxy(server.url)
        await proxy.start()
        stack.push_async_callback(proxy.close)
        settings = AccountSettings(ACCOUNT, "rt", proxy.url, "root")
        connector = RTConnector(settings, server.token)
        stack.push_async_callback(connector.aclose)
        yield RTBackend(server, proxy, settings, connector)


# ---------------------------------------------------------------- one RT per test session
INSTALL_HINT = (
    "run `sudo sh scripts/rt-fixture.sh install` (Debian/Ubuntu), or set AGENTDESK_RT_INSTALL=1 "
    "and run the tests as root"
)
# Which data the shared server holds now: RT's pristine seed (tests/rt), the behaviour suite's
# world (the seed plus a few tickets), or something a test changed ("dirty").
PRISTINE, SUITE, DIRTY = "pristine", "suite", "dirty"


@dataclass(slots=True)
class _Shared:
    server: RTServer | None = None
    problem: str | None = None
    world: str = PRISTINE
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


_SHARED = _Shared()


def rt_package_version() -> str:
    """The request-tracker5 package this machine runs, as dpkg knows it ("" when absent)."""
    try:
        found = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "request-tracker5"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return found.stdout.strip() if found.returncode == 0 else ""


def rt_ran() -> bool:
    """Whether this test run started the real RT server."""
    return _SHARED.server is not None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def rt_unavailable(reason: str) -> NoReturn:
    """Skip for a developer without RT; fail under CI=true, so CI never passes by skipping."""
    import pytest

    if in_ci():
        pytest.fail(f"Request Tracker is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"Request Tracker not available: {reason}")


def _may_install() -> bool:
    """Only root may apt-get, only when asked (CI or AGENTDESK_RT_INSTALL=1), never with =0."""
    wanted = os.environ.get("AGENTDESK_RT_INSTALL")
    return (
        hasattr(os, "geteuid") and os.geteuid() == 0 and wanted != "0"
        and (in_ci() or wanted == "1")
    )  # fmt: skip


def shared_rt_server() -> RTServer:
    """The session's one RT server, started on first use (tests/rt and the behaviour suite
    share it); stopped when the test process exits. Skips or fails (CI) when RT is missing,
    and remembers why, so later tests do not try again."""
    if _SHARED.server is not None:
        return _SHARED.server
    if _SHARED.problem is not None:
        rt_unavailable(_SHARED.problem)
    env = dict(os.environ)
    try:
        if not rt_installed(env):
            where = env.get("AGENTDESK_RT_SERVER")
            missing = (
                f"AGENTDESK_RT_SERVER={where} is not an rt-server program"
                if where
                else "the Debian packages request-tracker5 are not installed"
            )
            if not _may_install():
                raise RuntimeError(f"{missing} — {INSTALL_HINT}")
            try:
                run_script("install", env, timeout=900)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                raise RuntimeError(f"installing it failed: {exc}") from None
        directory = Path(_SHARED.stack.enter_context(tempfile.TemporaryDirectory(prefix="rt-")))
        try:
            _SHARED.server = _SHARED.stack.enter_context(launch_rt(directory, env))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"it did not start: {exc}") from None
    except RuntimeError as exc:
        _SHARED.problem = str(exc)
        rt_unavailable(_SHARED.problem)
    atexit.register(_SHARED.stack.close)
    _SHARED.world = PRISTINE
    return _SHARED.server


def ensure_pristine(server: RTServer) -> None:
    """RT's own seed, as tests/rt expect it (a reset only if the suite left its world)."""
    if server is _SHARED.server and _SHARED.world != PRISTINE:
        server.script("reset")
        _SHARED.world = PRISTINE


def mark_pristine(server: RTServer) -> None:
    if server is _SHARED.server:
        _SHARED.world = PRISTINE


# ---------------------------------------------------------------- the behaviour suite's RT
# Registered with tests/connectors/backends.py: every scenario of the shared suite runs on the
# session's real RT. The seed has two tickets; the suite needs a few more (an incremental pull
# must bring fewer than all), so its world is the seed plus SUITE_TICKETS, snapshotted once and
# restored only after a scenario that wrote.
SUITE_TICKETS = (
    ("Support", "dave@example.com", "VPN drops every hour", "My VPN disconnects hourly."),
    ("Billing", "erin@example.com", "Refund for order 5120", "Please refund order 5120."),
)
# A returning customer's tickets from four months ago, outside the 90-day cache window: one
# still open (the open backlog must bring it), one resolved (their history must).
OLD_TICKETS = (
    ("Support", "dave@example.com", "Printer jams again", "The printer jams.", "open"),
    ("Support", "dave@example.com", "Password reset", "Please reset it.", "resolved"),
)
OLD_AGE_DAYS = 120
SUITE_SNAPSHOT = "rt.sqlite.suite"
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.005, max_attempts=4)


def _rt(server: RTServer, *, as_other: bool = False) -> httpx.Client:
    token = server.bob_token if as_other else server.token
    return httpx.Client(
        base_url=f"{server.url}/REST/2.0",
        headers={"Authorization": f"token {token}"},
        timeout=30,
        trust_env=False,
    )


def _restore(server: RTServer, snapshot: Path) -> None:
    """Stop RT, put `snapshot` back as its database, start it again (about 3 s)."""
    server.script("stop", timeout=30)
    db = server.directory / "rt.sqlite"
    for suffix in ("-wal", "-shm", "-journal"):
        (server.directory / f"rt.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copyfile(snapshot, db)
    server.script("start")


def _ensure_suite_world(server: RTServer) -> None:
    snapshot = server.directory / SUITE_SNAPSHOT
    if _SHARED.world == SUITE:
        return
    if snapshot.exists():
        _restore(server, snapshot)
    else:
        ensure_pristine(server)
        old_ids: list[int] = []
        with _rt(server) as client:
            for queue, requestor, subject, text in SUITE_TICKETS:
                made = client.post(
                    "/ticket",
                    json={"Queue": queue, "Subject": subject, "Requestor": requestor,
                          "Content": text, "ContentType": "text/plain"},
                )  # fmt: skip
                made.raise_for_status()
            for queue, requestor, subject, text, status in OLD_TICKETS:
                made = client.post(
                    "/ticket",
                    json={"Queue": queue, "Subject": subject, "Requestor": requestor,
                          "Content": text, "ContentType": "text/plain", "Status": status},
                )  # fmt: skip
                made.raise_for_status()
                old_ids.append(int(made.json()["id"]))
        # SQLite's online backup: a consistent copy while RT keeps running. The copy is then
        # aged by an hour, as a helpdesk's data is: a world written seconds ago would sit in
        # the connector's unfinished-second margin and come back on every incremental pull.
        live = sqlite3.connect(server.directory / "rt.sqlite")
        with (
            contextlib.closing(live) as source,
            contextlib.closing(sqlite3.connect(snapshot)) as copy,
        ):
            source.backup(copy)
            _age(copy, seconds=3600)
            _age(copy, seconds=OLD_AGE_DAYS * 86_400, tickets=old_ids)
        _restore(server, snapshot)
    _SHARED.world = SUITE


def _age(db: sqlite3.Connection, *, seconds: int, tickets: list[int] | None = None) -> None:
    """Move the timestamps of RT's tickets, transactions and attachments into the past: all
    of them, or only those of `tickets`."""
    scope = {"Tickets": "1", "Transactions": "1", "Attachments": "1"}
    if tickets is not None:
        ids = ",".join(str(int(t)) for t in tickets) or "0"
        owned = f"ObjectType = 'RT::Ticket' AND ObjectId IN ({ids})"
        scope = {
            "Tickets": f"id IN ({ids})",
            "Transactions": owned,
            "Attachments": f"TransactionId IN (SELECT id FROM Transactions WHERE {owned})",
        }
    columns = {
        "Tickets": ("Created", "LastUpdated", "Started", "Resolved", "Told"),
        "Transactions": ("Created",),
        "Attachments": ("Created",),
    }
    for table, names in columns.items():
        for name in names:
            db.execute(
                # table/column names and the id lists are ours, never user input
                f"UPDATE {table} SET {name} = datetime({name}, ?) "
                f"WHERE {name} IS NOT NULL AND {name} > '1970-01-02' AND {scope[table]}",
                (f"-{seconds} seconds",),
            )
    db.commit()


def _register_with_the_suite() -> None:
    from agentdesk.model import Status
    from tests.connectors.backends import (
        BackendHandle,
        FaultTransport,
        OracleConversation,
        OracleMessage,
        register,
    )

    class _WriteAwareFaults(FaultTransport):
        """The suite's fault transport, remembering whether any write reached RT."""

        wrote = False

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method in self.WRITE_METHODS:
                self.wrote = True
            return await super().handle_async_request(request)

    @dataclass
    class RTSuiteBackend(BackendHandle):
        server: RTServer | None = field(default=None, repr=False)
        colleague_wrote: bool = False

        @property
        def _server(self) -> RTServer:
            assert self.server is not None
            return self.server

        @property
        def dirty(self) -> bool:
            return self.colleague_wrote or bool(getattr(self.faults, "wrote", False))

        def connector(self, *, token: str | None = None) -> RTConnector:
            return RTConnector(
                self.settings, token or self.token, policy=FAST, transport=self.faults
            )

        def oracle(self, external_id: str) -> OracleConversation:
            with _rt(self._server) as client:
                ticket = client.get(f"/ticket/{external_id}")
                ticket.raise_for_status()
                t = ticket.json()
                history = client.get(
                    f"/ticket/{external_id}/history",
                    params={"fields": "Type,Creator", "per_page": 100, "orderby": "id"},
                )
                history.raise_for_status()
                messages = []
                for txn in history.json()["items"]:
                    if txn.get("Type") not in ("Create", "Correspond", "Comment"):
                        continue
                    parts = client.get(
                        f"/transaction/{txn['id']}/attachments",
                        params={"fields": "ContentType,Content,Filename"},
                    )
                    parts.raise_for_status()
                    body = "\n".join(
                        p.get("Content") or ""
                        for p in parts.json()["items"]
                        if p.get("ContentType") == "text/plain" and not p.get("Filename")
                    )
                    messages.append(
                        OracleMessage(
                            body=body,
                            public=txn["Type"] != "Comment",
                            author_external_id=(txn.get("Creator") or {}).get("id"),
                        )
                    )
            owner = t["Owner"]["id"]
            return OracleConversation(
                external_id=str(t["id"]),
                status=STATUS_FROM_RT.get(t["Status"], "open"),
                priority=priority_from_rt(int(t.get("Priority") or 0)),
                assignee_external_id=None if owner == NOBODY else owner,
                team_external_id=str(t["Queue"]["id"]),
                tags=frozenset(),  # RT has no tags
                messages=tuple(messages),
            )

        def conversation_count(self) -> int:
            with _rt(self._server) as client:
                # What the first pull caches: tickets updated within the cache window (RT
                # reads TicketSQL dates in the user's zone; the test RT runs in UTC).
                since = utcnow() - timedelta(days=self.settings.cache_days)
                query = f"LastUpdated > '{since:%Y-%m-%d %H:%M:%S}'"
                found = client.get("/tickets", params={"query": query, "per_page": 1})
                found.raise_for_status()
                return int(found.json()["total"])

        def change_as_colleague(
            self,
            external_id: str,
            *,
            assignee_external_id: str | None = None,
            status: Status | None = None,
            add_tags: tuple[str, ...] = (),
        ) -> None:
            # bob, straight to RT. RT has no tags: `add_tags` has nothing to land on (the
            # suite reads `capabilities.can_tag` before expecting them).
            changes: dict[str, object] = {}
            if assignee_external_id is not None:
                changes["Owner"] = assignee_external_id
            if status is not None:
                changes["Status"] = STATUS_TO_RT[status]
            if not changes:
                return
            self.colleague_wrote = True
            with _rt(self._server, as_other=True) as client:
                client.put(f"/ticket/{external_id}", json=changes).raise_for_status()

        def add_customer_message(self, external_id: str, body: str) -> None:
            """The customer answers by mail: RT's mail gateway, as `rt-mailgate` posts it."""
            with _rt(self._server) as client:
                t = client.get(f"/ticket/{external_id}").json()
            requestor = t["Requestor"][0]["id"]
            mail = (
                f"From: {requestor}\nTo: rt@agentdesk.test\n"
                f"Subject: [agentdesk.test #{external_id}] {t['Subject']}\n"
                "Content-Type: text/plain; charset=utf-8\n\n"
                f"{body}\n"
            )
            self.colleague_wrote = True
            answer = httpx.post(
                f"{self._server.url}/REST/1.0/NoAuth/mail-gateway",
                data={"queue": "Support", "action": "correspond", "message": mail},
                timeout=30,
                trust_env=False,
            )
            answer.raise_for_status()
            assert answer.text.startswith("ok"), answer.text[:200]

        def settle(self) -> None:
            """RT's search sees a change at once; the connector's cursor handles the second."""

        def rate_limited(self) -> httpx.Response:
            # RT itself has no rate limit. What reaches an RT client is a bare 429 from a
            # reverse proxy in front of it (nginx `limit_req`): no Retry-After, no budget.
            return httpx.Response(429, headers={"Content-Type": "text/html"}, content=b"")

    @contextlib.contextmanager
    def rt_backend() -> Iterator[RTSuiteBackend]:
        server = shared_rt_server()
        _ensure_suite_world(server)
        handle = RTSuiteBackend(
            vendor="rt",
            settings=AccountSettings(ACCOUNT, "rt", server.url, "root"),
            token=server.token,
            faults=_WriteAwareFaults(),
            server=server,
        )
        handle.faults.rate_limited = handle.rate_limited
        try:
            yield handle
        finally:
            if handle.dirty:  # only scenarios that wrote pay for a restore
                _SHARED.world = DIRTY
                _ensure_suite_world(server)

    register("rt", rt_backend)


_register_with_the_suite()
