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


def require_supervisor(store: Store, accounts: Iterable[str]) -> None:
    """Raise NotAllowed naming every account where the user is not a supervisor or admin."""
    roles = account_roles(store)
    refused = tuple(sorted({a for a in accounts if roles.get(a) not in SUPERVISOR_ROLES}))
    if refused:
        described = ", ".join(f"{a} (role {roles.get(a) or 'unknown'})" for a in refused)
        raise NotAllowed(
            f"reassigning needs a supervisor or admin role; you are not one on {described}",
            refused,
        )
