"""Import mappings: the YAML language, its errors, and the Maven CRM export mapped end to end."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.loaders import find_mapping, import_export, load_crm
from features.mapping import MappingError, apply_mapping, parse_mapping, slug
from training.cli import app

MINIMAL = """
sources:
  companies: companies.csv
  people: people.csv
  deals: {file: deals.csv, values: {plan: {ProPlan: Pro}}}
  plans: plans.csv
tables:
  accounts:
    from: companies
    columns:
      account_id: {id_from: company}
      name: company
      industry: {column: sector, values: {tech: technology}, case: title}
      created_at: {column: founded, date_format: "%Y"}
      annual_revenue: {column: revenue_m, scale: 1000000}
    extra:
      tier: {const: gold}
  reps:
    from: people
    columns: {rep_id: {id_from: person}, name: person, hired_at: null, active: {const: true}}
  opportunities:
    from: deals
    join: [{source: plans, key: plan, columns: [price]}]
    columns:
      opportunity_id: id
      account_id: {id_from: company}
      rep_id: {id_from: person}
      created_at: opened
      closed_at: closed
      stage: {column: status, values: {Closed Won: won, Closed Lost: lost, Working: open}}
      amount: {column: value, fill: {column: price}}
  assignments:
    from: deals
    group_by: company
    columns:
      account_id: {id_from: company}
      rep_id: {id_from: person, agg: mode}
      start_date: {column: opened, agg: min}
      end_date: null
