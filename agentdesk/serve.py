"""`agentdesk serve`: the same app in a web browser, through textual-serve.

textual-serve runs one app process per browser tab (per websocket) and relays its terminal
output to xterm.js in the page. The served app is an agent signed in to real helpdesks, so:

- by default it binds loopback only, checks the `Host` header (a DNS-rebinding page cannot
  reach it) and the websocket's `Origin` (another site open in the same browser cannot drive it);
- on loopback every launch makes a secret too, printed once in the URL (`/?token=...`, as
  notebook servers do) and swapped on the first visit for an HttpOnly SameSite=Strict cookie:
  another local process or Unix user cannot use the inbox (`--no-token` turns it off);
- any other address is refused unless the browser must present a token (HTTP `Authorization`
  or a session cookie set by a small login form) AND the traffic is encrypted: `--certfile/
  --keyfile`, or `--behind-proxy` for a TLS reverse proxy in front of us;
- the token never reaches a log line, the page or the app processes' environment (nor a URL,
  except the launch secret's, printed once); the session cookie is an HMAC the server can
  verify, not the token.

Heavy imports (aiohttp, textual-serve) are deferred so `agentdesk --help` stays fast.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
import shlex
import stat
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from aiohttp import web
    from textual_serve.app_service import AppService

TOKEN_ENV = "AGENTDESK_SERVE_TOKEN"
MIN_TOKEN_LENGTH = 16
COOKIE_NAME = "agentdesk_session"
SESSION_SECONDS = 12 * 3600
DEFAULT_PORT = 8000
DEFAULT_MAX_SESSIONS = 8
QUIT_SECONDS = 5.0
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

_SSH_HINT = (
    "or keep the default 127.0.0.1 and reach it through an SSH tunnel: "
    "ssh -N -L {port}:127.0.0.1:{port} you@this-host, then open http://127.0.0.1:{port}/"
)


class ServeRefused(Exception):
    """A configuration we will not serve; the message is one sentence for the user."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Exposure:
    """How the server may be reached; decided once, before binding."""

    host: str
    loopback: bool
    token: str | None
    tls: bool
    behind_proxy: bool
    launch_secret: bool = False
    """The token was made by this launch for loopback and is printed in the URL."""

    @property
    def secure_transport(self) -> bool:
        return self.tls or self.behind_proxy


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; any other name might resolve anywhere."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(
    host: str,
    port: int,
    *,
    token: str | None,
    tls: bool,
    behind_proxy: bool,
) -> Exposure:
    """Refuse any setup that would hand a signed-in helpdesk session to the network."""
    loopback = is_loopback_host(host)
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ServeRefused(
            f"the serve token is too short: use at least {MIN_TOKEN_LENGTH} random characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
        )
    if behind_proxy and token is None:
        raise ServeRefused(
            "--behind-proxy makes the app reachable from other machines, so it needs a token: "
            f"set {TOKEN_ENV} or pass --password-file FILE"
        )
    if not loopback:
        missing = []
        if token is None:
            missing.append(f"a token the browser must present ({TOKEN_ENV} or --password-file)")
        if not (tls or behind_proxy):
            missing.append(
                "encryption (--certfile and --keyfile, or --behind-proxy for a TLS reverse proxy)"
            )
        if missing:
            hint = _SSH_HINT.format(port=port or DEFAULT_PORT)
            raise ServeRefused(
                f"refusing to serve on {host}: the served app is you, signed in to your "
                f"helpdesks, and anyone who can reach {host}:{port} could use it. "
                f"Binding beyond loopback needs {' and '.join(missing)}; {hint}"
            )
    return Exposure(host=host, loopback=loopback, token=token, tls=tls, behind_proxy=behind_proxy)


