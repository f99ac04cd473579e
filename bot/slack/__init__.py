"""Everything Slack: the Bolt app, the Web API client, redacted posting, the ``/drift`` grammar,
what the listeners hand over to, Block Kit views, and what the worker posts."""
