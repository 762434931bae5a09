"""What every `agentdesk` command shares: the profile, the config and the store, opened with
their failures turned into one sentence and an exit code.

Only the standard library and the sanitizer at import: `agentdesk --help` stays fast.
"""

from __future__ import annotations

import os
import sys

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # what a shell reports for a program stopped by SIGPIPE


class CliError(Exception):
    """A failure reported as one line on stderr with a non-zero exit."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def open_profile():
    from agentdesk import logs
    from agentdesk.paths import current_profile

    profile = current_profile().ensure()
    logs.setup(profile)
    from agentdesk import sla

    try:  # SLA due times are computed at ingest and shown by the app: one policy for both
        sla.configure(sla.load_policy(profile.config_dir))
    except sla.PolicyError as exc:
        raise CliError(str(exc)) from None
    return profile


def load_config(profile):
    from agentdesk import config

    try:
        return config.load(profile)
    except config.ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def open_store(profile):
    from agentdesk.store import Store, StoreError

    try:
        return Store.open(profile.store_file)
    except StoreError as exc:
        raise CliError(str(exc)) from None


def account_settings(account):
    from agentdesk.connectors.base import AccountSettings

    return AccountSettings(
        name=account.name,
        connector=account.connector,
        base_url=account.url,
        user=account.user,
        ca_bundle=account.ca_bundle,
        cache_days=account.cache_days,
        cache_open=account.cache_open,
        cache_history=account.cache_history,
        history_batch=account.history_batch,
    )


def sync_accounts(profile, config, only: str | None = None):
    """(settings, token) for each configured account; a missing token is reported, not fatal."""
    from agentdesk import secrets

    pairs = []
    problems = []
    for account in config.accounts.values():
        if only and account.name != only:
            continue
        try:
            pairs.append((account_settings(account), secrets.get_token(profile, account)))
        except secrets.SecretError as exc:
            problems.append(str(exc))
    return pairs, problems


def mirror_accounts(store, config) -> None:
    for account in config.accounts.values():
        store.upsert_account(account.name, account.connector, account.url, account.user)


def quiet_closed_pipe() -> int:
    """After `agentdesk audit --json | head`: the reader left, so stop quietly as `cat` would.

    Point the standard streams at /dev/null so the interpreter's last flush cannot fail too.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # a replaced stream (tests) has no descriptor of its own
            pass
    return EXIT_BROKEN_PIPE
