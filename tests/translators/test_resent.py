"""translators.resent: the last bodies, found again by the turn that continues one."""

from __future__ import annotations

from omniroute_mitm.translators.resent import Resent, common_prefix


def test_two_conversations_that_open_alike_each_find_their_own_last_turn() -> None:
    kept: Resent[str] = Resent(keep=8, head=4)
    opening = b"same"  # (the system prompt and tools both sessions send)
    a1, b1 = opening + b"-a" * 50, opening + b"-b" * 50
    kept.remember(a1, "a1")
    kept.remember(b1, "b1")
    last, same = kept.closest(a1 + b"-next")
    assert last is not None and last.value == "a1" and same == len(a1)
    kept.remember(a1 + b"-next", "a2", replaces=last)
    assert len(kept) == 2  # a2 in a1's place
    last, same = kept.closest(b1[:60] + b"edited")
    assert last is not None and last.value == "b1" and same == 60


def test_another_opening_or_key_finds_nothing() -> None:
    kept: Resent[int] = Resent(head=4)
    kept.remember(b"open and more", 1, key="x")
    assert kept.closest(b"OPEN and more", "x") == (None, -1)
    assert kept.closest(b"open and more", "y") == (None, -1)
    assert kept.closest(b"open and more", "x")[1] == len(b"open and more")


def test_the_least_recently_used_goes_first_and_a_forgotten_one_is_gone() -> None:
    kept: Resent[int] = Resent(keep=2, head=1)
    for i in range(3):
        kept.remember(b"x%d" % i * 10, i)
    assert len(kept) == 2
    assert kept.closest(b"x0" * 10)[1] < 20  # the first is gone: only x1/x2 bodies left
    last, _ = kept.closest(b"x2" * 10)
    kept.forget(last)
    kept.forget(last)  # (twice: nothing more happens)
    assert len(kept) == 1


def test_the_common_prefix_at_block_edges() -> None:
    base = bytes(range(256)) * 1024  # 256 KB: four 64 KB blocks
    for at in (0, 1, 65535, 65536, 65537, 200_000, len(base) - 1):
        changed = base[:at] + b"\x00\xff"[base[at] == 0 :][:1] + base[at + 1 :]
        assert common_prefix(base, changed) == at
