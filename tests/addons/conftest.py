import sys
import warnings
from pathlib import Path

import pytest

# mitmproxy 12.2 builds its filter grammar with pyparsing names deprecated in
# pyparsing 3.3; pytest turns warnings into errors, so import it quietly once.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import mitmproxy.test.taddons  # noqa: F401
    import mitmproxy.test.tflow  # noqa: F401

# tests/ is on sys.path (the root conftest), so tests/engine/ would shadow the
# engine package as a namespace package: put addons/ (its real home) first.
# mitmdump -s addons/omniroute.py puts addons/ on sys.path the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "addons"))
if getattr(sys.modules.get("engine"), "__file__", "") is None:
    del sys.modules["engine"]


@pytest.fixture
def anyio_backend():
    return "asyncio"
