"""Raw identifiers <-> dense int32 indices, vectorised both ways."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class IdMap:
    """A sorted vocabulary of raw ids; index ``i`` is the dense index of ``ids[i]``.

    Raw ids are kept in their natural dtype (int64 or str); matrices are only ever indexed by the
    dense indices this map hands out.
    """

    ids: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", pd.Index(self.ids))

    @classmethod
    def from_values(cls, values: np.ndarray | pd.Series) -> tuple[IdMap, np.ndarray]:
        """Build a map from (repeated) raw values; also return their dense indices."""
        codes, uniques = pd.factorize(np.asarray(values), sort=True)
        return cls(np.asarray(uniques)), codes.astype(np.int32)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, raw: np.ndarray | list | pd.Series, *, missing: int = -1) -> np.ndarray:
        """Dense indices of raw ids; ids not in the map get ``missing``."""
        raw_arr = np.asarray(raw)
        if self.ids.dtype.kind in "iu" and raw_arr.dtype.kind in "OUS":
            raw_arr = _as_int(raw_arr)
        elif self.ids.dtype.kind in "OUS" and raw_arr.dtype.kind in "iu":
            raw_arr = raw_arr.astype(str)
        idx = self._index.get_indexer(raw_arr)  # type: ignore[attr-defined]
        if missing != -1:
            idx = np.where(idx < 0, missing, idx)
        return idx.astype(np.int32)

    def raw(self, index: np.ndarray | list | int) -> np.ndarray:
        """Raw ids of dense indices (a negative or too-large index is an error)."""
        idx = np.asarray(index)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.ids)):
            raise IndexError(f"dense index out of range 0..{len(self.ids) - 1}")
        return self.ids[idx]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self.ids, other.ids)

    __hash__ = None  # type: ignore[assignment]


def _as_int(values: np.ndarray) -> np.ndarray:
    """Convert string ids to int64; strings that are not integers map to a value never used."""
    text = pd.Series(values, dtype=object).astype(str).str.strip()
    ok = text.str.fullmatch(r"[+-]?\d{1,19}").to_numpy(dtype=bool)
    sentinel = np.iinfo(np.int64).min
    out = np.full(len(text), sentinel, dtype=np.int64)
    lo, hi = np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max
    # Python ints are exact at any size; ids outside int64 cannot be in an int64 map.
    out[ok] = [v if lo <= v <= hi else sentinel for v in map(int, text[ok])]
    return out
