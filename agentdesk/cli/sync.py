"""`agentdesk sync --once|--watch`: sync without the UI."""

from __future__ import annotations

import argparse
import sys

from agentdesk.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CliError,
    load_config,
    mirror_accounts,
    open_profile,
    open_store,
    quiet_closed_pipe,
    sync_accounts,
)
from agentdesk.sanitize import clean, safe_json


def cmd_sync(args: argparse.Namespace) -> int:
    import asyncio

    from agentdesk.sync import sync_once

    profile = open_profile()
    config = load_config(profile)
    if args.account and args.account not in config.accounts:
        raise CliError(f"no account named {args.account!r}", 3)
    pairs, problems = sync_accounts(profile, config, only=args.account)
    for problem in problems:
        print(f"agentdesk: {clean(problem)}", file=sys.stderr)
    store = open_store(profile)
    mirror_accounts(store, config)
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
    return quiet_closed_pipe() if reader_left.is_set() else EXIT_OK
