"""Attachment downloads against a hostile loopback server: other hosts, internal addresses,
redirect hops and endless or oversized bodies are refused in one sentence, leaving no file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agentdesk.attachments import AttachmentFetcher, AttachmentPolicy, DownloadRefused, download
from agentdesk.store import Store

MB = 1024 * 1024


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # no Content-Length needed: the body ends when we close
    seen: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Hostile.seen.append(self.path)
        port = self.server.server_address[1]
        if self.path == "/ok":
            self._send(200, b"hello attachment", {"Content-Length": "16"})
        elif self.path.startswith("/to/"):
            self._send(302, b"", {"Location": self.path[len("/to/") :].replace("PORT", str(port))})
        elif self.path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif self.path == "/huge-declared":
            self._send(200, b"x" * 1024, {"Content-Length": str(100 * MB)})
        elif self.path == "/endless":
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(8 * 16):  # 8 MB unless the client hangs up first
                    self.wfile.write(b"y" * 65536)
            except OSError:
                pass
        else:
            self._send(404, b"no", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    Hostile.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _policy(base: str, **kw: object) -> AttachmentPolicy:
    return AttachmentPolicy(account="acme", base_url=base, connector="zendesk", **kw)  # type: ignore[arg-type]


def test_an_attachment_from_the_account_host_is_saved(server: str, tmp_path: Path) -> None:
    target = download(f"{server}/ok", tmp_path / "a.txt", _policy(server))
    assert target.read_bytes() == b"hello attachment"


def test_another_host_is_refused_naming_it_and_never_contacted(server: str, tmp_path: Path) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(
        DownloadRefused, match=r"refused to download from localhost: .*attachment_hosts"
    ):
        download(f"http://localhost:{port}/ok", tmp_path / "a.txt", _policy(server))
    assert Hostile.seen == []
    assert not (tmp_path / "a.txt").exists()


def test_the_user_may_allow_another_host(server: str, tmp_path: Path) -> None:
    port = server.rsplit(":", 1)[1]
    policy = _policy(server, extra_hosts=("localhost",))
    assert download(f"http://localhost:{port}/ok", tmp_path / "a.txt", policy).exists()


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("http://localhost:PORT/ok", "localhost"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ],
)
def test_every_redirect_hop_is_checked_again(
    server: str, tmp_path: Path, location: str, host: str
) -> None:
    with pytest.raises(DownloadRefused, match=f"refused to download from {host}"):
        download(f"{server}/to/{location}", tmp_path / "a.txt", _policy(server))
    assert Hostile.seen == [f"/to/{location}"]  # the refused hop was never requested
    assert not (tmp_path / "a.txt").exists()


def test_a_redirect_loop_stops(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadRefused, match="more than 5 redirects"):
        download(f"{server}/loop", tmp_path / "a.txt", _policy(server))


def test_a_vendor_host_that_resolves_inside_the_network_is_refused(tmp_path: Path) -> None:
    """The account is on the internet; a (vendor-pattern) name pointing at loopback is not."""
    names = {"acme.zendesk.com": ["93.184.215.14"], "x.zdusercontent.com": ["127.0.0.1"]}
    policy = _policy("https://acme.zendesk.com", resolve=lambda host, port: names[host])
    with pytest.raises(
        DownloadRefused, match="x.zdusercontent.com: it resolves to a local or private"
    ):
        download("https://x.zdusercontent.com/file", tmp_path / "a.txt", policy)
    names["x.zdusercontent.com"] = ["10.1.2.3"]
    with pytest.raises(DownloadRefused, match="private"):
        download("https://x.zdusercontent.com/file", tmp_path / "a.txt", policy)


def test_the_connection_goes_to_the_address_that_was_checked(server: str, tmp_path: Path) -> None:
    """A name is resolved once: the request goes to that address, not to a second lookup."""
    port = server.rsplit(":", 1)[1]
    names = {"help.desk.test": ["127.0.0.1"]}  # unknown to the system's resolver
    policy = _policy("http://help.desk.test", resolve=lambda host, port: names[host])
    assert download(f"http://help.desk.test:{port}/ok", tmp_path / "a.txt", policy).exists()


def test_a_declared_size_over_the_cap_is_refused_before_reading(
    server: str, tmp_path: Path
) -> None:
    with pytest.raises(
        DownloadRefused, match=r"100 MB, over the 1 MB limit \(ui.attachment_max_mb\)"
    ):
        download(f"{server}/huge-declared", tmp_path / "a.bin", _policy(server, max_bytes=MB))
    assert not (tmp_path / "a.bin").exists()


def test_an_endless_body_stops_at_the_cap_and_the_partial_file_is_removed(
    server: str, tmp_path: Path
) -> None:
    with pytest.raises(DownloadRefused, match="over the 1 MB limit.*partial file was removed"):
        download(f"{server}/endless", tmp_path / "a.bin", _policy(server, max_bytes=MB))
    assert list(tmp_path.iterdir()) == []


def test_the_app_builds_the_policy_from_the_account_and_the_config(
    server: str, tmp_path: Path
) -> None:
    from agentdesk.tui.app import AgentDeskApp

    store = Store.open(tmp_path / "cache.db")
    store.upsert_account("acme", "zendesk", server, "a@acme.test")
    store.close()
    app = AgentDeskApp(
        tmp_path / "cache.db", downloads_dir=tmp_path / "downloads",
        attachment_hosts={"acme": ("files.acme.test",)}, attachment_max_mb=1,
        attachments=AttachmentFetcher(),
    )  # fmt: skip
    app.store = Store.open(tmp_path / "cache.db")
    try:
        policy = app.attachment_policy("acme")
        assert policy.max_bytes == MB and "files.acme.test" in policy.patterns()
        assert app.download_file(f"{server}/ok", "../../etc/passwd", policy).parent == (
            tmp_path / "downloads"
        )
        with pytest.raises(DownloadRefused, match="over the 1 MB limit"):
            app.download_file(f"{server}/endless", "big.bin", policy)
        assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == ["passwd"]
        unknown = app.attachment_policy("ghost")
        with pytest.raises(DownloadRefused, match="refused to download from 127.0.0.1"):
            app.download_file(f"{server}/ok", "a.txt", unknown)
    finally:
        app.store.close()
