"""`agentdesk`: the app and its commands.

Imports are deferred to the command that needs them: the TUI's cold start must not pay for
httpx, the simulator or the connectors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urlparse

from agentdesk import __version__
from agentdesk.sanitize import clean, safe_json

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # what a shell reports for a program stopped by SIGPIPE


class CliError(Exception):
    """A failure reported as one line on stderr with a non-zero exit."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _profile():
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


def _config(profile):
    from agentdesk import config

    try:
        return config.load(profile)
    except config.ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _open_store(profile):
    from agentdesk.store import Store, StoreError

    try:
        return Store.open(profile.store_file)
    except StoreError as exc:
        raise CliError(str(exc)) from None


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


def _settings(account):
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


def _sync_accounts(profile, config, only: str | None = None):
    """(settings, token) for each configured account; a missing token is reported, not fatal."""
    from agentdesk import secrets

    pairs = []
    problems = []
    for account in config.accounts.values():
        if only and account.name != only:
            continue
        try:
            pairs.append((_settings(account), secrets.get_token(profile, account)))
        except secrets.SecretError as exc:
            problems.append(str(exc))
    return pairs, problems


def _mirror_accounts(store, config) -> None:
    for account in config.accounts.values():
        store.upsert_account(account.name, account.connector, account.url, account.user)


def _run_app(profile, runner, labels: str) -> int:
    from datetime import timedelta

    from agentdesk import config as config_module
    from agentdesk.tui.app import DEMO_RESULT, AgentDeskApp
    from agentdesk.tui.screens.help import binding_ids

    config = _config(profile)
    problems = config_module.keymap_problems(config, binding_ids())
    app = AgentDeskApp(
        profile.store_file,
        sync=runner,
        account_labels=labels,
        keymap=config.keymap,
        problems=problems,
        undo_window=timedelta(seconds=config.ui.undo_seconds),
        theme=config.ui.theme,
        config_dir=profile.config_dir,
        bell=config.ui.bell,
        desktop_notifications=config.ui.desktop_notifications,
        attachment_hosts={name: a.attachment_hosts for name, a in config.accounts.items()},
        attachment_max_mb=config.ui.attachment_max_mb,
    )
    result = app.run()
    if result == DEMO_RESULT:  # chosen on the first-run screen
        return cmd_demo(build_parser().parse_args(["demo"]))
    return app.return_code or 0


# ---------------------------------------------------------------- commands
def cmd_app(args: argparse.Namespace) -> int:
    profile = _profile()
    config = _config(profile)
    store = _open_store(profile)
    _mirror_accounts(store, config)
    store.close()
    runner = None
    labels = " + ".join(f"{a.name} ({a.connector})" for a in config.accounts.values())
    if config.accounts:
        pairs, problems = _sync_accounts(profile, config)
        for problem in problems:
            print(f"agentdesk: {clean(problem)}", file=sys.stderr)
        if pairs:
            from agentdesk.sync import BackgroundSync

            runner = BackgroundSync(
                profile.store_file, pairs, interval=config.ui.sync_interval,
                fast_lane_share=config.ui.fast_lane_share,
            )  # fmt: skip
    return _run_app(profile, runner, labels)


DEMO_LABEL = "demo (Zendesk simulator)"


def demo_session(profile, *, seed: int, scale: int, activity: float):
    """Start the demo's simulator and mirror its account; returns (sim handle, settings).

    The caller stops the simulator (it is a context manager). The token stays in memory.
    """
    return _demo_account(profile, "zendesk", "demo", seed=seed, scale=scale, activity=activity)