"""


def crm_minimal_sources() -> dict[str, pd.DataFrame]:
    text = lambda rows: pd.DataFrame(rows, dtype="str")  # noqa: E731 - sources are read as text
    return {
        "companies": text({"company": ["Acme Corp.", " Zörg AG "], "sector": ["tech", "retail  "],
                           "founded": ["1999", "20x1"], "revenue_m": ["1.5", ""]}),
        "people": text({"person": ["Ann Lee", "Bo Chan"]}),
        "deals": text({"id": ["D1", "D2", "D3", "D4"],
                       "company": ["Acme Corp.", "Acme Corp.", "Zörg AG", None],
                       "person": ["Ann Lee", "Bo Chan", "Bo Chan", "Ann Lee"],
                       "opened": ["2024-01-05", "2023-06-01", "2024-02-01", "2024-03-01"],
                       "closed": ["2024-02-01", None, None, None],
                       "status": ["Closed Won", "Working", "Working", "Working"],
                       "value": ["900", None, None, None],
                       "plan": ["Basic", "ProPlan", "Basic", "Pro"]}),
        "plans": text({"plan": ["Basic", "Pro"], "price": ["100", "250"]}),
    }  # fmt: skip


def test_minimal_mapping_builds_contract_tables() -> None:
    frames = apply_mapping(parse_mapping(MINIMAL), crm_minimal_sources())
    accounts = frames["accounts"]
    assert accounts["account_id"].tolist() == ["acme-corp", "zorg-ag"]
    assert accounts["industry"].tolist() == ["Technology", "Retail"]
    assert accounts["created_at"].tolist() == ["1999-01-01", "20x1"]  # kept, to be reported
    assert accounts["annual_revenue"].tolist()[0] == 1_500_000.0 and pd.isna(
        accounts["annual_revenue"][1]
    )
    assert list(accounts.columns)[-4:] == ["created_at", "satisfaction", "crm_id", "tier"]
    assert accounts["employees"].isna().all()  # optional, not mapped: empty
    opportunities = frames["opportunities"].set_index("opportunity_id")
    assert opportunities["stage"].tolist() == ["won", "open", "open", "open"]
    assert opportunities["amount"].tolist() == ["900", "250", "100", "250"]
    assignments = frames["assignments"]
    assert assignments.drop(columns="end_date").to_dict("list") == {
        "account_id": ["acme-corp", "zorg-ag"],
        "rep_id": ["ann-lee", "bo-chan"],  # a tie at Acme (one deal each) goes to the smaller id
        "start_date": ["2023-06-01", "2024-02-01"],
    }
    assert assignments["end_date"].isna().all()


def test_minimal_mapping_validates(tmp_path: Path) -> None:
    from features.loaders import write_frames

    write_frames(apply_mapping(parse_mapping(MINIMAL), crm_minimal_sources()), tmp_path)
    report = load_crm(tmp_path).report
    assert report.summary() == (
        "quarantined 4 rows: accounts 1 (wrong type created_at 1), opportunities 2 "
        "(missing account_id 1, quarantined accounts 1), assignments 1 (quarantined accounts 1)"
    )


def test_slug_is_stable_ascii() -> None:
    names = pd.Series(["Acme Corporation", "  Zörg & Söhne GmbH ", "007", "---", None], dtype="str")
    assert slug(names).tolist()[:3] == ["acme-corporation", "zorg-sohne-gmbh", "007"]
    assert slug(names)[3:].isna().all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  industry: {column: sector", "  industry: {colum: sector"), "unknown key 'colum'"),
        (("      name: company\n", "      nome: company\n"), "'nome' is not a accounts column"),
        (("      created_at: {column: founded, date_format: \"%Y\"}\n", ""),
         "'created_at' is required"),
        (("    from: people", "    from: staff"), "'staff' is not a declared source"),
        (("start_date: {column: opened, agg: min}", "start_date: {column: opened, agg: avg}"),
         "agg: 'avg' is not one of first, min, max, mode, count, sum, mean"),
        (("      annual_revenue: {column: revenue_m, scale: 1000000}",
          "      annual_revenue: {column: revenue_m, agg: sum}"), "agg: 'sum' needs `group_by`"),
        (("  reps:\n", "  rep:\n"), "'rep' is not a contract table"),
        (("      tier: {const: gold}", "      tier: {const: gold, id_from: x}"), "exactly one of"),
    ],
)  # fmt: skip
def test_mapping_errors_say_what_to_fix(change: tuple[str, str], message: str) -> None:
    assert change[0] in MINIMAL
    with pytest.raises(MappingError, match=message):
        parse_mapping(MINIMAL.replace(*change), origin="test.yaml")


def test_missing_source_column_names_the_file() -> None:
    mapping = parse_mapping(MINIMAL.replace("name: company", "name: company_name"))
    with pytest.raises(
        MappingError, match=r"column 'company_name' is not in companies.csv \(columns: company,"
    ):
        apply_mapping(mapping, crm_minimal_sources())


def test_lookup_needs_unique_keys() -> None:
    sources = crm_minimal_sources()
    sources["plans"] = pd.DataFrame({"plan": ["Basic", "Basic"], "price": ["1", "2"]}, dtype="str")
    with pytest.raises(MappingError, match="plans.csv has several rows for 'Basic'"):
        apply_mapping(parse_mapping(MINIMAL), sources)


def test_shipped_maven_mapping_parses() -> None:
    mapping = parse_mapping(find_mapping("maven_crm").read_text())
    assert set(mapping.tables) == {"accounts", "reps", "opportunities", "assignments"}
    assert mapping.sources["pipeline"].values == {"product": {"GTXPro": "GTX Pro"}}


def test_maven_export_imports_cleanly(shared_data: Path, tmp_path: Path) -> None:
    result = import_export("maven_crm", shared_data / "maven_crm", tmp_path / "maven")
    report = result.report
    assert not report.fatal
    assert report.rows_in == {"accounts": 85, "reps": 35, "opportunities": 8800, "activities": 0,
                              "assignments": 85}  # fmt: skip
    assert report.rows_out == {"accounts": 85, "reps": 35, "opportunities": 7212, "activities": 0,
                               "assignments": 85}  # fmt: skip
    assert [(i.check, i.column, i.count) for i in report.issues] == [
        ("missing_value", "account_id", 1425),  # open deals without an account
        ("missing_value", "created_at", 163),  # Prospecting deals (with an account) never engaged
    ]
    assert report.summary() == (
        "quarantined 1588 rows: opportunities 1588 "
        "(missing account_id 1425, missing created_at 163)"
    )
    tables = result.tables
    accounts = tables.accounts.set_index("account_id")
    assert accounts.loc["acme-corporation", "industry"] == "technology"  # source typo "technolgy"
    assert accounts.loc["bioholding", "country"] == "Philippines"
    assert accounts.loc["acme-corporation", "annual_revenue"] == 1_100_040_000.0
    assert accounts.loc["acme-corporation", "created_at"] == pd.Timestamp("1996-01-01")
    assert tables.extra_account_columns == ("parent_account_id", "manager")
    # region and manager come from the owning agent's row of sales_teams.csv
    assert accounts.loc["acme-corporation", ["region", "manager"]].tolist() == [
        "East", "Rocco Neubert",
    ]  # fmt: skip
    assert accounts["region"].value_counts().to_dict() == {"West": 30, "Central": 28, "East": 27}
    teams = pd.read_csv(shared_data / "maven_crm" / "sales_teams.csv", dtype=str)
    teams["rep_id"] = slug(teams["sales_agent"])
    by_owner = teams.set_index("rep_id").loc[tables.current_owners()[accounts.index]]
    assert accounts["region"].tolist() == by_owner["regional_office"].tolist()
    assert accounts["manager"].tolist() == by_owner["manager"].tolist()
    opportunities = tables.opportunities
    assert opportunities["stage"].value_counts().to_dict() == {
        "won": 4238,
        "lost": 2473,
        "open": 501,
    }
    assert opportunities["amount"].notna().all()  # open deals priced from products.csv
    assert opportunities.set_index("opportunity_id").loc["Z063OYW0", "amount"] == 4514.0
    owners = tables.current_owners()
    assert (len(owners), owners.nunique()) == (85, 15)  # the agent with most deals per account
    assert owners.value_counts()["darcel-schlecht"] == 26
    quarantine = tmp_path / "maven" / "current" / "quarantine"
    quarantined = pd.read_csv(quarantine / "opportunities.csv", dtype=str)
    assert len(quarantined) == 1588 and set(quarantined["check"]) == {"missing_value"}


def test_cli_import_maven(shared_data: Path, tmp_path: Path) -> None:
    src, out = str(shared_data / "maven_crm"), str(tmp_path / "m")
    args = ["import", "--mapping", "maven_crm", src, "--out", out, "--format", "parquet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "opportunities 8800 -> 7212" in result.output
    assert "quarantined 1588 rows: opportunities 1588" in result.output
    assert (tmp_path / "m" / "current" / "accounts.parquet").is_file()


def test_cli_import_fails_on_fatal_problems(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name, frame in crm_minimal_sources().items():
        frame.to_csv(src / f"{name}.csv", index=False)
    (tmp_path / "m.yaml").write_text(MINIMAL.replace("{column: sector,", "{const: x,"))
    args = [
        "import",
        "--mapping",
        str(tmp_path / "m.yaml"),
        str(src),
        "--out",
        str(tmp_path / "out"),
    ]
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    (tmp_path / "m.yaml").write_text(
        MINIMAL.replace("rep_id: {id_from: person}", "rep_id: {const: R}")
    )
    failed = CliRunner().invoke(app, args)
    assert failed.exit_code == 1, failed.output
    assert "duplicate_id" in failed.output and "fatal" in failed.output


def test_olist_funnel_sample_imports_and_validates(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[1] / "data" / "olist_funnel"
    result = import_export("olist_funnel", src, tmp_path / "olist")
    report = result.report
    assert report.rows_in == {"accounts": 12, "reps": 6, "opportunities": 23, "activities": 0,
                              "assignments": 7}  # fmt: skip
    assert report.rows_out == report.rows_in
    assert [(i.severity, i.check, i.count) for i in report.issues] == [
        ("warning", "no_current_owner", 5),  # leads that never closed have no owner
    ]
    assert report.summary() == "quarantined 0 rows"
    tables = result.tables
    reps = tables.reps.set_index("rep_id")
    assert reps["level"].value_counts().to_dict() == {"SDR": 3, "AE": 3}  # two roles, one union
    opps = tables.opportunities
    leads = opps[opps["opportunity_id"].str.startswith("lead-")]
    assert leads["stage"].value_counts().to_dict() == {"won": 7, "open": 5}
    assert (leads.loc[leads["stage"] == "won", "amount"] == 0).all()
    assert leads.loc[leads["stage"] == "open", "amount"].isna().all()
    sales = opps[~opps["opportunity_id"].str.startswith("lead-")]
    assert len(sales) == 11 and (sales["stage"] == "won").all()  # 3 orders of outside sellers out
    assert round(sales["amount"].sum(), 2) == 1716.98
    # one order's three items of one seller become one opportunity: 24.50 + 14.50 + 14.50
    assert sorted(sales["amount"].round(2))[:3] == [29.9, 53.5, 57.0]
    accounts = tables.accounts.set_index("account_id")
    assert accounts["region"].value_counts().to_dict() == {"SP": 3, "PR": 1, "MG": 1, "SC": 1,
                                                           "RJ": 1}  # fmt: skip
    assert tables.extra_account_columns == ("origin", "lead_type")
    assert accounts["origin"].isna().sum() == 0  # the empty origin became "unknown"
    owners = tables.current_owners()
    assert len(owners) == 7 and set(owners) <= set(reps.index[reps["level"] == "AE"])
