"""Plain-text view of a ``CheckResult`` for the terminal. Renders; never decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.words import STATES, history_parts

if TYPE_CHECKING:  # for the annotations only: `driftbot envs` need not import psycopg
    from bot.engine.result import CheckResult


def headline(result: CheckResult) -> str:
    return f"{result.environment} {STATES[result.state].terminal}"


def status_text(result: CheckResult) -> str:
    lines = [headline(result)]
    if result.error:
        lines.append(f"  {result.error}")
        if result.history is None:
            return "\n".join(lines) + "\n"
    h = result.history
    if h is not None:  # an error before the history (unreachable database) stays one line
        lines.append(f"Prisma: {h.prisma_version.describe()}")
    if h is not None and h.managed:
        lines.append("History: " + " · ".join(history_parts(h)))
        code, says = h.prisma_status()
        which = f"Prisma {h.prisma_version.version}" if h.prisma_version.known else "Prisma"
        lines.append(f"{which} `migrate status` would say: {says} (exit {code})")
    if result.schema.checked:
        if result.schema.summary:
            lines.append("Schema: drift outside migrations")
            lines.extend(("  " + line) if line else "" for line in result.schema.summary)
        else:
            lines.append("Schema: matches the migrations")
    else:
        lines.append(f"Schema: not checked ({result.schema.reason})")
    unseen = (h.prisma_blind_spots if h is not None else ()) + result.schema.prisma_blind_spots
    if unseen:
        lines.append("Prisma does not say:")
        lines.extend(f"  {note}" for note in unseen)
    if result.deploy_preview is not None:
        p = result.deploy_preview
        lines.append("Deploy preview: " + ("all pending migrations would apply" if p.ok else f"{p.migration} would fail: {p.error}"))
    if result.findings:
        lines.append("Findings:")
        for f in result.findings:
            lines.append(f"  [{f.case}] {f.title}")
            if f.detail:
                lines.append(f"      {f.detail}")
            if f.action.command:
                lines.append(f"      fix: {f.action.command}")
    return "\n".join(lines) + "\n"
