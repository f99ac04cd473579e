"""A proposed fix becomes a request: the plan is computed and the request recorded (once per plan).
Runs on a worker; returns a ``Proposal`` (the job, ``driftbot.work.jobs.propose_job``, posts it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftbot import checks
from driftbot.errors import DriftbotError
from driftbot.requests import machine, plans, rules
from driftbot.requests.plans import Plan
from driftbot.runtime import Runtime
from driftbot.state.models import Check, Request


@dataclass(frozen=True)
class Proposal:
    """A new request and its plan; or the request already open for the same plan (*existing*); or why
    none was created (*error*)."""

    request: Request | None = None
    plan: Plan | None = None
    existing: Request | None = None
    error: DriftbotError | None = None

    @property
    def request_id(self) -> int | None:
        found = self.request or self.existing
        return found.id if found is not None else None


def propose(rt: Runtime, *, environment: str, kind: str, args: dict[str, Any], requester: str, channel: str,
            thread_ts: str | None = None, check_id: int | None = None, team_id: str | None = None) -> Proposal:
    settings = rt.settings
    env = settings.environment(environment)
    try:
        if check_id is not None:  # a button under a check result: the plan of what that check saw
            with rt.sessions() as s:
                check = s.get(Check, check_id)
                fingerprint = check.fingerprint if check else None
            if not fingerprint:
                raise DriftbotError("That check result is gone; run `/drift status` again.")
            plan = plans.make_plan(environment, kind, args, fingerprint, plans.checksum(settings, env, kind, args))
        else:
            plan, seen = plans.current_plan(settings, environment, kind, args)
            with rt.sessions.begin() as s:  # kept so a later plan change can say what changed
                check_id = checks.keep(s, environment, seen, plan.fingerprint, requested_by=requester,
                                       channel=channel).id
        with rt.sessions.begin() as s:
            existing = machine.open_request_for(s, plan.hash)
            if existing is None:
                req = machine.create_request(s, plan, requester=requester, approvals_required=rules.approvals_required(env),
                                             ttl_hours=settings.request_ttl_hours, channel=channel,
                                             thread_ts=thread_ts, check_id=check_id, team_id=team_id,
                                             approvers=settings.approvers_for(env))
        if existing is not None:  # a double click, or Slack delivering the same click twice
            return Proposal(existing=existing)
    except DriftbotError as exc:
        return Proposal(error=exc)
    return Proposal(request=req, plan=plan)
