"""The TOML config: accounts (authoritative, without secrets) and settings.

Validated strictly: a mistake is reported with the file, the line and the key. Settings can be
overridden by `AGENTDESK_*` environment variables; `AGENTDESK_HOME` relocates the profile.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentdesk.paths import Profile

ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ACCOUNT_KEYS = {
    "connector": str,
    "url": str,
    "user": str,
    "token_command": str,
    "plaintext_token": bool,
    "ca_bundle": str,
    "cache_days": int,
    "cache_open": bool,
    "cache_history": bool,
    "history_batch": int,
    "allow_insecure_http": bool,
    "attachment_hosts": list,
}
# Whole-number settings and the range each must fall in (inclusive).
_ACCOUNT_RANGES = {"cache_days": (1, 36_500), "history_batch": (1, 1_000)}
_REQUIRED = ("connector", "url", "user")
_TOP_KEYS = {"accounts", "ui", "keymap", "team"}
_UI_KEYS: dict[str, type | tuple[type, ...]] = {
    "theme": str, "bell": bool, "sync_interval": int,
    "desktop_notifications": str, "fast_lane_share": (int, float), "undo_seconds": int,
    "attachment_max_mb": int,
}  # fmt: skip
DESKTOP_NOTIFICATIONS = ("off", "osc9", "osc777")
SYNC_INTERVAL_MAX = 86_400
DEFAULT_ATTACHMENT_MB = 50


class ConfigError(Exception):
    """The config file is wrong; the message names the file, line and key."""


@dataclass(frozen=True, slots=True)
class AccountConfig:
    name: str
    connector: str
    url: str
    user: str
    token_command: str | None = None
    plaintext_token: bool = False
    ca_bundle: str | None = None
    cache_days: int = 90
    cache_open: bool = True
    """Also cache every open conversation, however old."""
    cache_history: bool = True
    """Also cache each cached customer's other conversations, in the background."""
    history_batch: int = 50
    """Customers whose history one sync round fetches at most."""
    allow_insecure_http: bool = False
    attachment_hosts: tuple[str, ...] = ()
    """Hosts (`*.example.com` for every subdomain) attachments may also come from."""


@dataclass(frozen=True, slots=True)
class UiConfig:
    theme: str = "agentdesk-dark"
    bell: bool = False
    sync_interval: int = 30
    desktop_notifications: str = "off"
    """"osc9" or "osc777": the terminal's desktop notification on a new assignment or a
    customer reply (the text is agentdesk's, never the customer's)."""
    undo_seconds: int = 10
    """How long each action waits before it is sent, so that `u` can take it back (0: none)."""
    fast_lane_share: float = 0.2
    """The share of each vendor's rate limit the fast lane may spend (0 turns it off)."""
    attachment_max_mb: int = DEFAULT_ATTACHMENT_MB
    """The biggest attachment downloaded, checked while it streams."""


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    ui: UiConfig = field(default_factory=UiConfig)
    keymap: dict[str, str] = field(default_factory=dict)


def _line_of(text: str, needle: str) -> int:
    lines = text.splitlines()
    set_here = re.compile(rf"\s*\[*\s*{re.escape(needle)}(?![\w-])")
    for number, line in enumerate(lines, start=1):  # where the key is set, first
        if set_here.match(line):
            return number
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return 1


_KIND_WORDS = {str: "text in quotes", int: "a whole number", bool: "true or false",
               list: "a list [ ... ]", float: "a number", tuple: "a list [ ... ]"}


def _kind(expected: type | tuple[type, ...]) -> str:
    """What a TOML value must be, in the words of someone editing the file."""
    if isinstance(expected, tuple):
        return "a number"
    return _KIND_WORDS.get(expected, f"a {expected.__name__}")


def _fail(path: Path, text: str, key: str, problem: str, needle: str | None = None) -> ConfigError:
    line = _line_of(text, needle or key.rsplit(".", 1)[-1])
    return ConfigError(f"{path}:{line}: {key}: {problem}")


