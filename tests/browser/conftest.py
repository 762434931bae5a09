"""Running `agentdesk serve` as a user would, and a headless Chromium to look at it.

Chromium is Debian's package (`/usr/bin/chromium`, installed by scripts/install-chromium.sh),
driven by the Python `playwright` package: never a downloaded browser build. Under CI
(`CI=true`) a missing browser or playwright fails the run; elsewhere the browser tests skip.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-chromium.sh"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # the served app is on loopback; never ask a proxy for it
]
START_TIMEOUT = 20.0
_SERVING = re.compile(r"serving on (https?://\S+)")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"browser test cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def serve_argv(*args: str) -> list[str]:
    """`python -m agentdesk serve ARGS`, or the module's own entry while the CLI lacks it."""
    from agentdesk import cli

    parser = cli.build_parser()
    commands = {
        name
        for action in parser._subparsers._group_actions  # type: ignore[union-attr]
        for name in getattr(action, "choices", {}) or {}
    }
    if "serve" in commands:
        return [sys.executable, "-m", "agentdesk", "serve", *args]
    return [sys.executable, "-m", "agentdesk.serve", *args]


@dataclass
class Served:
    process: subprocess.Popen[str]
    printed_url: str
    """The URL as printed: on loopback it carries this launch's `?token=`."""
    output: list[str]

    @property
    def url(self) -> str:
        """The server's root, without the token (what a tab that has its cookie reloads)."""
        return self.printed_url.split("?", 1)[0]

    @property
    def token(self) -> str | None:
        _, _, query = self.printed_url.partition("?token=")
        return query or None


def _pump(stream, lines: queue.Queue[str | None], sink: list[str]) -> None:
    for line in stream:
        sink.append(line)
        lines.put(line)
    lines.put(None)


@contextmanager
def running_server(
    *args: str, env: dict[str, str] | None = None, argv: list[str] | None = None
) -> Iterator[Served]:
    """Start `agentdesk serve --port 0 ARGS` (or `argv`) and wait for 'serving on URL'."""
    process = subprocess.Popen(
        argv or serve_argv("--port", "0", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=REPO,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []
    reader = threading.Thread(target=_pump, args=(process.stdout, lines, output), daemon=True)
    reader.start()
    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"serve did not start: {''.join(output)}") from None
            if line is None:
                raise AssertionError(f"serve exited early: {''.join(output)}")
            if match := _SERVING.search(line):
                url = match.group(1)
        yield Served(process, url, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; installed under CI (as root) when missing, else a skip."""
    if not CHROMIUM.exists():
        if in_ci() and os.geteuid() == 0 and shutil.which("apt-get"):
            result = subprocess.run(
                ["bash", str(INSTALL_SCRIPT)],
                check=False,
                capture_output=True,
                text=True,
                timeout=900,
            )
            if result.returncode != 0:
                pytest.fail(f"installing chromium failed:\n{result.stderr}", pytrace=False)
        if not CHROMIUM.exists():
            _unavailable(f"{CHROMIUM} is missing: run `sudo {INSTALL_SCRIPT.relative_to(REPO)}`")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the Python package playwright is missing: pip install -e '.[test]'")
    return CHROMIUM


# Installed before the page's scripts run: xterm.js keeps its Terminal inside textual.js's
# bundle, so we catch the instance when it sets its `_addonManager` field, then read the text
# buffer (the renderer is a canvas, there is no DOM text to query).
TERMINAL_HOOK = """
(() => {
  Object.defineProperty(Object.prototype, '_addonManager', {
    configurable: true,
    set(value) {
      Object.defineProperty(this, '_addonManager',
        {value, writable: true, configurable: true, enumerable: true});
      window.__agentdeskTerminal = this;  // only xterm's public Terminal has this field
    },
  });
  window.__agentdeskScreen = () => {
    const terminal = window.__agentdeskTerminal;
    if (!terminal) return '';
    const buffer = terminal.buffer.active, rows = [];
    for (let y = 0; y < terminal.rows; y++) {
      const line = buffer.getLine(buffer.viewportY + y);
      rows.push(line ? line.translateToString(true) : '');
    }
    return rows.join('\\n');
  };
})();
"""
