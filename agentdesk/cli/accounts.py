"""`agentdesk accounts add|list|test|remove`."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlparse

from agentdesk.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    account_settings,
    load_config,
    open_profile,
    open_store,
)
from agentdesk.sanitize import clean, safe_json


def _is_loopback(url: str) -> bool:
    import ipaddress

    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:  # a name like 127.0.0.1.example.com is not loopback: only real addresses count
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_insecure_http: bool) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise CliError(f"{url!r} is not an http(s) URL", EXIT_USAGE)
    if parsed.scheme == "http" and not _is_loopback(url) and not allow_insecure_http:
        raise CliError(
            f"{url} is plain HTTP to another machine: the token would cross the network "
            "unencrypted; use https:// (or --allow-insecure-http if you really mean it)",
            EXIT_USAGE,
        )


def cmd_accounts(args: argparse.Namespace) -> int:
    profile = open_profile()
    action = args.accounts_action
    if action == "add":
        return _accounts_add(profile, args)
    config = load_config(profile)
    if action == "list":
        return _accounts_list(profile, config, args)
    if args.name not in config.accounts:
        known = ", ".join(sorted(config.accounts)) or "none yet"
        raise CliError(f"no account named {args.name!r} (configured: {known})", 3)
    account = config.accounts[args.name]
    if action == "remove":
        from agentdesk import config as config_module
        from agentdesk import secrets

        store = open_store(profile)
        store.remove_account(account.name)
        store.close()
        secrets.delete_token(profile, account.name)
        config_module.remove_account(profile, account.name)
        print(f"removed {account.name} and purged its cached conversations")
        return EXIT_OK
    if action == "test":
        return _accounts_test(profile, account, args)
    raise CliError(f"unknown accounts action {action}", EXIT_USAGE)


def _sentence_case(label: str) -> str:
    return label[:1].upper() + label[1:]


def _accounts_add(profile, args: argparse.Namespace) -> int:
    from agentdesk import config as config_module
    from agentdesk.config import ACCOUNT_NAME, AccountConfig
    from agentdesk.connectors import registry

    if not ACCOUNT_NAME.match(args.name):
        raise CliError("account names are letters, digits, - and _ (up to 64)", EXIT_USAGE)
    kinds = registry.available()
    if args.connector not in kinds:
        raise CliError(
            f"unknown connector {args.connector!r} (available: {', '.join(sorted(kinds))})",
            EXIT_USAGE,
        )
    check_url(args.url, allow_insecure_http=args.allow_insecure_http)
    connector = kinds[args.connector]
    # What the vendor calls the user and the secret (Help Scout: an app id and its secret).
    user_label = getattr(connector, "user_prompt", None)
    secret_label = getattr(connector, "secret_prompt", "API token")
    if args.user is None:
        if user_label is None or args.token_stdin or not sys.stdin.isatty():
            raise CliError("--user is required", EXIT_USAGE)
        args.user = input(f"{_sentence_case(user_label)} for {args.url}: ").strip()
        if not args.user:
            raise CliError(f"no {user_label} given", EXIT_USAGE)
    account = AccountConfig(
        name=args.name,
        connector=args.connector,
        url=args.url.rstrip("/"),
        user=args.user,
        token_command=args.token_command,
        plaintext_token=args.plaintext_token,
        ca_bundle=args.ca_bundle,
        allow_insecure_http=args.allow_insecure_http,
    )
    where = (
        "token_command"
        if args.token_command
        else _keep_token(
            profile, account, args, secret_label, getattr(connector, "keyring_secret", None)
        )
    )
    config_module.save_account(profile, account)
    store = open_store(profile)
    store.upsert_account(account.name, account.connector, account.url, account.user)
    store.close()
    print(f"added {account.name} ({account.connector}, {account.url}); token in {where}")
    return EXIT_OK


def _keep_token(profile, account, args: argparse.Namespace, secret_label: str, keep) -> str:
    """Ask for the new account's token (the vendor's `secret_label`: "API token", "app
    secret") and store it, through `keep(user, secret)` where the connector keeps more than
    the secret (Help Scout: its app id too); returns where it is kept, for the user."""
    from agentdesk import secrets

    if secrets.token_source(profile, account) == "environment" and not account.plaintext_token:
        # The exported variable wins over any stored token, so there is nothing to ask or keep.
        return f"the environment ({secrets.env_var_name(account.name)}); nothing was stored"
    if not account.plaintext_token and not secrets.keyring_available():
        raise CliError(secrets.no_keyring_advice(account.name))  # before asking for it in vain
    no_token = (
        f"no {secret_label} given: type it at the prompt, pipe it with --token-stdin, or use "
        "--token-command"
    )
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    else:
        import getpass

        try:
            prompt = f"{_sentence_case(secret_label)} for {args.user} on {args.url}: "
            token = getpass.getpass(prompt).strip()
        except EOFError:  # the input ended (Ctrl+D, or no terminal and nothing piped)
            print(file=sys.stderr)  # off the prompt's line
            raise CliError(no_token, EXIT_USAGE) from None
    if not token:
        raise CliError(no_token, EXIT_USAGE)
    if keep is not None:
        token = keep(args.user, token)
    try:
        return secrets.store_token(profile, account, token)
    except secrets.SecretError as exc:
        raise CliError(str(exc)) from None


def _accounts_list(profile, config, args: argparse.Namespace) -> int:
    from agentdesk import secrets

    store = open_store(profile)
    mirrored = {row.name: row for row in store.accounts()}
    store.close()
    rows = []
    for account in config.accounts.values():
        row = mirrored.get(account.name)
        rows.append(
            {
                "name": account.name,
                "connector": account.connector,
                "url": account.url,
                "user": account.user,
                "token": secrets.token_source(profile, account),
                "role": row.role if row else None,
                "last_sync": row.last_sync_at.isoformat() if row and row.last_sync_at else None,
                "last_error": row.last_error if row else None,
                "warning": row.sync_warning if row else None,
                "cache": {
                    "days": account.cache_days,
                    "open": account.cache_open,
                    "history": account.cache_history,
                    "history_batch": account.history_batch,
                },
            }
        )
    if args.json:
        print(safe_json(rows, indent=2))
    elif not rows:
        print("no accounts yet: agentdesk accounts add NAME --connector KIND --url URL --user USER")
    else:
        name_width = max(16, *(len(r["name"]) for r in rows))
        kind_width = max(len(r["connector"]) for r in rows)  # djangohelpdesk is the longest
        for r in rows:
            flag = "  (!) token stored in plain text" if r["token"] == "PLAIN-TEXT FILE" else ""
            print(
                clean(
                    f"{r['name']:<{name_width}} {r['connector']:<{kind_width}} "
                    f"{r['url']}  {r['user']}  "
                    f"role={r['role'] or '?'}  token={r['token']}  cache={_cache_policy(r)}{flag}"
                )
            )
    return EXIT_OK


def _cache_policy(row: dict) -> str:
    """`90d+open+history`: what the account caches, as the README describes it."""
    cache = row["cache"]
    parts = [f"{cache['days']}d"]
    if cache["open"]:
        parts.append("open")
    if cache["history"]:
        parts.append("history")
    return "+".join(parts)


def _accounts_test(profile, account, args: argparse.Namespace) -> int:
    import asyncio

    from agentdesk import secrets
    from agentdesk.connectors import registry
    from agentdesk.connectors.base import ConnectorError
    from agentdesk.connectors.http import INTERACTIVE_POLICY

    try:
        token = secrets.get_token(profile, account)
    except secrets.SecretError as exc:
        raise CliError(str(exc)) from None

    async def probe():
        connector = registry.get(account.connector)(
            account_settings(account), token, policy=INTERACTIVE_POLICY
        )
        try:
            return await connector.whoami()
        finally:
            await connector.aclose()

    try:
        me = asyncio.run(probe())
    except ConnectorError as exc:
        raise CliError(str(exc)) from None
    store = open_store(profile)
    store.record_sync_info(account.name, role=me.role, user_external_id=me.external_id)
    store.close()
    if args.json:
        print(safe_json({"account": account.name, "ok": True, "user": me.email, "role": me.role}))
    else:
        print(clean(f"{account.name}: signed in as {me.name} <{me.email}>, role {me.role}"))
    return EXIT_OK