def keymap_problems(config: Config, known_ids: Iterable[str]) -> list[str]:
    """One sentence per `[keymap]` id that names no binding: file, line, the nearest id."""
    known = sorted(set(known_ids))
    text = read_text(config.path) if config.path.exists() else ""
    problems = []
    for binding_id in sorted(set(config.keymap) - set(known)):
        near = difflib.get_close_matches(binding_id, known, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else " (the help screen, ?, lists every id)"
        line = _line_of(text, binding_id)
        problems.append(f"{config.path}:{line}: keymap: {binding_id!r} is not a binding id{hint}")
    return problems


_KEY_LINE = re.compile(r"^\s*(?:\[+\s*([^\]]+?)\s*\]+|([A-Za-z0-9_.\"' -]+?)\s*=)")
_DEEPEST = 100
"""Brackets or braces open at once beyond which a value is called too deeply nested."""


def _key_at(text: str, line: int) -> str:
    """The key set on `line` (or the nearest line above it), for a sentence about that line."""
    lines = text.splitlines()
    key = None
    for number in range(min(line, len(lines)), 0, -1):
        match = _KEY_LINE.match(lines[number - 1])
        if match and match.group(1):  # the table the key is in
            table = match.group(1).strip()
            return f"{table}.{key}" if key else table
        if match and key is None:
            key = match.group(2).strip().strip("\"'")
    return key or "(top level)"


def read_text(path: Path) -> str:
    """The config file's text; bytes that are not UTF-8 are one sentence with file and line."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        readable = raw[: exc.start].decode("utf-8", "replace")
        key = _key_at(readable + "\n", line)
        raise ConfigError(
            f"{path}:{line}: {key}: the file is not UTF-8 text (byte {exc.start + 1}); "
            "save it as UTF-8"
        ) from None


def _too_deep_at(text: str) -> int:
    """The line where brackets and braces first nest deeper than anyone writes by hand."""
    depth, line, quote = 0, 1, ""
    for char in text:
        if char == "\n":
            line += 1
        elif quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > _DEEPEST:
                return line
        elif char in "]}":
            depth -= 1
    return 1


def parse_toml(path: Path, text: str) -> dict:
    """The TOML document; a syntax error or absurd nesting is one sentence naming the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        line = _too_deep_at(text)
        raise ConfigError(
            f"{path}:{line}: {_key_at(text, line)}: nested too deeply "
            f"(more than {_DEEPEST} brackets or braces open at once)"
        ) from None


def load(profile: Profile) -> Config:
    path = profile.config_file
    if not path.exists():
        return _apply_env(Config(path=path))
    text = read_text(path)
    data = parse_toml(path, text)
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(path, text, key, f"unknown setting (known: {', '.join(sorted(_TOP_KEYS))})")
    accounts: dict[str, AccountConfig] = {}
    raw_accounts = data.get("accounts", {})
    if not isinstance(raw_accounts, dict):
        raise _fail(path, text, "accounts", "must be a table of accounts")
    for name, raw in raw_accounts.items():
        where = f"accounts.{name}"
        if not ACCOUNT_NAME.match(name):
            raise _fail(path, text, where, "account names are letters, digits, - and _", name)
        if not isinstance(raw, dict):
            raise _fail(path, text, where, "must be a table", name)
        for key, value in raw.items():
            expected = _ACCOUNT_KEYS.get(key)
            if expected is None:
                raise _fail(path, text, f"{where}.{key}", "unknown key", key)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise _fail(path, text, f"{where}.{key}", f"must be {_kind(expected)}", key)
            if key == "attachment_hosts":
                if not all(isinstance(host, str) and host.strip() for host in value):
                    raise _fail(path, text, f"{where}.{key}", "must be a list of host names", key)
                raw = {**raw, key: tuple(host.strip().lower() for host in value)}
            if key in _ACCOUNT_RANGES:
                low, high = _ACCOUNT_RANGES[key]
                if not low <= value <= high:
                    raise _fail(path, text, f"{where}.{key}", f"must be from {low} to {high}", key)
        for key in _REQUIRED:
            if key not in raw:
                raise _fail(path, text, f"{where}.{key}", "is required", name)
        accounts[name] = AccountConfig(name=name, **raw)
    for table in ("ui", "keymap", "team"):
        if not isinstance(data.get(table, {}), dict):
            raise _fail(path, text, table, f"must be a table ([{table}] with key = value lines)")
    raw_ui = data.get("ui", {})
    for key, value in raw_ui.items():
        expected = _UI_KEYS.get(key)
        if expected is None:
            raise _fail(path, text, f"ui.{key}", "unknown key", key)
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise _fail(path, text, f"ui.{key}", f"must be {_kind(expected)}", key)
    if raw_ui.get("desktop_notifications", "off") not in DESKTOP_NOTIFICATIONS:
        raise _fail(
            path,
            text,
            "ui.desktop_notifications",
            f"must be one of {', '.join(DESKTOP_NOTIFICATIONS)}",
            "desktop_notifications",
        )
    if not 1 <= raw_ui.get("sync_interval", 30) <= SYNC_INTERVAL_MAX:
        raise _fail(
            path,
            text,
            "ui.sync_interval",
            f"must be from 1 to {SYNC_INTERVAL_MAX} seconds",
            "sync_interval",
        )
    if not 1 <= raw_ui.get("attachment_max_mb", DEFAULT_ATTACHMENT_MB) <= 100_000:
        raise _fail(
            path,
            text,
            "ui.attachment_max_mb",
            "must be from 1 to 100000 (megabytes)",
            "attachment_max_mb",
        )
    if not 0 <= raw_ui.get("undo_seconds", 10) <= 300:
        raise _fail(path, text, "ui.undo_seconds", "must be from 0 to 300", "undo_seconds")
    if not 0 <= raw_ui.get("fast_lane_share", 0.2) <= 1:
        raise _fail(path, text, "ui.fast_lane_share", "must be from 0 to 1", "fast_lane_share")
    keymap = data.get("keymap", {})
    for binding_id, keys in keymap.items():
        if not isinstance(keys, str):
            raise _fail(path, text, f"keymap.{binding_id}", "must be a string of keys", binding_id)
    return _apply_env(Config(path=path, accounts=accounts, ui=UiConfig(**raw_ui), keymap=keymap))


def _apply_env(config: Config) -> Config:
    ui = config.ui
    if theme := os.environ.get("AGENTDESK_THEME"):
        ui = replace(ui, theme=theme)
    if interval := os.environ.get("AGENTDESK_SYNC_INTERVAL"):
        if not interval.isdigit() or not 1 <= int(interval) <= SYNC_INTERVAL_MAX:
            raise ConfigError(
                f"AGENTDESK_SYNC_INTERVAL: must be whole seconds from 1 to {SYNC_INTERVAL_MAX}, "
                f"got {interval!r}"
            )
        ui = replace(ui, sync_interval=int(interval))
    if bell := os.environ.get("AGENTDESK_BELL"):
        ui = replace(ui, bell=bell.lower() in ("1", "true", "yes", "on"))
    return replace(config, ui=ui)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def _toml_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _toml_string(str(value))


def save_account(profile: Profile, account: AccountConfig) -> None:
    """Add or replace one account's table, keeping the rest of the file as the user wrote it."""
    path = profile.config_file
    text = read_text(path) if path.exists() else ""
    text = _drop_account_table(text, account.name)
    lines = [f"[accounts.{account.name}]"]
    for key in _ACCOUNT_KEYS:
        value = getattr(account, key)
        default = AccountConfig.__dataclass_fields__[key].default
        if key in _REQUIRED or (value is not None and value != default):
            lines.append(f"{key} = {_toml_value(value)}")
    block = "\n".join(lines) + "\n"
    text = (text.rstrip() + "\n\n" if text.strip() else "") + block
    _write_private(path, text)


def remove_account(profile: Profile, name: str) -> bool:
    path = profile.config_file
    if not path.exists():
        return False
    text = read_text(path)
    new = _drop_account_table(text, name)
    if new == text:
        return False
    _write_private(path, new)
    return True


def _drop_account_table(text: str, name: str) -> str:
    out: list[str] = []
    skipping = False
    header = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")
    for line in text.splitlines():
        match = header.match(line)
        if match:
            skipping = match.group(1).strip() == f"accounts.{name}"
        if not skipping:
            out.append(line)
    return "\n".join(out).rstrip() + ("\n" if out else "")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
