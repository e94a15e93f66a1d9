"""The mapping language's constructs, one test each, and its shape errors (one line, YAML path)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.mapping import MappingError, apply_mapping, parse_mapping

REQUIRED = """
  reps:
    from: people
    columns: {rep_id: person, name: person, hired_at: null}
  accounts:
    from: people
    columns: {account_id: person, name: person, industry: null, created_at: {const: 2024-01-01}}
  assignments:
    from: people
    columns: {account_id: person, rep_id: person, start_date: {const: 2024-01-01}, end_date: null}
"""


def text(rows: dict[str, list[str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, dtype="str")


def build(opportunities: str, sources: dict[str, pd.DataFrame], extra: str = "") -> pd.DataFrame:
    sources = {"people": text({"person": ["ann"]}), **sources}
    declared = "".join(f"  {name}: {name}.csv\n" for name in sources)
    yaml_text = f"sources:\n{declared}tables:\n  opportunities:\n{opportunities}{REQUIRED}{extra}"
    return apply_mapping(parse_mapping(yaml_text), sources)["opportunities"]


LEADS = text({"lead": ["L1", "L2", "L3"], "seller": ["S1", None, "S3"],
              "won": ["2024-02-01", None, "2024-03-01"], "first": ["2024-01-01"] * 3,
              "origin": ["paid", "organic", "unknown"]})  # fmt: skip
ITEMS = text({"order": ["O1", "O1", "O2", "O3"], "item": ["1", "2", "1", "1"],
              "seller": ["S1", "S1", "S1", "S3"], "price": ["10.5", "4.5", "7", "x"],
              "day": ["2024-05-01"] * 4})  # fmt: skip


def test_union_stacks_parts_with_concat_ids_sum_and_filter() -> None:
    spec = """
    union:
      - from: leads
        filter: {column: origin, not_in: [unknown]}
        columns:
          opportunity_id: lead
          account_id: lead
          rep_id: null
          created_at: first
          closed_at: won
          stage: {cases: [{when: {column: won, empty: false}, then: {const: won}}],
                  else: {const: open}}
          amount: null
      - from: items
        group_by: [order, seller]
        columns:
          opportunity_id: {concat: [order, seller], sep: "-"}
          account_id: seller
          rep_id: null
          created_at: {column: day, agg: min}
          closed_at: {column: day, agg: max}
          stage: {const: won}
          amount: {column: price, agg: sum}
"""
    frame = build(spec, {"leads": LEADS, "items": ITEMS})
    assert frame[["opportunity_id", "account_id", "stage", "amount"]].to_dict("list") == {
        "opportunity_id": ["L1", "L2", "O1-S1", "O2-S1", "O3-S3"],  # L3 filtered out
        "account_id": ["L1", "L2", "S1", "S1", "S3"],
        "stage": ["won", "open", "won", "won", "won"],
        "amount": [None, None, 15.0, 7.0, "x"],  # "x" kept, for validation to report
    }


def test_mean_and_count_aggregate_per_group() -> None:
    spec = """
    from: items
    group_by: seller
    columns:
      opportunity_id: seller
      account_id: seller
      rep_id: null
      created_at: {column: day, agg: first}
      stage: {const: won}
      amount: {column: item, agg: mean}
      closed_at: {column: order, agg: count}
