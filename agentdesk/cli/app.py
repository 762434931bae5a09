"""`agentdesk` with no command: the inbox over the configured accounts."""

from __future__ import annotations

import argparse
import sys

from agentdesk.cli.common import (
    load_config,
    mirror_accounts,
    open_profile,
    open_store,
    sync_accounts,
)
from agentdesk.sanitize import clean


def run_app(profile, runner, labels: str) -> int:
    from datetime import timedelta

    from agentdesk import config as config_module
    from agentdesk.attachments import AttachmentFetcher
    from agentdesk.tui.app import DEMO_RESULT, AgentDeskApp
    from agentdesk.tui.screens.help import binding_ids

    config = load_config(profile)
    problems = config_module.keymap_problems(config, binding_ids(AgentDeskApp))
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
        attachments=AttachmentFetcher(),
    )
    result = app.run()
    if result == DEMO_RESULT:  # chosen on the first-run screen
        from agentdesk.cli.demo import cmd_demo
        from agentdesk.cli.parser import build_parser

        return cmd_demo(build_parser().parse_args(["demo"]))
    return app.return_code or 0


def cmd_app(args: argparse.Namespace) -> int:
    profile = open_profile()
    config = load_config(profile)
    store = open_store(profile)
    mirror_accounts(store, config)
    store.close()
    runner = None
    labels = " + ".join(f"{a.name} ({a.connector})" for a in config.accounts.values())
    if config.accounts:
        pairs, problems = sync_accounts(profile, config)
        for problem in problems:
            print(f"agentdesk: {clean(problem)}", file=sys.stderr)
        if pairs:
            from agentdesk.sync import BackgroundSync

            runner = BackgroundSync(
                profile.store_file, pairs, interval=config.ui.sync_interval,
                fast_lane_share=config.ui.fast_lane_share,
            )  # fmt: skip
    return run_app(profile, runner, labels)
