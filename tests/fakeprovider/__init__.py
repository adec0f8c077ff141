"""A fake LLM provider for tests and benchmarks: all four wire formats, scriptable.

Independent of the project's translators on purpose: it renders each format by
hand from the real recordings, so it can judge them.
"""

from .handlers import frames
from .record import Recorded
from .replies import DEFAULT_REPLY, Reply, ToolCall, Usage
from .server import FakeProvider

__all__ = ["DEFAULT_REPLY", "FakeProvider", "frames", "Recorded", "Reply", "ToolCall", "Usage"]
