"""Who may use supervisor features: decided per account from the role its backend reported.

`accounts.role` is filled by sync from each backend's whoami. An account whose role is not yet
known (never synced) is treated as an agent: features appear once the backend said so.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentdesk.store import Store

SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})


class NotAllowed(PermissionError):
    """The signed-in user's role on an account does not allow a supervisor action."""

    def __init__(self, message: str, accounts: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.accounts = accounts


def account_roles(store: Store) -> dict[str, str | None]:
    return {row.name: row.role for row in store.accounts()}


def can_supervise(store: Store, account: str) -> bool:
    return account_roles(store).get(account) in SUPERVISOR_ROLES


def supervised_accounts(store: Store) -> list[str]:
    """Accounts on which the user may see team load, reassign in bulk and read metrics."""
    return sorted(name for name, role in account_roles(store).items() if role in SUPERVISOR_ROLES)


def any_supervisor(store: Store) -> bool:
    """Whether any supervisor feature should be offered at all (bindings, palette entries)."""
    return bool(supervised_accounts(store))


def _refusal(roles: dict[str, str | None], refused: tuple[str, ...], doing: str) -> NotAllowed:
    described = ", ".join(f"{a} (role {roles.get(a) or 'unknown'})" for a in refused)
    unknown = [a for a in refused if roles.get(a) is None]
    hint = f"; `agentdesk accounts test {unknown[0]}` asks the helpdesk for it" if unknown else ""
    return NotAllowed(
        f"{doing} needs a supervisor or admin role; you are not one on {described}{hint}",
        refused,
    )


def require_supervisor(store: Store, accounts: Iterable[str], doing: str = "reassigning") -> None:
    """Raise NotAllowed naming every account where the user is not a supervisor or admin.

    `doing` names the feature in the sentence ("reassigning", "the report").
    """
    roles = account_roles(store)
    refused = tuple(sorted({a for a in accounts if roles.get(a) not in SUPERVISOR_ROLES}))
    if refused:
        raise _refusal(roles, refused, doing)


def readable_accounts(store: Store, account: str | None, doing: str) -> list[str]:
    """The accounts whose team figures a supervisor command may show: `account` if given
    (refused unless supervised), else every supervised one; NotAllowed when there is none."""
    if account is not None:
        require_supervisor(store, [account], doing)
        return [account]
    allowed = supervised_accounts(store)
    if allowed:
        return allowed
    roles = account_roles(store)
    if not roles:
        raise NotAllowed(
            f"{doing} needs a supervisor or admin role on an account, and there is no account "
            "yet: add one with `agentdesk accounts add`"
        )
    raise _refusal(roles, tuple(sorted(roles)), doing)
