"""``driftbot audit verify|checkpoint|export|key start``: the audit trail from a terminal.

Read-only, except ``key start``: the operator's one audited step that keys an unkeyed trail."""

from __future__ import annotations

import getpass
import sys

from sqlalchemy.exc import SQLAlchemyError

from driftbot import audit
from driftbot.errors import DriftbotError, redact
from driftbot.settings import Settings
from driftbot.state.db import make_engine, sessions


def run(settings: Settings, args) -> int:
    """0 when the chain verifies (or the checkpoint or export is written), 1 when the chain is broken."""
    since = audit.parse_since(args.since) if getattr(args, "since", None) else None
    mark = getattr(args, "checkpoint", None)
    if mark:
        audit.parse_checkpoint(mark)  # a malformed checkpoint is answered before any connection
    engine = make_engine(settings.state_url or "")
    try:
        with sessions(engine, audit_keys=audit.keyring(settings))() as session:
            if args.audit_command == "verify":
                report = audit.verify(session, checkpoint=mark)
                print(audit.verify_text(report))
                return 0 if report.ok else 1
            if args.audit_command == "key":
                with session.begin():
                    row = audit.key_start(session, f"terminal:{getpass.getuser()}", mark)
                    print(f"Audit trail keyed with audit key {row.key_id} from event #{row.id}; the "
                          f"{row.data['unkeyed_events']} events before it stay unkeyed and can no longer be rewritten "
                          f"without the key. Checkpoint: {row.id}:{row.hash}")
                return 0
            if args.audit_command == "checkpoint":
                print(audit.checkpoint(session))
                return 0
            rows = audit.events(session, since=since, environment=args.env)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise DriftbotError(f"Cannot read the audit trail in the state database: {redact(reason)}") from None
    finally:
        engine.dispose()
    sys.stdout.write(audit.to_csv(rows) if args.format == "csv" else audit.to_json(rows))
    return 0
