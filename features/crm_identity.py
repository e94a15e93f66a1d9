"""Checks of the optional CRM identities (accounts.crm_id, reps.crm_user_id, reps.email).

They are optional, so a bad value never quarantines a row (an account or rep must not vanish
over a typo in an id the model does not use); it is a warning that names the rows and the fix,
because the CRM exports and the CRM sign-in (docs/crm.md) cannot use such a value.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from features.validation_report import MAX_EXAMPLES, Issue

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
UNIQUE_IDENTITIES = (
    ("accounts", "account_id", "crm_id"),
    ("reps", "rep_id", "crm_user_id"),
    ("reps", "rep_id", "email"),
)


def _examples(ids: pd.Series) -> str:
    shown = ", ".join(str(i) for i in ids.head(MAX_EXAMPLES))
    return shown + (f", ... {len(ids) - MAX_EXAMPLES} more" if len(ids) > MAX_EXAMPLES else "")


def _warning(table: str, column: str, check: str, ids: pd.Series, message: str) -> Issue:
    return Issue("warning", table, column, check, len(ids), tuple(map(str, ids)), message)


def crm_identity_issues(frames: Mapping[str, pd.DataFrame]) -> list[Issue]:
    """Warnings for malformed emails and CRM identities shared by several rows."""
    issues: list[Issue] = []
    reps = frames.get("reps")
    if reps is not None and "email" in reps.columns:
        email = reps["email"].astype("str").where(reps["email"].notna())
        bad = email.notna() & ~email.str.match(EMAIL, na=False)
        if bad.any():
            ids = reps.loc[bad, "rep_id"]
            issues.append(
                _warning(
                    "reps", "email", "invalid_email", ids,
                    f"reps.email: {len(ids)} reps have an email that is not an address "
                    f"({_examples(ids)}; e.g. {email[bad].iloc[0]!r}). Write the rep's CRM "
                    "sign-in email (name@company.com) or leave it empty: HubSpot sign-in and the "
                    "HubSpot owner import match reps by it.",
                )
            )  # fmt: skip
    for table, key, column in UNIQUE_IDENTITIES:
        frame = frames.get(table)
        if frame is None or column not in frame.columns:
            continue
        values = frame[column].where(frame[column].notna())
        if column == "email":
            values = values.str.lower()
        shared = values.notna() & values.duplicated(keep=False)
        if shared.any():
            ids = frame.loc[shared, key]
            issues.append(
                _warning(
                    table, column, f"duplicate_{column}", ids,
                    f"{table}.{column}: {len(ids)} rows share a {column} with another row "
                    f"({_examples(ids)}). Give each row its own {column}: the CRM exports and "
                    "sign-in would not know which row a shared one means.",
                )
            )  # fmt: skip
    return issues
