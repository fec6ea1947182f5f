"""BoundedMemo: remembered values, a hard bound, and everything forgotten at once when full."""

from __future__ import annotations

import threading

import pytest

from vaultguard.service.memo import BoundedMemo


def test_a_remembered_value_is_built_once() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(4)
    calls = []

    def build() -> int:
        calls.append(1)
        return 42

    assert memo.remember("k", build) == 42
    assert memo.remember("k", build) == 42
    assert len(calls) == 1 and memo.get("k") == 42


def test_none_is_remembered_like_any_other_value() -> None:
    memo: BoundedMemo[str, None] = BoundedMemo(4)
    calls = []
    memo.remember("missing", lambda: calls.append(1))
    memo.remember("missing", lambda: calls.append(1))
    assert calls == [1] and "missing" in memo


def test_storing_one_more_than_the_bound_forgets_everything_first() -> None:
    memo: BoundedMemo[int, int] = BoundedMemo(3)
    for i in range(3):
        memo.put(i, i)
    assert len(memo) == 3
    memo.put(99, 99)
    assert len(memo) == 1 and memo.get(0) is None and memo.get(99) == 99


def test_get_keeps_working_after_the_memo_is_emptied() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(1)
    memo.put("a", 1)
    memo.put("b", 2)  # full: "a" is forgotten
    memo.clear()
    memo.put("c", 3)
    assert memo.get("c") == 3 and memo.get("a") is None


def test_concurrent_writers_never_push_it_past_its_bound() -> None:
    memo: BoundedMemo[tuple[int, int], int] = BoundedMemo(50)
    sizes: list[int] = []

    def writer(t: int) -> None:
        for i in range(2000):
            memo.put((t, i), i)
            sizes.append(len(memo))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(sizes) <= 50


def test_a_memo_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        BoundedMemo(0)