def demo_sessions(profile, dialects: Sequence[str], *, seed: int, scale: int, activity: float):
    """One simulator and account per dialect (the account is named after it), all from the
    same seed: the same people write to every vendor, so a customer's conversations on two
    vendors meet in one history. Returns [(sim handle, settings)]; the caller stops them."""
    from agentdesk.connectors import registry
    from agentdesk.sim.server import DIALECTS

    unknown = [d for d in dialects if d not in DIALECTS or d not in registry.available()]
    if unknown or not dialects or len(set(dialects)) != len(dialects):
        raise CliError(
            f"--accounts takes distinct simulator dialects separated by commas, from "
            f"{', '.join(d for d in DIALECTS if d in registry.available())}"
            + (f" ({unknown[0]!r} is not one)" if unknown else ""),
            EXIT_USAGE,
        )
    sessions = []
    try:
        for dialect in dialects:
            sessions.append(_demo_account(profile, dialect, dialect, seed=seed,
                                          scale=max(1, scale // len(dialects)),
                                          activity=activity))  # fmt: skip
    except BaseException:
        for sim, _settings in sessions:
            sim.stop()
        raise
    return sessions


def _demo_account(profile, dialect: str, name: str, *, seed: int, scale: int, activity: float):
    from agentdesk import secrets
    from agentdesk.config import AccountConfig
    from agentdesk.sim.server import start_in_thread

    sim = start_in_thread(dialect=dialect, seed=seed, scale=scale, activity=activity)
    url = sim.base_url + (f"/app/accounts/{sim.account_id}" if sim.account_id else "")
    account = AccountConfig(name=name, connector=dialect, url=url, user=sim.user)
    secrets.hold_in_memory(account.name, sim.token)
    store = _open_store(profile)
    store.upsert_account(account.name, account.connector, account.url, account.user)
    store.close()
    from agentdesk import canned

    canned.install_examples(profile.config_dir)  # so `c` works in the demo
    # The whole simulated history, not just the default 90 days: the open backlog and the
    # customers' histories would only fetch it all again, so the demo starts with neither.
    return sim, replace(_settings(account), cache_days=3650, cache_open=False, cache_history=False)


def cmd_demo(args: argparse.Namespace) -> int:
    import contextlib
    import shutil
    import tempfile

    throwaway = None
    if not os.environ.get("AGENTDESK_HOME"):
        throwaway = tempfile.mkdtemp(prefix="agentdesk-demo-")
        os.environ["AGENTDESK_HOME"] = throwaway
    try:
        profile = _profile()
        from agentdesk.sync import BackgroundSync

        if args.accounts:
            dialects = [d.strip() for d in args.accounts.split(",") if d.strip()]
            sessions = demo_sessions(
                profile, dialects, seed=args.seed, scale=args.scale, activity=args.activity
            )
            label = f"demo ({' + '.join(dialects)} simulators)"
        else:
            sessions = [demo_session(
                profile, seed=args.seed, scale=args.scale, activity=args.activity
            )]  # fmt: skip
            label = DEMO_LABEL
        with contextlib.ExitStack() as running:
            for sim, _settings in sessions:
                running.enter_context(sim)
            pairs = [(settings, sim.token) for sim, settings in sessions]
            runner = BackgroundSync(profile.store_file, pairs, interval=5)
            return _run_app(profile, runner, label)
    finally:
        if throwaway:
            shutil.rmtree(throwaway, ignore_errors=True)


def cmd_sim(args: argparse.Namespace) -> int:
    from agentdesk.sim.server import serve_forever

    try:
        serve_forever(
            dialect=args.dialect,
            host=args.host,
            port=args.port,
            seed=args.seed,
            scale=args.scale,
            role=args.role,
            faults=args.faults,
            rate_limit=args.rate_limit,
            activity=args.activity,
        )
    except ValueError as exc:  # a malformed --faults spec
        raise CliError(str(exc), EXIT_USAGE) from None
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from agentdesk.serve import run

    _profile()  # the log file: serve logs its URL (secret redacted) and its requests there
    return run(args)


def cmd_accounts(args: argparse.Namespace) -> int:
    profile = _profile()
    action = args.accounts_action
    if action == "add":
        return _accounts_add(profile, args)
    config = _config(profile)
    if action == "list":
        return _accounts_list(profile, config, args)
    if args.name not in config.accounts:
        known = ", ".join(sorted(config.accounts)) or "none yet"
        raise CliError(f"no account named {args.name!r} (configured: {known})", 3)
    account = config.accounts[args.name]
    if action == "remove":
        from agentdesk import config as config_module
        from agentdesk import secrets

        store = _open_store(profile)
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
    from agentdesk import secrets
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
    store = _open_store(profile)
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

    store = _open_store(profile)
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
            _settings(account), token, policy=INTERACTIVE_POLICY
        )
        try:
            return await connector.whoami()
        finally:
            await connector.aclose()

    try:
        me = asyncio.run(probe())
    except ConnectorError as exc:
        raise CliError(str(exc)) from None
    store = _open_store(profile)
    store.record_sync_info(account.name, role=me.role, user_external_id=me.external_id)
    store.close()
    if args.json:
        print(safe_json({"account": account.name, "ok": True, "user": me.email, "role": me.role}))
    else:
        print(clean(f"{account.name}: signed in as {me.name} <{me.email}>, role {me.role}"))
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    import asyncio

    from agentdesk.sync import sync_once

    profile = _profile()
    config = _config(profile)
    if args.account and args.account not in config.accounts:
        raise CliError(f"no account named {args.account!r}", 3)
    pairs, problems = _sync_accounts(profile, config, only=args.account)
    for problem in problems:
        print(f"agentdesk: {clean(problem)}", file=sys.stderr)
    store = _open_store(profile)
    _mirror_accounts(store, config)
    store.close()
    if not pairs:
        raise CliError("nothing to sync: no account with a usable token")

    def progress(event) -> None:
        if args.json and args.watch:  # one JSON object per event, for scripts that follow
            print(
                safe_json(
                    {
                        "kind": event.kind,
                        "account": event.account,
                        "message": event.message,
                        "records": event.records,
                        "at": event.at,
                        **event.extra,
                    },
                    default=str,
                ),
                flush=True,
            )
        elif not args.json:
            # The engine's sentences already name the account and say what happened.
            line = event.message or f"{event.account or '-'}: {event.kind}"
            print(clean(line), file=sys.stderr, flush=True)

    if args.watch:
        return _sync_watch(profile, config, pairs, progress)
    summary = asyncio.run(sync_once(profile.store_file, pairs, on_event=progress))
    if args.json:
        print(safe_json(summary, indent=2, default=str))
    failed = any(not item.get("ok", False) for item in summary.get("accounts", []))
    return EXIT_ERROR if failed or problems else EXIT_OK


