"""``python -m bot.cli``: the ``driftbot`` command without its console script."""

from bot.cli import main

raise SystemExit(main())
