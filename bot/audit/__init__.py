"""The audit trail, one concept a module: the hash chain and its verification (``chain``), reading it
back and exporting it (``export``), and the configuration audit at a process's start (``config``).

``from bot import audit`` keeps working as when this was one module: the names below are the trail's."""

from driftbot.audit.chain import (  # noqa: F401
    CHAIN_LOCK, CHECKPOINT, GENESIS, KEY_STARTED, KEYS_INFO, NO_KEYS, NOT_KEYED_YET, ChainReport, Keyring, checkpoint,
    event_hash, key_id, key_start, keyring, parse_checkpoint, record, verify, verify_text,
)
from driftbot.audit.config import config_seen, record_start, require_keyed, require_no_key  # noqa: F401
from driftbot.audit.export import (  # noqa: F401
    EXPORT_FIELDS, PHRASES, events, export_row, parse_since, to_csv, to_json,
)
from driftbot.state.models import AuditEvent  # noqa: F401 - the trail's rows
