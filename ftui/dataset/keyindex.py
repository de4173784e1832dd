"""A compact map from 64-bit example digests to line numbers.

A dict of a million Python ints costs ~90 MB; this open-addressing table over packed arrays costs 12 bytes a slot,
which keeps duplicate detection inside the validator's memory budget on gigabyte files.
"""

from __future__ import annotations

from array import array

_EMPTY = 0
_VALUE_LIMIT = 2**31 - 1  # values are line numbers, stored in 32 bits


class KeyIndex:
    def __init__(self, capacity: int = 1 << 12) -> None:
        size = 1
        while size < capacity:
            size <<= 1
        self._keys = array("Q", bytes(8 * size))
        self._values = array("i", bytes(4 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _stored(key: int) -> int:
        return key or 1  # 0 marks an empty slot

    def _slot(self, key: int) -> int:
        """The slot holding ``key``, or the empty slot where it would go."""
        keys, mask = self._keys, self._mask
        slot = key & mask
        while keys[slot] != key and keys[slot] != _EMPTY:
            slot = (slot + 1) & mask
        return slot

    def get(self, key: int) -> int | None:
        key = self._stored(key)
        slot = self._slot(key)
        return self._values[slot] if self._keys[slot] == key else None

    def setdefault(self, key: int, value: int) -> int | None:
        """Store ``value`` under ``key`` unless present; return the earlier value, or None if it was added."""
        key = key or 1  # as _stored: the hot path of the validator's merge, so written out
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            held = keys[slot]
            if held == key:
                return self._values[slot]
            if held == _EMPTY:
                break
            slot = (slot + 1) & mask
        keys[slot] = key
        self._values[slot] = (
            value if -_VALUE_LIMIT <= value <= _VALUE_LIMIT else max(-_VALUE_LIMIT, min(_VALUE_LIMIT, value))
        )
        self._count += 1
        if self._count * 2 > len(keys):
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_values = self._keys, self._values
        size = len(old_keys) * 2
        self._keys = array("Q", bytes(8 * size))
        self._values = array("i", bytes(4 * size))
        self._mask = size - 1
        keys, values, mask = self._keys, self._values, self._mask
        for key, value in zip(old_keys, old_values, strict=True):
            if key != _EMPTY:
                slot = key & mask
                while keys[slot] != _EMPTY:
                    slot = (slot + 1) & mask
                keys[slot] = key
                values[slot] = value
