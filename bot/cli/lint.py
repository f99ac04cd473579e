"""``driftbot lint ENV [--migration NAME] [--json]`` and ``driftbot lint --offline PATH``."""

from __future__ import annotations

import json
import sys

from driftbot.cli.views import lint_text
from driftbot.engine.lint import lint_offline
from driftbot.engine.lint.environment import lint_environment
from driftbot.errors import DriftbotError
from driftbot.settings import load_settings


def run(args) -> int:
    if (args.env is None) == (args.offline is None):
        raise DriftbotError("Name an environment (`driftbot lint prod`) or a migrations folder "
                            "(`driftbot lint --offline prisma/migrations`), not both.")
    if args.offline is not None:
        if args.migration:
            raise DriftbotError("--migration is for an environment; with --offline name the migration's folder instead.")
        report = lint_offline(args.offline, args.schema)
    else:
        settings = load_settings(args.config)
        report = lint_environment(settings, settings.environment(args.env), args.migration)
    sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n" if args.json else lint_text(report))
    return report.exit_code
