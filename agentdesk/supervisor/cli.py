"""`agentdesk reassign`, `agentdesk report` and `agentdesk audit` (wired into agentdesk.cli).

Exit codes: 0 done, 1 error, 2 bad arguments, 3 nothing matched, 4 the role does not allow it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from agentdesk.cli.common import EXIT_OK, EXIT_USAGE, CliError
from agentdesk.cli.common import open_profile as _profile
from agentdesk.cli.common import open_store as _open_store
from agentdesk.sanitize import clean, safe_json

EXIT_NOTHING = 3
EXIT_FORBIDDEN = 4


def _capacity(profile):
    from agentdesk.supervisor.capacity import CapacityError, load_capacity

    try:
        return load_capacity(profile.config_file)
    except CapacityError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _readable_accounts(store, account: str | None, doing: str) -> list[str]:
    """The accounts a console may read; refused (exit 4) where the role does not allow it."""
    from agentdesk.supervisor.roles import NotAllowed, account_roles, readable_accounts

    if account is not None and account not in account_roles(store):
        raise CliError(f"no account named {account!r}", EXIT_USAGE)
    try:
        allowed = readable_accounts(store, account, doing)
    except NotAllowed as exc:
        raise CliError(str(exc), EXIT_FORBIDDEN) from None
    left_out = sorted(set(account_roles(store)) - set(allowed))
    if account is None and left_out:  # stderr: --json and --csv output stays clean
        print(f"agentdesk: {doing} leaves out {', '.join(left_out)}, where your role is not "
              "supervisor or admin", file=sys.stderr)
    return allowed


# ---------------------------------------------------------------- reassign
def add_reassign_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Move the conversations matching a query to an agent (email) or a team (team:NAME), "
        "as one batch through the outbox. Exit 0 done, 2 bad arguments, 3 nothing matched, "
        "4 your role on the account does not allow reassigning."
    )
    parser.add_argument("--query", "-q", help='conversations to move, e.g. "is:open team:Billing"')
    parser.add_argument("--to", dest="to", help="AGENT_EMAIL or team:NAME")
    parser.add_argument(
        "--spread",
        choices=("least_load", "round_robin"),
        help="with --to team:NAME, assign to the team's agents by least load or in turn",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the preview, change nothing")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--account", help="only conversations of this account")
    parser.add_argument("--undo", metavar="BATCH", help="undo a batch made earlier")


def cmd_reassign(args: argparse.Namespace) -> int:
    from agentdesk.query import QueryError
    from agentdesk.supervisor import reassign
    from agentdesk.supervisor.roles import NotAllowed, require_supervisor

    profile = _profile()
    store = _open_store(profile)
    try:
        if args.undo:
            try:
                result = reassign.undo_batch(store, args.undo)
            except NotAllowed as exc:
                raise CliError(str(exc), EXIT_FORBIDDEN) from None
            if not reassign.batch_mutations(store, args.undo):
                raise CliError(f"no batch {args.undo} in the outbox", EXIT_NOTHING)
            out = {"batch": result.batch, "cancelled": result.cancelled,
                   "compensated": result.compensated,
                   "compensation_batch": result.compensation_batch, "left": list(result.left)}
            if args.json:
                print(safe_json(out, indent=2))
            else:
                print(f"undo {result.batch}: {result.cancelled} cancelled before sending, "
                      f"{result.compensated} restored by new mutations")
                for line in result.left:
                    print(f"  not undone: {clean(line)}")
            return EXIT_OK
        if not args.query or not args.to:
            raise CliError("reassign needs --query Q and --to AGENT|team:NAME (or --undo BATCH)",
                           EXIT_USAGE)
        query = args.query + (f" account:{args.account}" if args.account else "")
        try:
            ids = store.search_ids(query)
        except QueryError as exc:
            raise CliError(f"bad query: {exc}", EXIT_USAGE) from None
        if not ids:
            raise CliError(f"no cached conversation matches {args.query!r}", EXIT_NOTHING)
        accounts = store.accounts_of(ids)
        try:
            require_supervisor(store, accounts)  # a dry run included: it reveals team load
        except NotAllowed as exc:
            raise CliError(str(exc), EXIT_FORBIDDEN) from None
        target = reassign.Target.parse(args.to)
        capacity = _capacity(profile)
        if args.spread:
            if target.kind != "team":
                raise CliError("--spread needs --to team:NAME", EXIT_USAGE)
            plan = reassign.suggest(store, ids, target.value, args.spread, capacity=capacity)
        else:
            plan = reassign.plan_reassignment(store, ids, target, capacity=capacity)
        if not plan.moves:
            reasons = "; ".join(sorted({s.reason for s in plan.skipped})) or "nothing to move"
            raise CliError(f"nothing to reassign: {reasons}", EXIT_NOTHING)
        batch = None if args.dry_run else reassign.apply_plan(store, plan)
    finally:
        store.close()
    if args.json:
        data = plan.as_dict() | {"dry_run": bool(args.dry_run)}
        if batch is not None:
            data["queued"] = len(batch.mutation_ids)
            data["errors"] = [{"conversation": e.reference, "reason": e.reason}
                              for e in batch.errors]
        print(safe_json(data, indent=2))
    else:
        _print_plan(plan)
        if batch is None:
            print("dry run: nothing was changed")
        else:
            print(f"queued {len(batch.mutation_ids)} reassignments as batch {batch.id}; "
                  f"undo with: agentdesk reassign --undo {batch.id}")
            for error in batch.errors:
                print(f"  not queued: {clean(error.reference)}: {clean(error.reason)}",
                      file=sys.stderr)
    return EXIT_OK


def _print_plan(plan) -> None:
    from agentdesk.tui.format import fit

    print(f"{len(plan.moves)} to move, {len(plan.skipped)} skipped")
    print(f"{'agent':<40} {'before':>6} {'after':>6} {'capacity':>8}")
    for d in plan.deltas:
        flag = "  OVER CAPACITY" if d.over_capacity else ""
        cap = "-" if d.capacity is None else str(d.capacity)
        print(f"{fit(fit(clean(d.name), 28).rstrip() + ' (' + clean(d.account) + ')', 40)} "
              f"{d.before:>6} {d.after:>6} {cap:>8}{flag}")
    for s in plan.skipped[:20]:
        print(f"  skip {s.reference}: {clean(s.reason)}")
    if len(plan.skipped) > 20:
        print(f"  ... and {len(plan.skipped) - 20} more skipped")


# ---------------------------------------------------------------- report
def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Support metrics from the local cache: first response, resolution, reopen rate, CSAT "
        "(NPS/CES where a backend has them), backlog; by agent, team, channel and account. "
        "Covers the accounts where your role is supervisor or admin; exit 4 if there is none."
    )
    parser.add_argument("--period", default="7d", help="how far back: 24h, 7d, 4w (default 7d)")
    parser.add_argument("--account", help="only this account")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")


def cmd_report(args: argparse.Namespace) -> int:
    from agentdesk.supervisor.metrics import PeriodError, compute_report, parse_period
    from agentdesk.timeutil import utcnow

    try:
        span = parse_period(args.period)
    except PeriodError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    profile = _profile()
    store = _open_store(profile)
    try:
        accounts = _readable_accounts(store, args.account, "the report")
        end = utcnow()
        report = compute_report(store, end - span, end, accounts=accounts)
    finally:
        store.close()
    if args.json:
        print(report.to_json())
    elif args.csv:
        sys.stdout.write(report.to_csv())
    else:
        _print_report(report)
    return EXIT_OK


def _fmt_minutes(value: float | None) -> str:
    if value is None:
        return "-"
    return _duration(timedelta(minutes=value))


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes // 1440}d{(minutes % 1440) // 60:02d}h"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _print_report(report) -> None:
    from agentdesk.tui.format import fit

    print(f"{report.start:%Y-%m-%d %H:%M} .. {report.end:%Y-%m-%d %H:%M} UTC")
    header = f"{'':<32} {'conv':>5} {'1st resp':>9} {'resolve':>9} {'reopen':>7} {'CSAT':>5}"
    for title, rows in [("overall", (report.overall,)), *report.by.items()]:
        print(f"\n{title}\n{header}")
        for f in rows:
            print(f"{fit(clean(f.key), 32)} {f.conversations:>5} "
                  f"{_fmt_minutes(f.first_response_median_min):>9} "
                  f"{_fmt_minutes(f.resolution_median_min):>9} {_pct(f.reopen_rate):>7} "
                  f"{_pct(f.csat):>5}")
    print("\nbacklog (open at end of day): "
          + ", ".join(f"{d:%m-%d} {n}" for d, n in report.backlog))


# ---------------------------------------------------------------- audit
def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Every action taken from this machine: who, when, on what, outcome. Covers the accounts "
        "where your role is supervisor or admin; exit 4 if there is none."
    )
    parser.add_argument("--since", help="only actions after this: 24h, 7d, or an ISO time")
    parser.add_argument("--account", help="only this account")
    parser.add_argument("--limit", type=int, help="at most this many, newest first")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")


def cmd_audit(args: argparse.Namespace) -> int:
    from agentdesk.supervisor.audit import audit_entries, to_csv, to_json
    from agentdesk.supervisor.metrics import PeriodError, parse_period
    from agentdesk.timeutil import parse_timestamp, utcnow

    since = None
    if args.since:
        try:
            since = utcnow() - parse_period(args.since)
        except PeriodError:
            try:
                since = parse_timestamp(args.since)
            except ValueError:
                raise CliError(f"{args.since!r} is not a time (24h, 7d, or ISO 8601)",
                               EXIT_USAGE) from None
    profile = _profile()
    store = _open_store(profile)
    try:
        accounts = _readable_accounts(store, args.account, "the audit log")
        entries = audit_entries(store, since=since, accounts=accounts, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(to_json(entries))
    elif args.csv:
        sys.stdout.write(to_csv(entries))
    else:
        from agentdesk.tui.format import fit

        for e in entries:
            reason = f" — {clean(e.reason)}" if e.reason else ""
            print(f"{e.at:%Y-%m-%d %H:%M:%S} {fit(clean(e.who), 28)} {e.conversation:<16} "
                  f"{e.action:<8} {fit(clean(e.detail), 40)} {e.outcome}{reason}")
    return EXIT_OK


# ---------------------------------------------------------------- presence
def add_presence_arguments(parser: argparse.ArgumentParser) -> None:
    from agentdesk.store.presence import PRESENCES

    parser.description = (
        "Print your presence per account, or set it (online, busy, offline). Where the "
        "helpdesk lets agents set their own presence (Chatwoot) it is sent at the next sync; "
        "elsewhere it is kept in agentdesk only. Exit 0 done, 2 bad arguments."
    )
    parser.add_argument("presence", nargs="?", choices=PRESENCES)
    parser.add_argument("--account", help="only this account (default: every account)")
    parser.add_argument("--json", action="store_true")


def cmd_presence(args: argparse.Namespace) -> int:
    from agentdesk.store.presence import PresenceError

    profile = _profile()
    store = _open_store(profile)
    try:
        rows = store.my_presence(args.account)
        if args.account and not rows:
            raise CliError(f"no account {args.account!r}", EXIT_USAGE)
        if args.presence:
            try:
                rows = [store.set_my_presence(r.account, args.presence) for r in rows]
            except PresenceError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
    finally:
        store.close()
    if args.json:
        print(safe_json([{"account": r.account, "presence": r.presence, "state": r.state,
                          "settable": r.settable} for r in rows]))
        return EXIT_OK
    for r in rows:
        note = {"pending": "sent at the next sync", "local": "kept in agentdesk (the helpdesk "
                "has no agent presence)", "synced": "as the helpdesk reports it"}.get(
                    r.state, "the helpdesk refused it; set it again or ask an admin")
        print(f"{r.account}\t{r.presence or 'unknown'}\t{r.state}\t{note}")
    return EXIT_OK