def read_token(password_file: Path | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The serve token from `--password-file` (first line) or `AGENTDESK_SERVE_TOKEN`.

    A password file readable by other users is refused, as ssh refuses such a private key.
    """
    environ = os.environ if environ is None else environ
    if password_file is not None:
        try:
            info = password_file.stat()
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ServeRefused(
                f"cannot read the password file {password_file}: {exc.strerror}"
            ) from None
        if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ServeRefused(
                f"the password file {password_file} is readable by other users; "
                f"run `chmod 600 {password_file}`"
            )
        token = text.splitlines()[0].strip() if text.strip() else ""
        if not token:
            raise ServeRefused(f"the password file {password_file} is empty")
        return token
    token = environ.get(TOKEN_ENV, "").strip()
    return token or None


def app_command(demo: bool, python: str | None = None) -> str:
    """The shell command textual-serve runs for each browser session."""
    # `exec`: the shell textual-serve starts becomes the app, so ending it ends the app.
    command = f"exec {shlex.quote(python or sys.executable)} -m agentdesk"
    return command + " demo" if demo else command


# ---------------------------------------------------------------- access control
class Gate:
    """Authentication and request checks, independent of the web framework's plumbing.

    Sessions are `issued.nonce.mac` with an HMAC under a per-process key: nothing to store,
    constant-time to verify, and a restart signs everybody out.
    """

    def __init__(self, exposure: Exposure, *, clock: Callable[[], float] = time.time) -> None:
        self.exposure = exposure
        self._key = secrets.token_bytes(32)
        self._clock = clock
        self.allowed_hosts: set[str] = set()
        self.cookie_name = COOKIE_NAME
        """Per port once bound: two servers on one machine share the browser's cookie jar."""

    @property
    def protected(self) -> bool:
        return self.exposure.token is not None

    def token_matches(self, candidate: str) -> bool:
        token = self.exposure.token
        if token is None:
            return False
        return hmac.compare_digest(candidate.encode("utf-8"), token.encode("utf-8"))

    def authorization_ok(self, header: str) -> bool:
        """`Bearer TOKEN`, or `Basic` with the token as the password (any user name)."""
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return self.token_matches(value)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return False
            return self.token_matches(decoded.partition(":")[2])
        return False

    def _mac(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def new_session(self) -> str:
        message = f"{int(self._clock())}.{secrets.token_urlsafe(16)}"
        return f"{message}.{self._mac(message)}"

    def session_ok(self, value: str) -> bool:
        issued, _, rest = value.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (issued.isdigit() and nonce and mac):
            return False
        if not hmac.compare_digest(
            mac.encode("ascii", "replace"), self._mac(f"{issued}.{nonce}").encode("ascii")
        ):
            return False
        return 0 <= self._clock() - int(issued) < SESSION_SECONDS

    def host_ok(self, host: str) -> bool:
        """On loopback only loopback names are answered: the DNS-rebinding defence (a token
        the user chose may travel through tunnels and proxies under other names)."""
        user_token = self.protected and not self.exposure.launch_secret
        if user_token or self.exposure.behind_proxy:
            return True
        return host.lower() in self.allowed_hosts

    def origin_ok(self, origin: str | None, host: str) -> bool:
        """A browser always sends Origin on a websocket; it must be this very site."""
        if origin is None:
            return True  # not a browser: the token (or loopback) is what protects us
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc.lower() == host.lower()


_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>agentdesk · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ background: #0c181f; color: #e6edf3; font-family: system-ui, sans-serif;
  display: flex; align-items: center; justify-content: center; height: 100vh; margin: 0; }}