def _sync_watch(profile, config, pairs, progress) -> int:
    """Sync until interrupted: push as soon as something is queued, pull every interval."""
    import signal
    import threading

    from agentdesk.sync import BackgroundSync

    stop = threading.Event()
    reader_left = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def report(event) -> None:
        try:
            progress(event)
        except BrokenPipeError:  # `sync --watch --json | head`: nobody reads on, so stop
            reader_left.set()
            stop.set()

    BackgroundSync(
        profile.store_file,
        pairs,
        interval=config.ui.sync_interval,
        fast_lane_share=config.ui.fast_lane_share,
    ).run(report, stop)
    return _quiet_closed_pipe() if reader_left.is_set() else EXIT_OK


def parse_when(text: str):
    """An ISO time, or a duration from now: 90m, 4h, 2d."""
    import re
    from datetime import timedelta

    from agentdesk.timeutil import parse_timestamp, utcnow

    match = re.fullmatch(r"\+?(\d+)([mhd])", text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        minutes = {"m": 1, "h": 60, "d": 1440}[unit] * amount
        return utcnow() + timedelta(minutes=minutes)
    try:
        return parse_timestamp(text)
    except ValueError:
        raise CliError(
            f"{text!r} is not a time (use ISO 8601 or 90m, 4h, 2d)", EXIT_USAGE
        ) from None


def _do_payload(action: str, words: list[str], text_flag: str | None, text_stdin: bool) -> dict:
    from agentdesk.timeutil import to_iso

    if action in ("reply", "note"):
        if text_stdin:
            text = sys.stdin.read()
        elif text_flag is not None:
            text = text_flag
        else:
            raise CliError(f"{action} needs --text TEXT or --text-stdin", EXIT_USAGE)
        if words:
            raise CliError(f"unexpected words after {action}: {' '.join(words)}", EXIT_USAGE)
        return {"text": text}
    if action in ("status", "priority", "snooze") and len(words) != 1:
        raise CliError(f"{action} takes exactly one value", EXIT_USAGE)
    if action == "status":
        return {"status": words[0].replace("-", "_")}
    if action == "priority":
        return {"priority": words[0]}
    if action == "snooze":
        return {"until": to_iso(parse_when(words[0]))}
    if action == "tag":
        add = [w[1:] for w in words if w.startswith("+")]
        remove = [w[1:] for w in words if w.startswith("-")]
        if len(add) + len(remove) != len(words) or not words:
            raise CliError("tag takes +TAG to add and -TAG to remove", EXIT_USAGE)
        return {"add": add, "remove": remove}
    if action == "assign":
        if len(words) != 1:
            raise CliError("assign takes AGENT_EMAIL or team:NAME", EXIT_USAGE)
        target = words[0]
        if target.startswith("team:"):
            return {"team": target[5:]}
        if target in ("none", "nobody"):
            return {"unassign": True}
        return {"agent_email": target}
    raise CliError(
        f"unknown action {action!r} (reply, note, status, priority, tag, assign, snooze)",
        EXIT_USAGE,
    )


def cmd_do(args: argparse.Namespace) -> int:
    from agentdesk.store import MutationError, StoreError, UnknownConversation

    account, sep, external_id = args.target.partition(":")
    if not sep or not account or not external_id:
        raise CliError("the target is ACCOUNT:EXTERNAL_ID, e.g. acme:18233", EXIT_USAGE)
    words = list(args.words)
    as_json = "--json" in words
    words = [w for w in words if w != "--json"]
    text_flag = None
    text_stdin = False
    if "--text-stdin" in words:
        text_stdin = True
        words.remove("--text-stdin")
    if "--text" in words:
        at = words.index("--text")
        if at + 1 >= len(words):
            raise CliError("--text needs a value", EXIT_USAGE)
        text_flag = words[at + 1]
        del words[at : at + 2]
    payload = _do_payload(args.action, words, text_flag, text_stdin)
    action = "tags" if args.action == "tag" else args.action
    profile = _profile()
    store = _open_store(profile)
    try:
        conversation_id = store.conversation_by_external_id(account, external_id)
        if conversation_id is None:
            raise CliError(f"no cached conversation {account}:{external_id}", 3)
        try:
            mutation = store.queue(conversation_id, action, payload)
        except UnknownConversation as exc:
            raise CliError(str(exc), 3) from None
        except MutationError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        except StoreError as exc:
            raise CliError(str(exc)) from None
    finally:
        store.close()
    if as_json:
        print(
            json.dumps(
                {
                    "id": mutation.id,
                    "state": mutation.state,
                    "action": action,
                    "conversation": args.target,
                }
            )
        )
    else:
        print(f"queued {action} on {args.target} ({mutation.id}); it is sent at the next sync")
    return EXIT_OK


# ---------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """Unknown options are reported by the (sub)command they were given to, with its usage
    and the nearest option it has, not by the top level's usage; a mistyped choice (a
    subcommand, a dialect) gets the nearest choice."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            options = [o for o in self._option_string_actions if o.startswith("--")]
            near = [
                match
                for word in extras
                if word.startswith("-")
                for match in _nearest(word.split("=")[0], options)
            ]
            hint = f" (did you mean {' or '.join(near)}?)" if near else ""
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return namespace, extras

    def _check_value(self, action, value):  # argparse's hook for `choices`
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            near = _nearest(str(value), [str(choice) for choice in action.choices or ()])
            if not near:
                raise
            raise argparse.ArgumentError(
                action, f"{exc.message} (did you mean {near[0]}?)"
            ) from None


