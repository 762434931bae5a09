"""`agentdesk do ACCOUNT:ID ACTION ...`: queue an action exactly as the inbox does."""

from __future__ import annotations

import argparse
import json
import sys

from agentdesk.cli.common import EXIT_OK, EXIT_USAGE, CliError, open_profile, open_store


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
    profile = open_profile()
    store = open_store(profile)
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