"""
    frame = build(spec, {"items": ITEMS})
    assert frame[["opportunity_id", "amount", "closed_at"]].to_dict("list") == {
        "opportunity_id": ["S1", "S3"],
        "amount": [4 / 3, 1.0],
        "closed_at": [3, 1],
    }


def test_composite_normalised_and_grouped_lookups() -> None:
    deals = text({"id": ["D1", "D2", "D3"], "city": ["São Paulo", "  sao  PAULO ", "Rio"],
                  "state": ["SP", "SP", "RJ"], "rep": ["r1", "r2", "r3"]})  # fmt: skip
    cities = text({"city": ["Sao Paulo", "rio"], "uf": ["SP", "RJ"], "zone": ["south", "east"]})
    history = text({"rep": ["r1", "r1", "r2"], "won": ["10", "20", "5"]})
    spec = """
    from: deals
    join:
      - {source: cities, key: {left: [city, state], right: [city, uf]}, columns: [zone],
         normalise: true}
      - {source: history, key: rep, columns: {rep_won: {column: won, agg: sum}}}
    columns:
      opportunity_id: id
      account_id: zone
      rep_id: rep
      created_at: {const: 2024-01-01}
      closed_at: null
      stage: {const: open}
      amount: rep_won
"""
    frame = build(spec, {"deals": deals, "cities": cities, "history": history})
    assert frame["account_id"].tolist() == ["south", "south", "east"]
    assert frame["amount"].tolist()[:2] == ["30", "5"] and pd.isna(frame["amount"][2])


def test_cases_take_the_first_condition_that_holds() -> None:
    spec = """
    from: leads
    columns:
      opportunity_id: lead
      account_id: lead
      rep_id: null
      created_at: first
      closed_at: null
      amount: null
      stage:
        cases:
          - {when: {column: origin, equals: unknown}, then: {const: lost}}
          - {when: [{column: won, empty: false}, {column: origin, in: [paid, organic]}],
             then: {const: won}}
        else: {const: open}
"""
    assert build(spec, {"leads": LEADS})["stage"].tolist() == ["won", "open", "lost"]


def test_a_table_written_twice_is_rejected(tmp_path: Path) -> None:
    yaml_text = (
        "sources: {people: people.csv}\ntables:" + REQUIRED + REQUIRED.split("  accounts")[0]
    )
    with pytest.raises(MappingError) as error:
        parse_mapping(yaml_text, origin="m.yaml")
    assert str(error.value) == (
        "m.yaml: tables.reps: written twice (lines 3 and 13); YAML would keep only the last one. "
        "Merge them into one entry."
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("    from: [people, leads]\n",
         "m.yaml: tables.opportunities.from: expected a source name, got a list ['people', "
         "'leads']. To stack several sources, use `union:` with one entry (from, columns) each."),
        ("    from: people\n    group_by: person\n    columns: {opportunity_id: [person]}\n",
         "m.yaml: tables.opportunities.columns.opportunity_id: expected a column name, null or a "
         "mapping such as {column: name}, got a list ['person']. Write a constant as "
         "{const: ...}."),
        ("    from: people\n    join: {source: leads, key: lead, columns: [x]}\n",
         "m.yaml: tables.opportunities.join: expected a list of lookups, got a mapping "
         "{'source': 'leads', 'key': 'lead', 'columns': ['x']}."),
        ("    from: people\n    filter: {column: person, in: ann}\n",
         "m.yaml: tables.opportunities.filter.in: expected a list of values, got text 'ann'."),
        ("    union: {from: people}\n",
         "m.yaml: tables.opportunities.union: expected a list of parts (each with from: and "
         "columns:), got a mapping {'from': 'people'}."),
    ],
)  # fmt: skip
def test_wrong_shapes_are_one_line_naming_the_yaml_path(spec: str, message: str) -> None:
    yaml_text = f"sources: {{people: p.csv, leads: l.csv}}\ntables:\n  opportunities:\n{spec}"
    with pytest.raises(MappingError) as error:
        parse_mapping(yaml_text + REQUIRED, origin="m.yaml")
    assert str(error.value) == message


def test_cli_exits_2_on_a_bad_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: {people: p.csv}\ntables:\n  opportunities:\n    from: [a, b]\n")
    argv = ["territory", "import", "--mapping", str(bad), str(tmp_path), "--out", str(tmp_path)]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {bad}: tables.opportunities.from: expected a source name, got a list ['a', 'b']. "
        "To stack several sources, use `union:` with one entry (from, columns) each."
    )
