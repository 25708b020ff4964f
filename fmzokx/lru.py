# -*- test-case-name: tests.test_lru -*-
"""
A dictionary with a size cap that forgets the least recently used entry first.

Every structure the daemon keys by something a caller chooses -- an API key's
fingerprint, an instrument, a path -- must stay bounded however many distinct keys arrive
(an adversarial mix of keys once grew the resident memory without end). Reads and writes
both count as use.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import ItemsView, Iterator, MutableMapping, ValuesView
from typing import TypeVar

__all__ = ["LruDict"]

K = TypeVar("K")
V = TypeVar("V")


class LruDict(MutableMapping[K, V]):
    """
    A mapping of at most ``capacity`` entries; adding one more evicts the entry used
    longest ago. ``evictions`` counts what was forgotten (for tests and metrics).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"an LruDict needs a capacity of at least 1, got {capacity}")
        self.capacity = capacity
        self.evictions = 0
        self._items: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.evictions += 1

    def __delitem__(self, key: K) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # Views read without counting as use (through __getitem__ they would reorder the
    # entries while iterating over them).
    def items(self) -> ItemsView[K, V]:
        return self._items.items()

    def values(self) -> ValuesView[V]:
        return self._items.values()

    def __repr__(self) -> str:
        return f"LruDict(capacity={self.capacity}, size={len(self._items)})"
