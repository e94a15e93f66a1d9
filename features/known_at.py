"""Dated account attributes: an attribute is a feature only from the day it became known.

Contract (docs/data_contract.md, "Dated attributes"): an accounts column named
``<attribute>_known_at`` (ISO date) dates the attribute ``<attribute>`` of the same row. At a
snapshot ``as_of`` the attribute counts as known only when its ``known_at`` is strictly before
``as_of`` (the rule every other feature follows); otherwise it is missing (NaN) at that snapshot.
An empty ``known_at`` keeps the undated meaning: the value has been known since the account
entered the CRM. Attributes without a ``_known_at`` column are treated as known at every snapshot,
so a value filled from later records (e.g. after a deal was won) is only caught by the leakage
guard (models.potential.leakage).
"""

from __future__ import annotations

import pandas as pd

from features.contract import KNOWN_AT_SUFFIX
from features.errors import DataContractError


def dated_attributes(accounts: pd.DataFrame) -> dict[str, str]:
    """Attribute column -> its ``<attribute>_known_at`` column, for every dated attribute.

    Raises DataContractError for a ``_known_at`` column whose attribute the accounts lack.
    """
    dated = {}
    for column in accounts.columns:
        if not str(column).endswith(KNOWN_AT_SUFFIX):
            continue
        attribute = str(column)[: -len(KNOWN_AT_SUFFIX)]
        if attribute not in accounts.columns:
            raise DataContractError(
                f"accounts.{column} dates the attribute {attribute!r}, which the accounts table "
                f"lacks (columns: {list(accounts.columns)[:12]}). Add accounts.{attribute}, or "
                f"rename or drop {column}."
            )
        dated[attribute] = str(column)
    return dated


def known_at_dates(accounts: pd.DataFrame, column: str) -> pd.Series:
    """The ``known_at`` column as dates (midnight); DataContractError names unparseable values."""
    raw = accounts[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.dt.tz_localize(None).dt.normalize() if raw.dt.tz else raw.dt.normalize()
    text = raw.astype("string").str.strip().replace("", pd.NA)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    bad = text.notna() & parsed.isna()
    if bad.any():
        ids = accounts.loc[bad[bad].index, "account_id"].astype(str).head(5).tolist()
        values = text[bad].head(3).tolist()
        raise DataContractError(
            f"accounts.{column}: {int(bad.sum())} value(s) are not ISO dates (accounts {ids}, "
            f"values {values}). Write dates as 2024-03-31 (or leave the cell empty when the "
            "attribute was known from the account's creation)."
        )
    return parsed.dt.tz_localize(None).dt.normalize()


def attributes_known_at(accounts: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """A copy of ``accounts`` where each dated attribute not yet known at ``as_of`` is missing.

    Known means ``known_at < as_of`` (or an empty ``known_at``). Undated columns are unchanged;
    the frame is returned as is when nothing is dated.
    """
    dated = dated_attributes(accounts)
    if not dated:
        return accounts
    masked = {}
    for attribute, column in dated.items():
        known = known_at_dates(accounts, column)
        unknown = known.notna() & (known >= as_of)
        masked[attribute] = accounts[attribute].mask(unknown)
    return accounts.assign(**masked)
