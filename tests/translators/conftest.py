"""Shared fixtures for the translator tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_fixtures import FIXTURES


@pytest.fixture
def fixtures_dir() -> Path:
    """The recorded provider responses (/work/shared/fixtures), outside the repo."""
    path = FIXTURES
    if not path.is_dir():
        pytest.skip("../shared/fixtures not present")
    return path
