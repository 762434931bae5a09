"""The only module that reads or writes account tokens.

Where a token comes from, in order: a token held in memory (the demo's, never written
anywhere), `AGENTDESK_TOKEN_<NAME>`, the account's `token_command` (like aerc and himalaya:
`pass show zendesk/acme`), the plain-text file the user explicitly opted into, the keyring.
A token never appears in config, the store, logs or exception messages: errors here say
where the token was looked for, never what it is.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
from pathlib import Path

from agentdesk.config import AccountConfig
from agentdesk.paths import Profile

KEYRING_SERVICE = "agentdesk"
_memory: dict[str, str] = {}
_redact: set[str] = set()
log = logging.getLogger(__name__)


class SecretError(Exception):
    """No usable token; the message says where it was looked for and how to fix it."""


def env_var_name(account: str) -> str:
    return "AGENTDESK_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", account).upper()


def _remember_for_redaction(token: str) -> str:
    if len(token) >= 6:
        _redact.add(token)
    return token


def known_secrets() -> frozenset[str]:
    """Every token this process has handled, for the log redaction filter."""
    return frozenset(_redact)


def hold_in_memory(account: str, token: str) -> None:
    """For the demo: the token lives only in this process."""
    _memory[account] = _remember_for_redaction(token)


def _plaintext_file(profile: Profile, account: str) -> Path:
    return profile.secrets_dir / f"{account}.token"


def store_token(profile: Profile, account: AccountConfig, token: str) -> str:
    """Save a token where the account says; returns a phrase naming where (for the user)."""
    _remember_for_redaction(token)
    if account.plaintext_token:
        directory = profile.secrets_dir
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        path = _plaintext_file(profile, account.name)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token)
        return f"a plain-text file ({path}, mode 0600)"
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(KEYRING_SERVICE, account.name, token)
    except (KeyringError, RuntimeError) as exc:
        raise SecretError(no_keyring_advice(account.name, f" ({type(exc).__name__})")) from None
    return "the system keyring"


def keyring_available() -> bool:
    """False where the keyring library found no backend at all (SSH sessions, servers)."""
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    return not isinstance(keyring.get_keyring(), NoKeyring)


def no_keyring_advice(account: str, reason: str = "") -> str:
    """The one sentence for a machine where the token cannot go to a keyring: the choices."""
    return (
        f"no keyring is available to store the token for {account}{reason}: export "
        f"{env_var_name(account)} and run this again (agentdesk then reads the token from the "
        "environment and stores nothing), add the account with --token-command 'pass show …' "
        "to fetch it from a password manager, or add --plaintext-token to keep it in a 0600 file"
    )


def delete_token(profile: Profile, account: str) -> None:
    _memory.pop(account, None)
    path = _plaintext_file(profile, account)
    if path.exists():
        path.unlink()
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(KEYRING_SERVICE, account)
    except (PasswordDeleteError, KeyringError, RuntimeError):
        pass


def get_token(profile: Profile, account: AccountConfig) -> str:
    if account.name in _memory:
        return _memory[account.name]
    from_env = os.environ.get(env_var_name(account.name))
    if from_env:
        return _remember_for_redaction(from_env.strip())
    if account.token_command:
        return _remember_for_redaction(_run_token_command(account))
    if account.plaintext_token:
        path = _plaintext_file(profile, account.name)
        if path.exists():
            return _remember_for_redaction(path.read_text(encoding="utf-8").strip())
    import keyring
    from keyring.errors import KeyringError

    try:
        token = keyring.get_password(KEYRING_SERVICE, account.name)
    except (KeyringError, RuntimeError) as exc:
        raise SecretError(
            f"the keyring could not be read for {account.name} ({type(exc).__name__}); "
            f"set token_command or {env_var_name(account.name)}"
        ) from None
    if not token:
        raise SecretError(
            f"no token for {account.name}: run `agentdesk accounts add {account.name}` "
            f"again, or set token_command or {env_var_name(account.name)}"
        )
    return _remember_for_redaction(token)


def token_source(profile: Profile, account: AccountConfig) -> str:
    """Where the token would come from, for `accounts list` (never the token)."""
    if account.name in _memory:
        return "memory"
    if os.environ.get(env_var_name(account.name)):
        return "environment"
    if account.token_command:
        return "token_command"
    if account.plaintext_token:
        return "PLAIN-TEXT FILE"
    return "keyring"


def _run_token_command(account: AccountConfig) -> str:
    assert account.token_command
    try:
        done = subprocess.run(
            shlex.split(account.token_command),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SecretError(
            f"token_command for {account.name} could not run ({type(exc).__name__})"
        ) from None
    token = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    if done.returncode != 0 or not token:
        # stderr may echo the secret on some tools: report the exit status only.
        raise SecretError(
            f"token_command for {account.name} failed (exit {done.returncode}) "
            "or printed nothing"
        )
    return token
