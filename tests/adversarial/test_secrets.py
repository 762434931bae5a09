"""Secrets and access (issue 9 §5): a distinctive token never lands in a file, a log, an
exception, `--json` output or the stderr of a failing sync; plain HTTP to another machine needs
an explicit opt-out; TLS is verified; the cache and config are private; an agent cannot run
supervisor actions from the CLI.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentdesk.connectors.base import AccountSettings, ConnectorError
from agentdesk.sim.server import start_in_thread
from tests.adversarial.support import add_account, build_connector, cli_env, run_cli, sim_state

WRONG = "adv-Tok3n-7f3a9c1e5b2d4a6f8e0c1d2b3a4f5e6d"  # distinctive: grep-able anywhere


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def _leaks(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in _files(root) if needle in p.read_bytes()]


@pytest.fixture(scope="module")
def sim():
    with start_in_thread("zendesk", seed=4, scale=30) as handle:
        yield handle


def test_the_token_is_in_no_file_output_or_log_after_a_full_session(sim, tmp_path) -> None:
    home = tmp_path / "home"
    # The keyring file lives outside the profile, like the OS keyring would.
    env = cli_env(home, AGENTDESK_TEST_KEYRING=str(tmp_path / "keyring.json"))
    done = run_cli(
        env, "accounts", "add", "acme", "--connector", "zendesk", "--url", sim.base_url,
        "--user", sim.user, "--token-stdin", stdin=sim.token + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    outputs = [done]
    outputs.append(run_cli(env, "accounts", "list", "--json"))
    outputs.append(run_cli(env, "accounts", "test", "acme", "--json"))
    outputs.append(run_cli(env, "sync", "--once", "--json"))
    outputs.append(run_cli(env, "sync", "--once"))
    for out in outputs:
        assert out.returncode == 0, out.stderr
        assert sim.token not in out.stdout + out.stderr
    assert _leaks(home, sim.token) == []


def test_a_rejected_token_appears_in_no_output_log_or_file(sim, tmp_path) -> None:
    home = tmp_path / "home"
    env = cli_env(home, {"acme": WRONG})
    add_account(env, "acme", "zendesk", sim.base_url, sim.user)
    for args in (("sync", "--once", "--json"), ("sync", "--once"), ("accounts", "test", "acme")):
        done = run_cli(env, *args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr
        assert WRONG not in done.stdout + done.stderr, args
        assert done.stderr.strip() or done.stdout.strip()
    summary = json.loads(run_cli(env, "sync", "--once", "--json").stdout)
    assert not summary["ok"] and summary["accounts"][0]["error"]
    assert _leaks(home, WRONG) == []


def test_a_rejected_token_is_in_no_exception_text(sim) -> None:
    connector = build_connector("zendesk", sim.base_url, sim.user, WRONG, None)

    async def probe() -> ConnectorError:
        try:
            with pytest.raises(ConnectorError) as caught:
                await connector.whoami()
            return caught.value
        finally:
            await connector.aclose()

    exc = asyncio.run(probe())
    for text in (str(exc), repr(exc), repr(connector), str(exc.__cause__), str(exc.__context__)):
        assert WRONG not in text
    assert "401" in str(exc) or "token" in str(exc).lower()


# ---------------------------------------------------------------- transport security
@pytest.mark.parametrize(
    ("url", "flags", "ok"),
    [
        ("http://helpdesk.example.com", (), False),
        ("http://10.0.0.5:8080", (), False),
        ("http://helpdesk.example.com", ("--allow-insecure-http",), True),
        ("https://helpdesk.example.com", (), True),
        ("http://127.0.0.1:8080", (), True),
        ("http://[::1]:8080", (), True),
        ("http://localhost.evil.example", (), False),
        ("http://127.0.0.1.evil.example", (), False),
        ("ftp://helpdesk.example.com", (), False),
    ],
)
def test_plain_http_to_another_machine_needs_an_explicit_opt_out(
    tmp_path, url: str, flags: tuple[str, ...], ok: bool
) -> None:
    env = cli_env(tmp_path / "home")
    done = run_cli(
        env, "accounts", "add", "acme", "--connector", "zendesk", "--url", url,
        "--user", "a@b.example", "--token-command", "false", *flags,
    )  # fmt: skip
    assert (done.returncode == 0) == ok, (url, done.stderr)
    if not ok:
        assert done.returncode == 2 and done.stderr.startswith("agentdesk: ")
        config = tmp_path / "home" / "config" / "config.toml"
        assert not config.exists() or url not in config.read_text()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory):
    """An HTTPS server on loopback with a self-signed certificate; records what reached it."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = b'{"user": {"id": 1, "name": "A", "email": "a@b.example", "role": "admin"}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert, seen
    server.shutdown()


def _whoami(url: str, ca_bundle: str | None) -> object:
    from agentdesk.connectors.zendesk import ZendeskConnector

    settings = AccountSettings("acme", "zendesk", url, "a@b.example", ca_bundle=ca_bundle)
    connector = ZendeskConnector(settings, WRONG)

    async def probe() -> object:
        try:
            return await connector.whoami()
        except ConnectorError as exc:
            return exc
        finally:
            await connector.aclose()

    return asyncio.run(probe())


def test_tls_is_verified_and_an_untrusted_certificate_never_sees_the_token(tls_server) -> None:
    url, cert, seen = tls_server
    seen.clear()
    refused = _whoami(url, None)
    assert isinstance(refused, ConnectorError), refused
    assert WRONG not in str(refused)
    assert seen == []  # the handshake failed before any request (and its token) was sent
    # Trusting the certificate explicitly (ca_bundle) is the only way in.
    trusted = _whoami(url, str(cert))
    assert not isinstance(trusted, ConnectorError), trusted
    assert len(seen) == 1


def test_cache_config_and_logs_are_private(sim, tmp_path) -> None:
    home = tmp_path / "home"
    env = cli_env(home, {"acme": sim.token})
    add_account(env, "acme", "zendesk", sim.base_url, sim.user)
    assert run_cli(env, "sync", "--once").returncode == 0
    checked = []
    for path in _files(home):
        if path.name == "test-keyring.json":
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        checked.append(path.name)
    assert {"agentdesk.db", "config.toml"} <= set(checked)
    for directory in (home / "data", home / "config", home / "logs"):
        assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0, directory


def test_an_agent_cannot_run_supervisor_actions_from_the_cli(tmp_path) -> None:
    env = cli_env(tmp_path / "home")
    probe = run_cli(env, "reassign", "--help")
    if probe.returncode != 0:
        pytest.skip("`agentdesk reassign` does not exist yet (supervisor console, issue 8)")
    with start_in_thread("zendesk", seed=4, scale=30, role="agent") as agent_sim:
        env = cli_env(tmp_path / "home", {"acme": agent_sim.token})
        add_account(env, "acme", "zendesk", agent_sim.base_url, agent_sim.user)
        assert run_cli(env, "sync", "--once").returncode == 0
        before = {c["id"]: c["assignee_id"] for c in sim_state(agent_sim.base_url)["conversations"]}
        done = run_cli(
            env, "reassign", "--account", "acme", "--query", "is:open", "--to", agent_sim.user
        )
        assert done.returncode == 4, (done.returncode, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.startswith("agentdesk: ")
        # Nothing was queued, so nothing reaches the server either.
        assert run_cli(env, "sync", "--once").returncode == 0
        after = {c["id"]: c["assignee_id"] for c in sim_state(agent_sim.base_url)["conversations"]}
        assert after == before
