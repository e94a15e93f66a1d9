"""CRM exports of an approved plan, checked column by column against the layouts the CRMs
document (docs/crm.md cites each page), on the sample world and on the Maven export."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from serving.crm_export import HUBSPOT_BATCH_SIZE, ExportOptions
from serving.crm_export_io import export_bundle
from serving.decisions import DecisionStore
from serving.errors import BadRequest, Conflict
from tests.serving.fixtures.world import run_cli

# The layouts as the CRMs document them (docs/crm.md).
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
LAYOUTS = {
    "salesforce_account_owner.csv": ["Id", "OwnerId"],
    "salesforce_territory_create.csv": ["ObjectId", "Territory2Id", "AssociationCause"],
    "salesforce_territory_delete.csv": ["Id", "ObjectId", "Territory2Id"],
    "salesforce_account_team.csv": [
        "AccountId", "UserId", "TeamMemberRole", "AccountAccessLevel", "OpportunityAccessLevel",
        "CaseAccessLevel", "ContactAccessLevel",
    ],
    "hubspot_company_owner_import.csv": ["Record ID", "Company owner"],
}  # fmt: skip
ACCESS = {"AccountAccessLevel": {"Read", "Edit", "All"}}
ACCESS |= {c: {"None", "Read", "Edit"} for c in ("OpportunityAccessLevel", "CaseAccessLevel")}
ACCESS |= {"ContactAccessLevel": {"None", "Read", "Edit"}}
EFFECTIVE = date(2026, 7, 1)


def read_csv(body: bytes) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(body.decode("utf-8")))
    return list(reader.fieldnames or []), list(reader)


def plan_moves(tables, n: int = 14) -> list[tuple[str, str, str, str]]:
    """(account, from, to, another rep) for n accounts, each moved to the next active rep."""
    active = [str(r) for r in tables.reps.loc[tables.reps["active"], "rep_id"]]
    current = {str(a): str(r) for a, r in tables.current_owners().items()}
    moves = []
    for account, owner in list(current.items())[:n]:
        at = active.index(owner) if owner in active else -1
        moves.append(
            (account, owner, active[(at + 1) % len(active)], active[(at + 2) % len(active)])
        )
    return moves


def decided_store(tmp_path: Path, moves, *, approve: bool = True) -> tuple[DecisionStore, dict]:
    """A decisions store where a manager decided the moves (approve, one reject, one override)
    and, when `approve`, approved the plan effective 2026-07-01. Returns the owners as decided."""
    store = DecisionStore(f"sqlite:///{tmp_path / 'decisions.db'}")
    store.register_plan("plan-crm", str(tmp_path))
    final = {}
    for i, (account, src, dst, alt) in enumerate(moves):
        action = "reject" if i == 1 else ("override" if i == 2 else "approve")
        to = alt if action == "override" else dst
        store.decide(plan_id="plan-crm", account_id=account, action=action, from_rep_id=src,
                     proposed_rep_id=dst, final_rep_id=to, note="t", actor="Maria (manager)",
                     role="manager", model_version="m1")  # fmt: skip
        final[account] = src if action == "reject" else to
    if approve:
        store.approve_plan("plan-crm", actor="Maria (manager)", role="manager",
                           model_version="m1", note="Q3", effective_date=EFFECTIVE)  # fmt: skip
    return store, final


def export(fmt: str, tables, store, **options):
    current = {str(a): str(r) for a, r in tables.current_owners().items()}
    return export_bundle(fmt, tables=tables, current=current, plan_id="plan-crm", store=store,
                         options=ExportOptions(**options))  # fmt: skip


def by_id(frame: pd.DataFrame, key: str, column: str) -> dict[str, str]:
    return dict(zip(frame[key].astype(str), frame[column].astype(str), strict=True))


def check_every_format(tables, store, final: dict[str, str], current: dict[str, str]) -> None:
    """Each format, header and every column, against the documented layout."""
    crm_id = by_id(tables.accounts, "account_id", "crm_id")
    user = by_id(tables.reps, "rep_id", "crm_user_id")
    email = by_id(tables.reps, "rep_id", "email")
    territory = by_id(tables.reps, "rep_id", "crm_territory_id")
    changed = {a: r for a, r in final.items() if r != current[a]}
    expect_owner = {crm_id[a]: user[r] for a, r in changed.items()}

    files = export("salesforce-owner", tables, store).files
    header, rows = read_csv(files["salesforce_account_owner.csv"])
    assert header == LAYOUTS["salesforce_account_owner.csv"]
    assert {r["Id"]: r["OwnerId"] for r in rows} == expect_owner and len(rows) == len(changed)

    associations = [
        {"Id": f"0MA{i:015d}", "ObjectId": crm_id[a], "Territory2Id": territory[current[a]]}
        for i, a in enumerate(changed, start=1)
    ]
    files = export("salesforce-territory", tables, store, associations=associations).files
    header, rows = read_csv(files["salesforce_territory_create.csv"])
    assert header == LAYOUTS["salesforce_territory_create.csv"]
    assert {(r["ObjectId"], r["Territory2Id"]) for r in rows} == {
        (crm_id[a], territory[r]) for a, r in changed.items()
    }
    assert {r["AssociationCause"] for r in rows} == {"Territory2Manual"}
    header, rows = read_csv(files["salesforce_territory_delete.csv"])
    assert header == LAYOUTS["salesforce_territory_delete.csv"]
    assert [r["Id"] for r in rows] == [a["Id"] for a in associations]
    assert all(SALESFORCE_ID.match(r["Id"]) for r in rows)

    files = export("salesforce-team", tables, store, team_role="Sales Rep").files
    header, rows = read_csv(files["salesforce_account_team.csv"])
    assert header == LAYOUTS["salesforce_account_team.csv"]
    assert {r["AccountId"]: r["UserId"] for r in rows} == expect_owner
    assert {r["TeamMemberRole"] for r in rows} == {"Sales Rep"}
    for column, allowed in ACCESS.items():
        assert {r[column] for r in rows} <= allowed, column

    files = export("hubspot-import", tables, store).files
    header, rows = read_csv(files["hubspot_company_owner_import.csv"])
    assert header == LAYOUTS["hubspot_company_owner_import.csv"]
    assert {r["Record ID"]: r["Company owner"] for r in rows} == {
        crm_id[a]: email[r] for a, r in changed.items()
    }
    assert all("@" in r["Company owner"] for r in rows)

    files = export("hubspot-batch", tables, store).files
    payloads = [json.loads(b) for n, b in sorted(files.items()) if n.endswith(".json")
                and n != "manifest.json"]  # fmt: skip
    inputs = [i for p in payloads for i in p["inputs"]]
    assert all(set(p) == {"inputs"} and len(p["inputs"]) <= HUBSPOT_BATCH_SIZE for p in payloads)
    assert all(set(i) == {"id", "properties"} and set(i["properties"]) == {"hubspot_owner_id"}
               for i in inputs)  # fmt: skip
    assert {i["id"]: i["properties"]["hubspot_owner_id"] for i in inputs} == expect_owner


# -- the sample world -----------------------------------------------------------------------------
def test_sample_world_has_crm_identities(tables):
    assert tables.accounts["crm_id"].notna().all() and tables.accounts["crm_id"].is_unique
    assert tables.accounts["crm_id"].str.fullmatch(r"\d+").all()  # HubSpot record ids: numbers
    reps = tables.reps
    assert reps["crm_user_id"].is_unique and reps["email"].str.lower().is_unique
    assert reps["email"].str.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+").all()
    assert reps["crm_territory_id"].map(lambda t: bool(SALESFORCE_ID.match(t))).all()


def test_every_format_matches_the_documented_layout_on_the_sample_world(tables, tmp_path):
    moves = plan_moves(tables)
    store, final = decided_store(tmp_path, moves)
    current = {str(a): str(r) for a, r in tables.current_owners().items()}
    check_every_format(tables, store, final, current)


def test_manifest_records_the_plan_and_its_effective_date(tables, tmp_path):
    store, final = decided_store(tmp_path, plan_moves(tables))
    bundle = export("salesforce-owner", tables, store)
    manifest = json.loads(bundle.files["manifest.json"])
    assert manifest["plan_id"] == "plan-crm" and manifest["plan_status"] == "approved"
    assert manifest["effective_date"] == "2026-07-01" and manifest["approved_by"]
    assert manifest["changed_only"] is True and manifest["rows"] == manifest["changed_rows"] == 13
    assert set(manifest["files"]) == {"salesforce_account_owner.csv"}
    assert manifest["files"]["salesforce_account_owner.csv"]["rows"] == 13
    territory = export("salesforce-territory", tables, store, all_rows=True).manifest
    assert territory["files"]["salesforce_territory_create.csv"]["rows"] == 13  # changed only
    assert "Data Loader" in manifest["load_with"]


def test_all_rows_includes_unchanged_owners_and_batches_by_100(tables, tmp_path):
    store, _ = decided_store(tmp_path, plan_moves(tables))
    bundle = export("hubspot-batch", tables, store, all_rows=True)
    n = len(tables.accounts)
    assert bundle.manifest["rows"] == n and bundle.manifest["changed_only"] is False
    sizes = [len(json.loads(b)["inputs"]) for name, b in sorted(bundle.files.items())
             if name.startswith("hubspot_companies_batch_update_")]  # fmt: skip
    assert sizes == [100] * (n // 100) + ([n % 100] if n % 100 else [])


def test_export_is_refused_for_a_plan_that_is_not_approved(tables, tmp_path):
    store, _ = decided_store(tmp_path, plan_moves(tables), approve=False)
    with pytest.raises(Conflict, match=r"plan plan-crm is proposed, not approved.*approve_plan"):
        export("salesforce-owner", tables, store)
    with pytest.raises(Conflict, match="not registered"):
        export_bundle("hubspot-import", tables=tables, current={}, plan_id="nope", store=store,
                      options=ExportOptions())  # fmt: skip


def test_missing_crm_ids_name_how_many_rows_and_the_fix(tables, tmp_path):
    store, _ = decided_store(tmp_path, plan_moves(tables))
    accounts = tables.accounts.copy()
    accounts["crm_id"] = pd.NA
    broken = dataclasses.replace(tables, accounts=accounts)
    with pytest.raises(BadRequest, match=r"13 of 13 rows to export have no accounts.crm_id.*"
                       r"map `crm_id`.*Nothing was written"):  # fmt: skip
        export("salesforce-owner", broken, store)
    reps = tables.reps.copy()
    reps["email"] = pd.NA
    broken = dataclasses.replace(tables, reps=reps)
    with pytest.raises(BadRequest, match=r"13 of 13 rows .* no reps.email .*map `email`"):
        export("hubspot-import", broken, store)


def test_unknown_format_is_a_clear_error(tables, tmp_path):
    store, _ = decided_store(tmp_path, plan_moves(tables))
    with pytest.raises(BadRequest, match="'sap' is not one of salesforce-owner"):
        export("sap", tables, store)


def test_cli_writes_the_files_and_refuses_an_unapproved_plan(crm_dir, plan_dir, tmp_path):
    """`territory export` end to end (its own process): the plan folder, the decisions store."""
    from features.loaders import load_crm
    from serving.plans import read_plan

    tables = load_crm(crm_dir).tables
    plan = read_plan(plan_dir, {str(a): str(r) for a, r in tables.current_owners().items()})
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = DecisionStore(url)
    store.register_plan(plan.plan_id, str(plan_dir))
    args = [str(Path(sys.executable).parent / "territory"), "export", "--format", "hubspot-import",
            "--data", str(crm_dir), "--plan", str(plan_dir), "--decisions", url,
            "--out", str(tmp_path / "out")]  # fmt: skip
    refused = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "not approved" in refused.stderr
    assert not (tmp_path / "out").exists()
    move = next(iter(plan.moves.values()))
    store.decide(plan_id=plan.plan_id, account_id=move.account_id, action="approve",
                 from_rep_id=move.from_rep_id, proposed_rep_id=move.to_rep_id,
                 final_rep_id=move.to_rep_id, note="", actor="M", role="manager",
                 model_version="m")  # fmt: skip
    store.approve_plan(plan.plan_id, actor="M", role="manager", model_version="m", note="",
                       effective_date=EFFECTIVE)  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "effective 2026-07-01" in done.stdout
    header, rows = read_csv((tmp_path / "out" / "hubspot_company_owner_import.csv").read_bytes())
    crm_id = by_id(tables.accounts, "account_id", "crm_id")
    email = by_id(tables.reps, "rep_id", "email")
    assert header == LAYOUTS["hubspot_company_owner_import.csv"]
    assert rows == [{"Record ID": crm_id[move.account_id], "Company owner": email[move.to_rep_id]}]


# -- the Maven export -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def maven_src(shared_data) -> Path:
    """../shared/data/maven_crm: skipped with the reason in a clone without it, required in CI."""
    return shared_data / "maven_crm"


def test_maven_export_without_crm_ids_is_refused_with_the_fix(maven_src, tmp_path):
    from features.loaders import load_crm

    run_cli(["import", "--mapping", "maven_crm", str(maven_src), "--out", str(tmp_path / "m")], {})
    tables = load_crm(tmp_path / "m").tables
    assert tables.accounts["crm_id"].isna().all() and tables.reps["email"].isna().all()
    store, _ = decided_store(tmp_path, plan_moves(tables, n=10))
    with pytest.raises(BadRequest, match=r"9 of 9 rows to export have no accounts.crm_id"):
        export("salesforce-owner", tables, store)


def test_every_format_matches_the_layout_on_the_maven_export_with_mapped_ids(maven_src, tmp_path):
    """The admin's path: the Maven files joined with the CRM's record ids (as an export from the
    CRM gives them), crm_id / crm_user_id / email mapped in a copy of the shipped mapping."""
    from features.loaders import load_crm

    src = tmp_path / "maven"
    shutil.copytree(maven_src, src)
    accounts = pd.read_csv(src / "accounts.csv")
    accounts["record_id"] = [f"001{i:015d}" for i in range(1, len(accounts) + 1)]
    accounts.to_csv(src / "accounts.csv", index=False)
    teams = pd.read_csv(src / "sales_teams.csv")
    teams["user_id"] = [f"005{i:015d}" for i in range(1, len(teams) + 1)]
    teams["email"] = teams["sales_agent"].str.lower().str.replace(" ", ".") + "@example.com"
    teams["territory_id"] = [f"0MI{i:015d}" for i in range(1, len(teams) + 1)]
    teams.to_csv(src / "sales_teams.csv", index=False)
    shipped = Path("features/mappings/maven_crm.yaml").read_text()
    mapping = (
        shipped.replace("crm_id: null", "crm_id: record_id")
        .replace("crm_user_id: null", "crm_user_id: user_id\n      crm_territory_id: territory_id")
        .replace("email: null", "email: email")
    )
    (tmp_path / "maven.yaml").write_text(mapping)
    run_cli(["import", "--mapping", str(tmp_path / "maven.yaml"), str(src), "--out",
             str(tmp_path / "m")], {})  # fmt: skip
    tables = load_crm(tmp_path / "m").tables
    assert tables.accounts["crm_id"].notna().all() and tables.reps["email"].notna().all()
    store, final = decided_store(tmp_path, plan_moves(tables, n=10))
    current = {str(a): str(r) for a, r in tables.current_owners().items()}
    check_every_format(tables, store, final, current)
    header, rows = read_csv(export("salesforce-owner", tables, store).files[
        "salesforce_account_owner.csv"])  # fmt: skip
    assert all(SALESFORCE_ID.match(r["Id"]) and SALESFORCE_ID.match(r["OwnerId"]) for r in rows)


def test_associations_file_without_its_columns_is_a_clear_error(tmp_path):
    from serving.crm_export_io import read_associations

    bad = tmp_path / "associations.csv"
    bad.write_text("Id,Name\n0MA000000000000001,x\n")
    with pytest.raises(BadRequest, match=r"lacks column\(s\) ObjectId, Territory2Id.*Data Loader"):
        read_associations(bad)
    good = tmp_path / "ok.csv"
    good.write_text("Id,ObjectId,Territory2Id\n0MA000000000000001,001000000000000001,0MI1\n")
    assert read_associations(good)[0]["Territory2Id"] == "0MI1"
