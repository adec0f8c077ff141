"""translators.copies: the same copy for the same part and change, within a bound."""

from __future__ import annotations

from dataclasses import replace

from omniroute_mitm.translators.canonical import Text, ToolResult
from omniroute_mitm.translators.copies import Copies


def named(copies: Copies, part: ToolResult, name: str) -> ToolResult:
    return copies.get(part, name, lambda: replace(part, name=name))


def test_the_same_part_and_change_get_the_same_copy_and_another_change_a_new_one() -> None:
    copies = Copies()
    part = ToolResult("call_1", [Text("out")])
    first = named(copies, part, "read")
    assert first.name == "read" and part.name is None  # (the original is never changed)
    assert named(copies, part, "read") is first
    assert named(copies, part, "write") is not first
    assert named(copies, ToolResult("call_1", [Text("out")]), "read") is not first  # by identity


def test_large_originals_are_forgotten_past_the_byte_bound() -> None:
    """A tool result can be megabytes: what is held is bounded by its text."""
    copies = Copies(max_bytes=10_000)
    parts = [ToolResult(f"call_{i}", [Text("x" * 4_000)]) for i in range(3)]
    made = [named(copies, p, "read") for p in parts]
    assert copies.held <= 10_000
    assert named(copies, parts[2], "read") is made[2]  # the newest is kept
    assert named(copies, parts[0], "read") is not made[0]  # the oldest went with the rest
    huge = ToolResult("call_h", [Text("y" * 20_000)])
    assert named(copies, huge, "read").name == "read" and copies.held <= 10_000
