"""Hostile customer text end to end (issue 9 §2): simulator → connector → store → the REAL app
in a pseudo-terminal (TERM=xterm-256color, 160x48). We read every byte the app writes while a
few keys are pressed and assert that no control sequence carried by customer text reaches the
terminal (the app's own sequences are fine: each hostile sequence carries a marker that only
the customer text has). The log file gets the same check.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from agentdesk.sim.server import start_in_thread
from tests.adversarial.support import add_account, cli_argv, cli_env, run_cli, sim_post

# Each hostile sequence followed by a marker: if the bytes pass through raw, the marker is
# glued to the sequence in the output; rendered safely, the escape is replaced or shown.
SEQUENCES = {
    "osc52": "\x1b]52;c;cHduZWQ=\x07",  # clipboard write
    "osc0": "\x1b]0;PWNTITLE\x07",  # window title
    "osc2": "\x1b]2;PWNTITLE2\x1b\\",
    "osc8": "\x1b]8;;http://evil.example/\x1b\\clickme\x1b]8;;\x1b\\",
    "dcs": "\x1bPq#0;2;0;0;0\x1b\\",
    "csi_clear": "\x1b[2JCLEARED",
    "c1_csi": "\x9b31mC1RED",
    "bel": "BELL\x07BELL",
    "esc_c": "\x1bcRESET",
}
MARKUP = "[@click=app.quit]Win[/] [link=http://x]L[/link] [/ [$accent] [bold unclosed"
BIDI = "\u202eevil\u202c\u200b\u2066iso\u2069"
LONG = "W" * 6000
SUBJECT = f"{MARKUP} SUBJ{SEQUENCES['osc0']}{SEQUENCES['csi_clear']}{BIDI}"
BODY = "\n".join(f"{name}: {seq}" for name, seq in SEQUENCES.items()) + f"\n{MARKUP}\n{LONG}"
NAME = f"Mallory{SEQUENCES['osc52']}{SEQUENCES['c1_csi']}{BIDI}"

FORBIDDEN = [
    b"\x1b]52;c;cHduZWQ=",
    b"\x1b]0;PWNTITLE",
    b"\x1b]2;PWNTITLE2",
    b"\x1b]8;;http://evil",
    b"\x1bPq#0",
    b"\x1b[2JCLEARED",
    b"\xc2\x9b31m",  # U+009B: a C1 CSI that xterm obeys in UTF-8 mode
    b"\x9b31mC1RED",
    b"BELL\x07",
    b"\x1bcRESET",
    "\u202e".encode(),
    "\u2066".encode(),
]


def _read_until(fd: int, sink: bytearray, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done(sink):
        left = deadline - time.monotonic()
        if left <= 0:
            tail = bytes(sink[-600:])
            raise AssertionError(f"the app did not get there in {timeout}s; last bytes {tail!r}")
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            sink.extend(chunk)


def _settle(fd: int, sink: bytearray, quiet: float = 0.3, limit: float = 10.0) -> None:
    """Read until the app has written nothing for `quiet` s (it finished answering a key)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], quiet)
        if not ready:
            return
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        sink.extend(chunk)


def _plain(data: bytes) -> str:
    """The printable text in the output (escape sequences removed) to look for words."""
    import re

    return re.sub(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]", b"", data).decode(
        "utf-8", "replace"
    )


@pytest.fixture(scope="module")
def hostile_profile(tmp_path_factory: pytest.TempPathFactory):
    with start_in_thread("zendesk", seed=9, scale=20) as sim:
        created = sim_post(
            sim.base_url,
            "inbound",
            {"channel": "email", "customer_email": "mallory@evil.example",
             "customer_name": NAME, "subject": SUBJECT, "text": BODY},
        )  # fmt: skip
        # Backend-supplied names too: every agent, every team, and the signed-in user.
        for user in sim.world.users.values():
            if user.role != "end-user":
                user.name = f"{user.name} {NAME}"
        for group in sim.world.groups.values():
            group.name = f"{group.name}{SEQUENCES['osc52']}{BIDI}"
        sim.world.clock.advance(120)
        home = tmp_path_factory.mktemp("pty-home")
        env = cli_env(home, {"acme": sim.token})
        add_account(env, "acme", "zendesk", sim.base_url, sim.user)
        done = run_cli(env, "sync", "--once")
        assert done.returncode == 0, done.stderr
        yield home, env, created


def test_hostile_text_sends_no_control_sequence_to_the_terminal(hostile_profile) -> None:
    home, env, _created = hostile_profile
    env = {**env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "48"}
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real app on the pty
        os.execve(cli_argv()[0], cli_argv(), env)
    out = bytearray()
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        _read_until(fd, out, lambda b: "pending" in _plain(bytes(b)), 60)
        mark = len(out)
        for keys, expect in (
            # Open the newest conversation, the hostile one; its thread (which loads in a
            # worker) shows the title-setting text literally. The app may already have opened
            # it at start-up, before this key: look for it in everything written so far.
            (b"\r", "PWNTITLE"),
            (b"\x10", "Search"),  # ctrl+p: the command palette
            (b"SUBJ", None),
            (b"\x1b", None),
            (b"?", None),  # help
            (b"\x1b", None),
            (b"\t", None),  # walk the panes
            (b"\t", None),
            (b"j", None),
            (b"q", None),
        ):
            os.write(fd, keys)
            if expect:
                since = 0 if keys == b"\r" else mark
                _read_until(fd, out, lambda b, m=since, e=expect: e in _plain(bytes(b[m:])), 30)
            # A lone ESC is told apart from an escape sequence by a pause: let each key land.
            _settle(fd, out)
            mark = len(out)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
        os.close(fd)
    data = bytes(out)
    shown = _plain(data)
    # The hostile text was really on screen (shown literally, its escapes made visible).
    for word in ("Mallory", "PWNTITLE", "CLEARED", "C1RED", "[@click=app.quit]"):
        assert word in shown, word
    found = [seq for seq in FORBIDDEN if seq in data]
    assert found == [], f"customer text reached the terminal raw: {found}"
    logs = b"".join(p.read_bytes() for p in (home / "logs").glob("*") if p.is_file())
    assert [seq for seq in FORBIDDEN if seq in logs] == []


def _alive(pid: int) -> bool:
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if done:
        _REAPED.add(pid)
        return False
    return True


_REAPED: set[int] = set()


def _reap(pid: int) -> None:
    if pid in _REAPED:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def test_hostile_text_in_sync_output_and_json_is_inert(hostile_profile) -> None:
    _home, env, created = hostile_profile
    queued = run_cli(env, "do", f"acme:{created['conversation_id']}", "note", "--text", BODY)
    assert queued.returncode == 0, queued.stderr
    commands = (
        ("sync", "--once"), ("sync", "--once", "--json"), ("accounts", "list"),
        ("accounts", "test", "acme"), ("accounts", "test", "acme", "--json"),
        ("report", "--csv"), ("report", "--json"), ("report",),
        ("audit", "--csv"), ("audit", "--json"), ("audit",),
    )  # fmt: skip
    seen = 0
    for args in commands:
        done = subprocess.run(
            cli_argv(*args), env=env, capture_output=True, timeout=120, check=False
        )
        both = done.stdout + done.stderr
        assert [seq for seq in FORBIDDEN if seq in both] == [], (args, both[-600:])
        assert done.returncode == 0, (args, done.stderr[-400:])
        seen += b"Mallory" in both or b"PWNTITLE" in both
    assert seen >= 6  # the hostile text really was in the output