form {{ background: #12232d; padding: 2em; border-radius: 6px; min-width: 20em; }}
input {{ width: 100%; padding: .5em; margin: .8em 0; box-sizing: border-box; }}
button {{ padding: .5em 1.5em; }} .error {{ color: #ff7b72; }}
</style></head>
<body><form method="post" action="/login">
<h1>agentdesk</h1>
<p>This session is protected. Enter the serve token.</p>
{error}
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
<button type="submit">Sign in</button>
</form></body></html>
"""

_SECURITY_HEADERS = {
    # Keys typed into a framed copy of the app would go to the attacker's page: no framing.
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    # Links the app opens (App.open_url -> window.open) may be customer-supplied: they get no
    # `window.opener` handle to swap this tab for a fake sign-in page.
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


_NEEDS_LAUNCH_TOKEN = (
    "agentdesk serve: open the URL with ?token= that `agentdesk serve` printed when it started "
    "(each launch makes a new one).\n"
)


def redacted_url(url: str) -> str:
    """`url` with the value of its `token` parameter hidden, for logs."""
    import re

    return re.sub(r"([?&]token=)[^&#\s]*", r"\1[redacted]", url)


def _access_logger_class():  # type: ignore[no-untyped-def]
    from aiohttp.abc import AbstractAccessLogger

    class RedactingAccessLogger(AbstractAccessLogger):
        """One line per request, the query string left out: it may hold the launch secret."""

        def log(self, request, response, time):  # type: ignore[no-untyped-def]
            self.logger.info(
                "%s %s %s %s %.3fs",
                request.remote,
                request.method,
                request.path,
                response.status,
                time,
            )

    return RedactingAccessLogger


# ---------------------------------------------------------------- the aiohttp app
def _index_template() -> str:
    """textual-serve's page without its Google Fonts link: no third-party request, which
    locked-down desktops block anyway (xterm falls back to a local monospace font)."""
    import re

    import textual_serve

    path = Path(textual_serve.__file__).parent / "templates" / "app_index.html"
    html = path.read_text(encoding="utf-8")
    return re.sub(r"<link[^>]*fonts\.googleapis\.com[^>]*>", "", html, flags=re.DOTALL)


def build_app(
    gate: Gate,
    command: str,
    *,
    title: str = "agentdesk",
    max_sessions: int = DEFAULT_MAX_SESSIONS,
) -> web.Application:
    """The aiohttp application: textual-serve's handlers behind our gate."""
    import asyncio

    import aiohttp_jinja2
    import jinja2
    from aiohttp import WSCloseCode, web
    from textual_serve.server import Server

    server = Server(command, title=title)
    exposure = gate.exposure
    live_sessions = 0

    def effective_host(request: web.Request) -> str:
        if exposure.behind_proxy:
            forwarded = request.headers.get("X-Forwarded-Host", "")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return request.host

    def effective_scheme(request: web.Request) -> str:
        if exposure.tls:
            return "https"
        if exposure.behind_proxy:
            proto = request.headers.get("X-Forwarded-Proto", "https").split(",")[0].strip()
            return "https" if proto == "https" else "http"
        return "http"

    def authenticated(request: web.Request) -> bool:
        if not gate.protected:
            return True
        header = request.headers.get("Authorization")
        if header and gate.authorization_ok(header):
            return True
        cookie = request.cookies.get(gate.cookie_name)
        return bool(cookie) and gate.session_ok(cookie)

    def set_session_cookie(response: web.StreamResponse) -> None:
        response.set_cookie(
            gate.cookie_name,
            gate.new_session(),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=exposure.secure_transport,
        )

    def token_exchange(request: web.Request) -> web.StreamResponse:
        """`?token=` in the URL: a cookie for the right one, then the same URL without it
        (so it leaves the address bar and the history); 403 for a wrong one."""
        if not gate.token_matches(request.query.get("token", "")):
            return web.Response(status=403, text=_NEEDS_LAUNCH_TOKEN)
        rest = [(key, value) for key, value in request.query.items() if key != "token"]
        location = str(request.rel_url.with_query(rest))
        response = web.Response(
            status=303, headers={"Location": location, "Cache-Control": "no-store"}
        )
        set_session_cookie(response)
        return response

    def login_page(status: int, error: str = "") -> web.Response:
        body = _LOGIN_PAGE.format(error=f'<p class="error">{error}</p>' if error else "")
        # Not `Basic`: that would make the browser pop its own dialog instead of the form.
        headers = {"WWW-Authenticate": 'Bearer realm="agentdesk"', "Cache-Control": "no-store"}
        return web.Response(status=status, text=body, content_type="text/html", headers=headers)

    @web.middleware
    async def guard(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if not gate.host_ok(request.host):
            # 421 Misdirected Request: this server does not answer to that name.
            response: web.StreamResponse = web.Response(
                status=421, text="agentdesk serve answers only to its loopback address\n"
            )
        elif request.path == "/login":
            response = await handler(request)
        elif gate.protected and "token" in request.query:
            response = token_exchange(request)
        elif not authenticated(request):
            # The launch secret is only ever in the printed URL: no form to guess it in.
            launch = exposure.launch_secret
            response = (
                web.Response(status=403, text=_NEEDS_LAUNCH_TOKEN) if launch else (login_page(401))
            )
        elif request.path == "/ws" and not gate.origin_ok(
            request.headers.get("Origin"), effective_host(request)
        ):
            response = web.Response(status=403, text="cross-site websocket refused\n")
        else:
            response = await handler(request)
        if not response.prepared:
            response.headers.update(_SECURITY_HEADERS)
        return response

    async def login_form(request: web.Request) -> web.Response:
        if not gate.protected or exposure.launch_secret:
            raise web.HTTPSeeOther("/")
        return login_page(200)

    async def login_submit(request: web.Request) -> web.Response:
        if not gate.protected or exposure.launch_secret:
            raise web.HTTPSeeOther("/")
        if not gate.origin_ok(request.headers.get("Origin"), effective_host(request)):
            return web.Response(status=403, text="cross-site sign-in refused\n")
        form = await request.post()
        candidate = form.get("token")
        if isinstance(candidate, str) and gate.token_matches(candidate.strip()):
            response = web.HTTPSeeOther("/")
            set_session_cookie(response)
            raise response
        # One failed guess at a time, one per second: a brute force gets nowhere.
        async with failure_lock:
            await asyncio.sleep(1.0)
        return login_page(401, "That token is not right.")

    async def index(request: web.Request) -> web.Response:
        host = effective_host(request)
        scheme = effective_scheme(request)
        websocket_scheme = "wss" if scheme == "https" else "ws"
        font_size = request.query.get("fontsize", "16")
        context = {
            "font_size": int(font_size) if font_size.isdigit() else 16,
            "app_websocket_url": f"{websocket_scheme}://{host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": title},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def websocket(request: web.Request) -> web.StreamResponse:
        nonlocal live_sessions
        if live_sessions >= max_sessions:
            return web.Response(status=503, text="too many browser sessions\n")
        live_sessions += 1
        try:
            return await _run_session(request, server, open_sessions)
        finally:
            live_sessions -= 1

    async def close_sessions(_app: web.Application) -> None:
        # On shutdown, end every tab's session now: each app process is told to quit and is
        # awaited, instead of the server waiting for browsers to hang up.
        sessions = list(open_sessions.items())
        for socket, _service in sessions:
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        await asyncio.gather(*(_end_app(service) for _socket, service in sessions))

    failure_lock = asyncio.Lock()
    open_sessions: dict[web.WebSocketResponse, AppService] = {}
    app = web.Application(middlewares=[guard])
    app.on_shutdown.append(close_sessions)
    aiohttp_jinja2.setup(
        app, loader=jinja2.DictLoader({"app_index.html": _index_template()}), autoescape=True
    )
    app.add_routes(
        [
            web.get("/", index),
            web.get("/ws", websocket),
            web.get("/download/{key}", server.handle_download),
            web.get("/login", login_form),
            web.post("/login", login_submit),
            web.static("/static", server.statics_path, show_index=False),
        ]
    )
    return app


def _int(text: str | None, default: int, low: int = 10, high: int = 1000) -> int:
    try:
        return min(max(int(text or default), low), high)
    except ValueError:
        return default


async def _run_session(  # type: ignore[no-untyped-def]
    request: web.Request, server, open_sessions: dict[web.WebSocketResponse, AppService]
) -> web.WebSocketResponse:
    """One browser tab: one app process, relayed over the websocket.

    Like textual-serve's own handler, except that the page is told when the app process
    ends (a crash or `q`), instead of being left with a frozen screen, and that malformed
    client messages are ignored rather than asserted on.
    """
    import json

    from aiohttp import WSMsgType, web
    from textual_serve.app_service import AppService

    class Session(AppService):
        async def run(self) -> None:
            try:
                await super().run()
            finally:
                await self.remote_close()

    websocket = web.WebSocketResponse(heartbeat=15)
    await websocket.prepare(request)
    service = Session(
        server.command,
        write_bytes=websocket.send_bytes,
        write_str=websocket.send_str,
        close=websocket.close,
        download_manager=server.download_manager,
    )
    await service.start(_int(request.query.get("width"), 80), _int(request.query.get("height"), 24))
    open_sessions[websocket] = service
    try:
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                kind, *rest = json.loads(message.data)
            except (ValueError, TypeError):
                continue
            data = rest[0] if rest else None
            if kind == "stdin" and isinstance(data, str):
                await service.send_bytes(data.encode("utf-8"))
            elif kind == "resize" and isinstance(data, dict):
                await service.set_terminal_size(
                    _int(str(data.get("width")), 80), _int(str(data.get("height")), 24)
                )
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await service.blur()
            elif kind == "focus":
                await service.focus()
    finally:
        open_sessions.pop(websocket, None)
        await service.stop()
    return websocket


async def _end_app(service) -> None:  # type: ignore[no-untyped-def]
    """Ask a tab's app process to quit; kill it if it has not within QUIT_SECONDS."""
    import asyncio

    process = service._process  # textual-serve keeps it private; we must not leave orphans
    if process is None or process.returncode is not None:
        return
    await service.send_meta({"type": "quit"})
    try:
        await asyncio.wait_for(process.wait(), QUIT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


def _ssl_context(certfile: Path, keyfile: Path):  # type: ignore[no-untyped-def]
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ServeRefused(f"cannot load the TLS certificate or key: {exc}") from None
    return context


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    demo: bool = False,
    token: str | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    behind_proxy: bool = False,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    command: str | None = None,
    out: IO[str] | None = None,
    no_token: bool = False,
) -> int:
    """Serve the app until interrupted; returns the process exit code.

    `port=0` picks a free port; the first line on `out` (stdout) is
    `agentdesk serve: serving on URL`, which scripts and tests wait for (on loopback the URL
    carries this launch's `?token=`, unless `no_token`). `command` replaces the app command
    (tests); refusals print one line on stderr and return 2.
    """
    import asyncio

    out = out or sys.stdout
    try:
        if (certfile is None) != (keyfile is None):
            raise ServeRefused("--certfile and --keyfile go together")
        exposure = check_exposure(
            host, port, token=token, tls=certfile is not None, behind_proxy=behind_proxy
        )
        if no_token and token is not None:
            raise ServeRefused(
                f"--no-token contradicts the token given ({TOKEN_ENV} or --password-file)"
            )
        ssl_context = _ssl_context(certfile, keyfile) if certfile and keyfile else None
    except ServeRefused as exc:
        print(f"agentdesk serve: {exc}", file=sys.stderr)
        return exc.code
    if exposure.loopback and exposure.token is None and not no_token:
        exposure = replace(exposure, token=secrets.token_urlsafe(32), launch_secret=True)
    elif no_token:
        print(
            f"agentdesk serve: warning: --no-token: any process or user on this machine that "
            f"can reach {host}:{port or 'PORT'} can use your signed-in helpdesks",
            file=sys.stderr,
            flush=True,
        )
    gate = Gate(exposure)
    app = build_app(gate, command or app_command(demo), max_sessions=max_sessions)
    try:
        asyncio.run(_run(app, gate, host, port, ssl_context, out))
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"agentdesk serve: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


async def _run(app, gate: Gate, host: str, port: int, ssl_context, out: IO[str]) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import logging
    import signal

    from aiohttp import web

    # The access log goes to agentdesk's (redacting) log file without query strings: the
    # launch secret travels in one URL (the user token only in a header or a POST body).
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("agentdesk.serve.access"),
        access_log_class=_access_logger_class(),
        shutdown_timeout=10,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    bound_port = runner.addresses[0][1]
    gate.allowed_hosts = {
        f"{name}:{bound_port}" for name in ("127.0.0.1", "localhost", "[::1]", host.lower())
    }
    gate.cookie_name = f"{COOKIE_NAME}_{bound_port}"
    scheme = "https" if ssl_context else "http"
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}:{bound_port}/"
    if gate.exposure.launch_secret:  # printed once, here only; the log gets it redacted
        url += f"?token={gate.exposure.token}"
    print(f"agentdesk serve: serving on {url}", file=out, flush=True)
    logging.getLogger("agentdesk.serve").info("serving on %s", redacted_url(url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        # Each browser tab's app process is told to quit and awaited by textual-serve.
        await runner.cleanup()


# ---------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `agentdesk serve` (the CLI owns the sub-parser)."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; others need a token and TLS)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve the demo (simulated Zendesk, throwaway profile per tab)",
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help=f"file (mode 600) whose first line is the token the browser must "
        f"present; or set {TOKEN_ENV}",
    )
    parser.add_argument("--certfile", type=Path, help="TLS certificate (PEM)")
    parser.add_argument("--keyfile", type=Path, help="TLS private key (PEM)")
    parser.add_argument(
        "--behind-proxy",
        action="store_true",
        help="a TLS reverse proxy terminates HTTPS in front of this server",
    )
    parser.add_argument(
        "--no-token",
        action="store_true",
        help="on loopback, do not require the per-launch token in the printed URL (any local "
        "process or user could then use the app)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        help="browser tabs served at once (each runs its own app process)",
    )


def run(args: argparse.Namespace) -> int:
    """`agentdesk serve` from parsed arguments."""
    try:
        token = read_token(args.password_file)
    except ServeRefused as exc:
        print(f"agentdesk serve: {exc}", file=sys.stderr)
        return exc.code
    # The app processes inherit our environment: the token must not be in it.
    os.environ.pop(TOKEN_ENV, None)
    return serve(
        args.host,
        args.port,
        demo=args.demo,
        token=token,
        certfile=args.certfile,
        keyfile=args.keyfile,
        behind_proxy=args.behind_proxy,
        max_sessions=args.max_sessions,
        no_token=args.no_token,
    )


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m agentdesk.serve`) until the CLI wires `agentdesk serve`."""
    parser = argparse.ArgumentParser(prog="agentdesk serve")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
