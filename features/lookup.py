"""Id lookups that stay fast on Arrow strings at a million accounts.

pandas' ``isin`` on Arrow-backed strings builds a Python scalar per value of the set, and
``get_indexer`` / ``map`` make a Python string per row: at 1M accounts and tens of millions of
deals and activities those took most of loading and of building training snapshots. Arrow's hash
lookups do the same in C++. Other dtypes (object ids in tests, a custom loader) keep pandas' way,
with the same answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc


def _arrow(values) -> object | None:
    to_arrow = getattr(getattr(values, "array", values), "__arrow_array__", None)
    return to_arrow() if to_arrow is not None else None


def positions(ids: pd.Index, values: pd.Series | pd.Index) -> np.ndarray:
    """Position of each value in the unique `ids`, -1 where absent (int32)."""
    arrow, known = _arrow(values), _arrow(ids)
    if arrow is None or known is None:
        return ids.get_indexer(values).astype(np.int32)
    found = pc.index_in(arrow, value_set=known)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)


def contains(values: pd.Series | pd.Index, among: pd.Series | pd.Index) -> np.ndarray:
    """``values.isin(among)`` as a boolean array (a missing value is never among)."""
    arrow, known = _arrow(values), _arrow(among)
    if arrow is None or known is None:
        plain = pd.Series(values)
        return (plain.isin(among) & plain.notna()).to_numpy()
    found = pc.fill_null(pc.is_in(arrow, value_set=known, skip_nulls=True), False)
    return found.to_numpy(zero_copy_only=False)


def lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``keys.map(table)`` for a `table` with unique index: its value per key, missing where
    the key is absent (or missing)."""
    pos = positions(table.index, keys)
    taken = table.iloc[np.maximum(pos, 0)].set_axis(keys.index)
    return taken.where(pos >= 0)
