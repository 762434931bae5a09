"""`agentdesk serve` access rules: loopback by default, a token and TLS for anything else.

Real processes on real loopback sockets; no browser needed for these.
"""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from agentdesk.serve import TOKEN_ENV, ServeRefused, check_exposure, read_token
from tests.browser.conftest import REPO, running_server, serve_argv

TOKEN = "correct-horse-battery-staple-42"


def _client() -> httpx.Client:
    # trust_env=False: a proxy from the environment must never see loopback traffic.
    return httpx.Client(trust_env=False, timeout=10, follow_redirects=False)


def _cookie_name(served) -> str:
    return f"agentdesk_session_{httpx.URL(served.url).port}"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env.update(extra)
    return env


def test_binding_all_interfaces_without_protection_is_refused_with_a_reason() -> None:
    result = subprocess.run(
        serve_argv("--host", "0.0.0.0", "--port", "0"),
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(),
        cwd=REPO,
    )
    assert result.returncode == 2
    message = result.stderr
    assert "refusing to serve on 0.0.0.0" in message
    assert TOKEN_ENV in message and "--certfile" in message and "--behind-proxy" in message
    assert "ssh -N -L" in message  # the safe alternative is named
    assert "serving on" not in result.stdout


def test_a_token_without_encryption_is_still_refused_off_loopback() -> None:
    result = subprocess.run(
        serve_argv("--host", "0.0.0.0", "--port", "0"),
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(**{TOKEN_ENV: TOKEN}),
        cwd=REPO,
    )
    assert result.returncode == 2
    assert "encryption" in result.stderr and "a token the browser" not in result.stderr
    assert TOKEN not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("host", "token", "tls", "proxy", "allowed"),
    [
        ("127.0.0.1", None, False, False, True),
        ("localhost", None, False, False, True),
        ("::1", None, False, False, True),
        ("127.0.0.2", None, False, False, True),
        ("0.0.0.0", None, False, False, False),
        ("::", TOKEN, False, False, False),
        ("192.0.2.10", TOKEN, True, False, True),
        ("desk.example.com", TOKEN, False, True, True),
        ("desk.example.com", None, True, False, False),
        ("127.0.0.1", None, False, True, False),  # a proxy exposes it: token required
        ("127.0.0.1", "x7Qp2", False, False, False),  # a guessable token is no protection
    ],
)
def test_exposure_policy(
    host: str, token: str | None, tls: bool, proxy: bool, allowed: bool
) -> None:
    if allowed:
        exposure = check_exposure(host, 8000, token=token, tls=tls, behind_proxy=proxy)
        assert exposure.host == host
    else:
        with pytest.raises(ServeRefused) as refused:
            check_exposure(host, 8000, token=token, tls=tls, behind_proxy=proxy)
        assert refused.value.code == 2
        assert token is None or token not in str(refused.value)


def test_password_file_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "serve-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    secret.chmod(0o644)
    with pytest.raises(ServeRefused, match="chmod 600"):
        read_token(secret, environ={})
    secret.chmod(0o600)
    assert read_token(secret, environ={}) == TOKEN
    assert read_token(None, environ={TOKEN_ENV: f" {TOKEN} "}) == TOKEN
    assert read_token(None, environ={}) is None


