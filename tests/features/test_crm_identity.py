"""The optional CRM identities are validated: bad emails and shared ids are warnings that name
the rows and the fix, and never quarantine a row."""

from __future__ import annotations

import pandas as pd

from features.validation import validate_crm


def raw_export() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2", "A3"], "name": ["a", "b", "c"], "industry": ["x"] * 3,
        "created_at": ["2020-01-01"] * 3, "crm_id": ["9001", "9001", None],
    })  # fmt: skip
    reps = pd.DataFrame({
        "rep_id": ["R1", "R2", "R3"], "name": ["Ann", "Bo", "Cy"], "hired_at": ["2019-01-01"] * 3,
        "crm_user_id": ["7001", "7002", "7003"],
        "email": ["ann@example.com", "not-an-email", "ANN@example.com"],
    })  # fmt: skip
    assignments = pd.DataFrame({
        "account_id": ["A1", "A2", "A3"], "rep_id": ["R1", "R2", "R3"],
        "start_date": ["2020-01-01"] * 3, "end_date": [None] * 3,
    })  # fmt: skip
    opportunities = pd.DataFrame(columns=["opportunity_id", "account_id", "rep_id", "created_at",
                                          "closed_at", "stage", "amount"])  # fmt: skip
    return {"accounts": accounts, "reps": reps, "assignments": assignments,
            "opportunities": opportunities}  # fmt: skip


def test_bad_email_and_shared_crm_ids_are_warnings_naming_rows_and_fix():
    tables, report = validate_crm(raw_export())
    assert tables is not None and len(tables.reps) == 3 and len(tables.accounts) == 3
    by_check = {i.check: i for i in report.issues}
    bad = by_check["invalid_email"]
    assert bad.severity == "warning" and bad.example_ids == ("R2",)
    assert "'not-an-email'" in bad.message and "leave it empty" in bad.message
    shared = by_check["duplicate_crm_id"]
    assert shared.count == 2 and shared.example_ids == ("A1", "A2")
    assert "Give each row its own crm_id" in shared.message
    emails = by_check["duplicate_email"]  # case-insensitive: ann@ and ANN@ are one sign-in
    assert emails.example_ids == ("R1", "R3")
    assert "duplicate_crm_user_id" not in by_check


def test_exports_without_crm_identities_have_no_such_warnings():
    raw = raw_export()
    raw["accounts"] = raw["accounts"].drop(columns="crm_id")
    raw["reps"] = raw["reps"].drop(columns=["crm_user_id", "email"])
    tables, report = validate_crm(raw)
    assert tables is not None and tables.accounts["crm_id"].isna().all()
    assert not [i for i in report.issues if "crm" in i.check or "email" in i.check]
