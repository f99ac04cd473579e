"""The Slack side: Web API client, Block Kit views, snippets and the Bolt app factory."""