def test_with_a_token_requests_without_it_get_401_and_with_it_200() -> None:
    with running_server(env=_env(**{TOKEN_ENV: TOKEN})) as served, _client() as client:
        assert TOKEN not in "".join(served.output)
        bare = client.get(served.url)
        assert bare.status_code == 401
        assert 'name="token"' in bare.text  # the browser gets a sign-in form
        assert TOKEN not in bare.text
        assert client.get(served.url + "static/js/textual.js").status_code == 401
        assert client.get(served.url + "ws").status_code == 401

        wrong = client.get(served.url, headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401

        bearer = client.get(served.url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
        assert "textual.js" in bearer.text and TOKEN not in bearer.text
        assert "fonts.googleapis.com" not in bearer.text  # no third-party requests
        assert bearer.headers["X-Frame-Options"] == "DENY"
        assert bearer.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        basic = base64.b64encode(f"agent:{TOKEN}".encode()).decode()
        assert (
            client.get(served.url, headers={"Authorization": f"Basic {basic}"}).status_code == 200
        )

        # The browser path: the form sets a session cookie that is not the token.
        signed_in = client.post(served.url + "login", data={"token": TOKEN})
        assert signed_in.status_code == 303
        session = _cookie_name(served)
        cookie = signed_in.cookies.get(session)
        assert cookie and TOKEN not in cookie
        assert "httponly" in signed_in.headers["set-cookie"].lower()
        assert "samesite=strict" in signed_in.headers["set-cookie"].lower()
        client.cookies.set(session, cookie)
        assert client.get(served.url).status_code == 200
        client.cookies.set(session, cookie[:-2] + "xx")
        assert client.get(served.url).status_code == 401
    assert TOKEN not in "".join(served.output)


def test_loopback_server_refuses_other_host_names_and_cross_site_websockets() -> None:
    with running_server(env=_env()) as served, _client() as client:
        assert client.get(served.printed_url).status_code == 303  # the token, for a cookie
        assert client.get(served.url).status_code == 200
        port = httpx.URL(served.url).port
        # DNS rebinding: a hostile name that resolves to 127.0.0.1 reaches us with its Host.
        rebound = client.get(served.url, headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 421
        # Any web page can open a websocket to loopback; the Origin tells us it is not ours.
        hijack = client.get(
            served.url + "ws",
            headers={
                "Origin": "https://attacker.example",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            },
        )
        assert hijack.status_code == 403


def test_the_token_never_reaches_the_app_processes(tmp_path: Path) -> None:
    """Each browser tab runs the app as a child process: it must not inherit the token."""
    import asyncio

    import aiohttp

    probe = tmp_path / "child-env.txt"
    child = (
        "import os, pathlib; pathlib.Path(os.environ['PROBE']).write_text("
        f"str({TOKEN_ENV!r} in os.environ) + ' ' + str({TOKEN!r} in str(os.environ)))"
    )
    launcher = (
        "import sys, shlex; from agentdesk import serve; "
        "serve.app_command = lambda demo, python=None: "
        f"shlex.join([sys.executable, '-c', {child!r}]); "
        "sys.exit(serve.main(['--port', '0']))"
    )
    env = _env(**{TOKEN_ENV: TOKEN, "PROBE": str(probe)})

    async def open_one_tab(url: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.ws_connect(url + "ws", headers=headers) as websocket,
        ):
            # The child exits at once, and the server then closes the tab's websocket.
            async for _message in websocket:
                pass

    with running_server(env=env, argv=[sys.executable, "-c", launcher]) as served:
        asyncio.run(asyncio.wait_for(open_one_tab(served.url), timeout=20))
    assert probe.read_text() == "False False"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (cryptography comes with keyring on Linux)."""
    import datetime
    import ipaddress

    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    keyfile.chmod(0o600)
    return certfile, keyfile


def _trusting(certfile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certfile))


def test_tls_serving_uses_secure_cookies_and_a_wss_websocket(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    secret = tmp_path / "serve-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    secret.chmod(0o600)
    args = ("--certfile", str(certfile), "--keyfile", str(keyfile), "--password-file", str(secret))
    with (
        running_server(*args, env=_env()) as served,
        httpx.Client(trust_env=False, verify=_trusting(certfile), timeout=10) as client,
    ):
        assert served.url.startswith("https://127.0.0.1:")
        assert client.get(served.url).status_code == 401
        signed_in = client.post(served.url + "login", data={"token": TOKEN})
        assert signed_in.status_code == 303
        assert "secure" in signed_in.headers["set-cookie"].lower()
        page = client.get(served.url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert page.status_code == 200
        assert f'data-session-websocket-url="wss://{httpx.URL(served.url).netloc.decode()}/ws"' in (
            page.text
        )


def test_loopback_needs_the_launch_token_then_a_cookie(tmp_path: Path) -> None:
    """Another local user or process that connects without the printed URL gets nothing."""
    home = tmp_path / "home"
    with running_server(env=_env(AGENTDESK_HOME=str(home))) as served, _client() as client:
        token = served.token
        assert token and len(token) >= 32
        for path in ("", "static/js/textual.js", "ws", "login"):
            refused = client.get(served.url + path)
            assert refused.status_code == (303 if path == "login" else 403), path
        bare = client.get(served.url)
        assert "token" in bare.text and len(bare.text.strip().splitlines()) == 1
        assert token not in bare.text
        assert client.get(served.url + "?token=" + "x" * len(token)).status_code == 403
        assert client.get(served.url, headers={"Authorization": f"Bearer {token}"}).status_code == (
            200
        )

        first = client.get(served.printed_url + "&fontsize=14")
        assert first.status_code == 303
        assert first.headers["location"] == "/?fontsize=14"  # the token leaves the address bar
        set_cookie = first.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        cookie = client.cookies.get(_cookie_name(served))
        assert cookie and token not in cookie
        page = client.get(served.url + "?fontsize=14")
        assert page.status_code == 200 and token not in page.text
        assert client.get(served.url + "static/js/textual.js").status_code == 200

        client.cookies.set(_cookie_name(served), cookie[:-2] + "xx")
        assert client.get(served.url).status_code == 403
    printed = "".join(served.output)
    assert printed.count(token) == 1  # printed once, in the URL
    logs = "".join(path.read_text() for path in home.rglob("agentdesk.log*"))
    assert "token=[redacted]" in logs  # the URL is logged, its secret is not
    assert "GET / 403" in logs and "GET / 303" in logs  # requests are, without query strings
    assert token not in logs


def test_no_token_turns_the_launch_secret_off_with_a_warning() -> None:
    with running_server("--no-token", env=_env()) as served, _client() as client:
        assert served.token is None
        assert client.get(served.url).status_code == 200
        port = httpx.URL(served.url).port
        rebound = client.get(served.url, headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 421  # the Host check stays
    assert "warning: --no-token" in "".join(served.output)


def test_no_token_is_in_the_help() -> None:
    result = subprocess.run(
        serve_argv("--help"), check=False, capture_output=True, text=True, timeout=30, cwd=REPO
    )
    assert "--no-token" in result.stdout