def _nearest(word: str, candidates: list[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(word, candidates, n=1)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="agentdesk",
        description="One keyboard-driven inbox for every helpdesk you work in.",
    )
    parser.add_argument("--version", action="version", version=f"agentdesk {__version__}")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="open the inbox on a simulated Zendesk (throwaway profile)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", type=int, default=1500, help="conversations to simulate")
    demo.add_argument(
        "--activity", type=float, default=6.0, help="simulated events per minute (0: none)"
    )
    demo.add_argument(
        "--accounts",
        metavar="DIALECTS",
        help="several simulated accounts sharing one population, e.g. zendesk,front "
        "(the scale is shared between them)",
    )
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("sim", help="serve a simulated helpdesk on loopback")
    sim.add_argument(
        "--dialect",
        choices=("zendesk", "freshdesk", "chatwoot", "zammad", "intercom", "front", "helpscout"),
        default="zendesk",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=0, help="0 picks a free port")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--scale", type=int, default=2000, help="conversations to generate")
    sim.add_argument(
        "--role", choices=("agent", "admin"), default="admin", help="whose token to print"
    )
    sim.add_argument(
        "--faults",
        metavar="SPEC",
        help="e.g. 429=0.1,500=0.05,drop=0.02,timeout=0.01,lost=0.02,latency=50ms",
    )
    sim.add_argument("--rate-limit", type=int, metavar="PER_MIN", help="requests per minute")
    sim.add_argument(
        "--activity", type=float, default=0.0, metavar="RATE", help="live events per minute"
    )
    sim.set_defaults(func=cmd_sim)

    accounts = sub.add_parser("accounts", help="add, list, test and remove helpdesk accounts")
    acc_sub = accounts.add_subparsers(dest="accounts_action", required=True)
    add = acc_sub.add_parser("add", help="add an account (token to the keyring)")
    add.add_argument("name")
    add.add_argument("--connector", required=True)
    add.add_argument("--url", required=True)
    add.add_argument("--user", help="your user (Help Scout: the app id; asked when left out)")
    add.add_argument("--token-stdin", action="store_true", help="read the token from stdin")
    add.add_argument("--token-command", help="a command that prints the token")
    add.add_argument(
        "--plaintext-token",
        action="store_true",
        help="store the token in a 0600 file instead of the keyring (headless machines)",
    )
    add.add_argument("--ca-bundle", help="CA bundle for this account's TLS")
    add.add_argument("--allow-insecure-http", action="store_true")
    lst = acc_sub.add_parser("list", help="list accounts")
    lst.add_argument("--json", action="store_true")
    test = acc_sub.add_parser("test", help="check the token and print the role")
    test.add_argument("name")
    test.add_argument("--json", action="store_true")
    remove = acc_sub.add_parser("remove", help="remove an account and purge its cache")
    remove.add_argument("name")
    accounts.set_defaults(func=cmd_accounts)

    sync = sub.add_parser("sync", help="sync accounts without the UI")
    mode = sync.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one round, then exit (default)")
    mode.add_argument(
        "--watch", action="store_true", help="keep syncing until interrupted (Ctrl+C)"
    )
    sync.add_argument("--account")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(func=cmd_sync)

    do = sub.add_parser(
        "do",
        help="queue an action exactly as the inbox does",
        description="ACTION is reply|note (--text TEXT | --text-stdin), status STATUS, "
        "priority PRIORITY, tag +ADD -REMOVE ..., assign AGENT_EMAIL|team:NAME, snooze UNTIL. "
        "--json prints the mutation's id and state. Exit 0 queued, 2 bad arguments, "
        "3 unknown conversation.",
    )
    do.add_argument("target", metavar="ACCOUNT:EXTERNAL_ID")
    do.add_argument("action")
    do.add_argument("words", nargs=argparse.REMAINDER)
    do.set_defaults(func=cmd_do)

    from agentdesk.supervisor import cli as supervisor_cli

    reassign = sub.add_parser(
        "reassign", help="move conversations matching a query to an agent or team (supervisors)"
    )
    supervisor_cli.add_reassign_arguments(reassign)
    reassign.set_defaults(func=lambda a: supervisor_cli.cmd_reassign(a))
    report = sub.add_parser("report", help="support metrics from the cache")
    supervisor_cli.add_report_arguments(report)
    report.set_defaults(func=lambda a: supervisor_cli.cmd_report(a))
    audit = sub.add_parser("audit", help="every action taken from this machine, and its outcome")
    supervisor_cli.add_audit_arguments(audit)
    audit.set_defaults(func=lambda a: supervisor_cli.cmd_audit(a))
    presence = sub.add_parser("presence", help="show or set your presence (online, busy, offline)")
    supervisor_cli.add_presence_arguments(presence)
    presence.set_defaults(func=lambda a: supervisor_cli.cmd_presence(a))

    serve = sub.add_parser(
        "serve", help="serve the app to a web browser (loopback unless protected)"
    )
    from agentdesk import serve as serve_module

    serve_module.add_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    parser.set_defaults(func=cmd_app)
    return parser


def _quiet_closed_pipe() -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is handled, not at interpreter exit
        return code
    except BrokenPipeError:
        return _quiet_closed_pipe()
    except CliError as exc:
        print(f"agentdesk: {clean(str(exc))}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: the traceback goes to the log, a sentence here
        import logging

        logging.getLogger("agentdesk").exception("unexpected error")
        print(
            f"agentdesk: unexpected {type(exc).__name__}; details are in the log file",
            file=sys.stderr,
        )
        return EXIT_ERROR
