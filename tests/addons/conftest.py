import warnings

import pytest

# mitmproxy 12.2 builds its filter grammar with pyparsing names deprecated in
# pyparsing 3.3; pytest turns warnings into errors, so import it quietly once.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import mitmproxy.test.taddons  # noqa: F401
    import mitmproxy.test.tflow  # noqa: F401


@pytest.fixture
def anyio_backend():
    return "asyncio"
