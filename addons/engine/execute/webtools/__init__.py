"""The web tools the engine runs itself for targets without their own
(issue 21). Public: ``fetch.Fetcher`` (a page's text, public addresses
only), ``search`` (the configured search backends)."""
