"""``python -m driftbot.cli``: the ``driftbot`` command without its console script."""

from driftbot.cli import main

raise SystemExit(main())
