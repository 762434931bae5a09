"""`agentdesk demo` (the inbox on simulated helpdesks) and `agentdesk sim` (a simulator alone)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import replace

from agentdesk.cli.app import run_app
from agentdesk.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    account_settings,
    open_profile,
    open_store,
)

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
    store = open_store(profile)
    store.upsert_account(account.name, account.connector, account.url, account.user)
    store.close()
    from agentdesk import canned

    canned.install_examples(profile.config_dir)  # so `c` works in the demo
    # The whole simulated history, not just the default 90 days: the open backlog and the
    # customers' histories would only fetch it all again, so the demo starts with neither.
    return sim, replace(
        account_settings(account), cache_days=3650, cache_open=False, cache_history=False
    )


def cmd_demo(args: argparse.Namespace) -> int:
    import contextlib
    import shutil
    import tempfile

    throwaway = None
    if not os.environ.get("AGENTDESK_HOME"):
        throwaway = tempfile.mkdtemp(prefix="agentdesk-demo-")
        os.environ["AGENTDESK_HOME"] = throwaway
    try:
        profile = open_profile()
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
            return run_app(profile, runner, label)
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
