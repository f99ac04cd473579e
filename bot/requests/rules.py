"""Who may approve on an environment and how many approvals it takes. Pure: settings in, answers out."""

from __future__ import annotations

from typing import Callable, Iterable

from bot.settings import EnvironmentSettings


def approvals_required(env: EnvironmentSettings) -> int:
    """Distinct approvals a request on *env* needs. Unprotected environments still need one
    approval from someone other than the requester."""
    return env.approvals_required if env.protected else 1


def resolve_approvers(configured: Iterable[str], members_of: Callable[[str], Iterable[str]]) -> frozenset[str]:
    """Slack user IDs from the configured list; user groups (``S...``) expanded by *members_of*."""
    users: set[str] = set()
    for who in configured:
        if who.startswith("S"):
            users.update(members_of(who))
        else:
            users.add(who)
    return frozenset(users)
