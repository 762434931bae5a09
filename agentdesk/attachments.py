"""Attachment downloads: only from the account's own hosts, never into the local network, capped.

A backend hands us attachment URLs; a hostile or compromised one could point them at an internal
address (a cloud metadata service, a router's admin page) or at an endless stream. So a download
goes only to the account's host, the hosts its vendor serves attachments from, and hosts the user
allowed (`accounts.<name>.attachment_hosts`); never to a loopback, private or link-local address
unless the account itself lives on one; each redirect is checked again; and the size is capped
while streaming, the partial file removed.

Plain `http.client` (no httpx): the CLI hands an `AttachmentFetcher` to the app, whose cold
start must stay light.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from agentdesk.sanitize import clean

DEFAULT_MAX_MB = 50
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
TIMEOUT_SECONDS = 60.0

VENDOR_ATTACHMENT_HOSTS: dict[str, tuple[str, ...]] = {
    "zendesk": ("*.zdusercontent.com", "*.zendesk.com"),
    "freshdesk": ("*.freshdesk.com", "*.freshworks.com", "s3.amazonaws.com", "*.s3.amazonaws.com"),
    "intercom": ("*.intercomcdn.com", "*.intercom-attachments.com", "*.intercom.io"),
    "front": ("*.frontapp.com", "*.frontapp.net"),
    "helpscout": ("*.helpscout.net", "*.helpscout.com"),
    "chatwoot": ("*.chatwoot.com",),
}
"""Hosts each vendor serves attachments from, besides the account's own host."""

Resolver = Callable[[str, int], Iterable[str]]


class DownloadRefused(Exception):
    """An attachment we will not fetch (or stopped fetching); the message is one sentence."""


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DownloadRefused(f"cannot find the attachment host {clean(host)}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def _inside(address: str) -> bool:
    """Loopback, private, link-local and the like: addresses inside this machine or network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


@dataclass(frozen=True, slots=True)
class AttachmentPolicy:
    account: str
    base_url: str
    connector: str = ""
    extra_hosts: tuple[str, ...] = ()
    """Hosts the user allowed in config, `*.example.com` for every subdomain."""
    max_bytes: int = DEFAULT_MAX_MB * 1024 * 1024
    resolve: Resolver = _resolve

    @property
    def account_host(self) -> str:
        return (urlsplit(self.base_url).hostname or "").lower().rstrip(".")

    def patterns(self) -> tuple[str, ...]:
        own = (self.account_host,) if self.account_host else ()
        return own + VENDOR_ATTACHMENT_HOSTS.get(self.connector, ()) + self.extra_hosts

    def check(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, host, port, address to connect to) for `url`, or DownloadRefused."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower().rstrip(".")
        if scheme not in ("http", "https") or not host:
            raise DownloadRefused("only http(s) attachments can be downloaded")
        if not any(_matches(host, pattern) for pattern in self.patterns()):
            raise DownloadRefused(
                f"refused to download from {clean(host)}: it is not a host of the account "
                f"{clean(self.account)} (allow it with accounts.{clean(self.account)}."
                "attachment_hosts in the config)"
            )
        port = parts.port or (443 if scheme == "https" else 80)
        addresses = list(self.resolve(host, port))
        if not addresses:
            raise DownloadRefused(f"cannot find the attachment host {clean(host)}")
        if any(_inside(a) for a in addresses) and not self._account_inside():
            raise DownloadRefused(
                f"refused to download from {clean(host)}: it resolves to a local or private "
                "address, and the account is not on one"
            )
        return scheme, host, port, addresses[0]

    def _account_inside(self) -> bool:
        host = self.account_host
        if not host:
            return False
        try:
            return any(_inside(a) for a in self.resolve(host, 443))
        except DownloadRefused:
            return False


class AttachmentFetcher:
    """What the app is handed to fetch attachments, as it is handed a sync runner: the screen
    itself holds no network code."""

    def policy(
        self,
        *,
        account: str,
        base_url: str,
        connector: str,
        extra_hosts: tuple[str, ...],
        max_bytes: int,
    ) -> AttachmentPolicy:
        return AttachmentPolicy(account, base_url, connector, extra_hosts, max_bytes)

    def download(self, url: str, target: Path, policy: AttachmentPolicy) -> Path:
        return download(url, target, policy)


def _connection(scheme: str, host: str, port: int, address: str) -> http.client.HTTPConnection:
    """A connection to the address we checked (not a second lookup a DNS trick could change),
    with TLS still verified for the host name."""
    if scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=TIMEOUT_SECONDS
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)

    def pinned(_address, *args, **kwargs):  # type: ignore[no-untyped-def]
        return socket.create_connection((address, port), *args, **kwargs)

    connection._create_connection = pinned  # type: ignore[attr-defined]
    return connection


def download(url: str, target: Path, policy: AttachmentPolicy) -> Path:
    """Fetch `url` into the new file `target`; on any refusal or failure no file is left."""
    limit_mb = policy.max_bytes / (1024 * 1024)
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, address = policy.check(url)
        connection = _connection(scheme, host, port, address)
        try:
            parts = urlsplit(url)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", path, headers={"User-Agent": "agentdesk"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise DownloadRefused(f"{clean(host)} redirected nowhere")
                url = urljoin(url, location)
                continue  # the next hop is checked like the first
            if response.status != 200:
                raise DownloadRefused(
                    f"{clean(host)} answered {response.status} {clean(response.reason)}"
                )
            length = response.getheader("Content-Length")
            if length and length.strip().isdigit() and int(length) > policy.max_bytes:
                raise DownloadRefused(
                    f"the attachment is {int(length) / (1024 * 1024):.0f} MB, over the "
                    f"{limit_mb:g} MB limit (ui.attachment_max_mb)"
                )
            _stream(response, target, policy.max_bytes, limit_mb)
            return target
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadRefused(
                f"the download from {clean(host)} failed: {clean(str(exc))}"
            ) from None
        finally:
            connection.close()
    raise DownloadRefused(f"more than {MAX_REDIRECTS} redirects; stopped")


def _stream(response, target: Path, max_bytes: int, limit_mb: float) -> None:  # type: ignore[no-untyped-def]
    received = 0
    try:
        with open(target, "xb") as out:
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > max_bytes:  # whatever Content-Length said
                    raise DownloadRefused(
                        f"the attachment is over the {limit_mb:g} MB limit (ui.attachment_max_mb); "
                        "the partial file was removed"
                    )
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
