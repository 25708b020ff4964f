"""LruDict: a mapping with a cap that forgets the least recently used entry first."""

from __future__ import annotations

import pytest

from fmzokx.lru import LruDict


def test_the_cap_holds_and_the_oldest_goes_first() -> None:
    cache: LruDict[str, int] = LruDict(3)
    for index in range(10):
        cache[f"k{index}"] = index
    assert list(cache) == ["k7", "k8", "k9"]
    assert len(cache) == 3 and cache.evictions == 7


def test_reads_count_as_use() -> None:
    cache: LruDict[str, int] = LruDict(2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # a is now the most recent
    cache["c"] = 3
    assert "b" not in cache and "a" in cache
    assert cache.get("a") == 1 and cache.get("zz") is None
    cache["d"] = 4
    assert "c" not in cache


def test_setdefault_and_updates_stay_within_the_cap() -> None:
    cache: LruDict[int, dict[str, str]] = LruDict(100)
    for index in range(100_000):
        cache.setdefault(index, {})["direction"] = "buy"
    assert len(cache) == 100 and cache.evictions == 99_900
    cache.pop(99_999)
    assert len(cache) == 99


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LruDict(0)


def test_views_do_not_reorder() -> None:
    cache: LruDict[str, int] = LruDict(3)
    cache["a"], cache["b"], cache["c"] = 1, 2, 3
    assert list(cache.values()) == [1, 2, 3]
    assert list(cache.items()) == [("a", 1), ("b", 2), ("c", 3)]
    cache["d"] = 4
    assert list(cache) == ["b", "c", "d"]
