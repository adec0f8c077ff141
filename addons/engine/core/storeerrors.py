"""The store's exceptions (apart, so that both backends raise them without
importing each other)."""

from __future__ import annotations


class StoreError(Exception):
    """A bad store URL or a store that cannot be opened (message is one line)."""


class StoreUnavailable(StoreError):
    """The store's server cannot be reached now (writes wait in the spool)."""
