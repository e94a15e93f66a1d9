"""The feature catalogue: coverage of every feature set, validation errors, and phrase wording."""

from __future__ import annotations

import math

import pytest

from features.feature_sets import FEATURE_SETS
from models.explain import (
    UNITS,
    CatalogueError,
    currency,
    days,
    format_value,
    growth,
    load_catalogue,
    parse_catalogue,
    render,
)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def _minimal(**entry) -> dict:
    base = {"concept": "history", "unit": "count", "label": "deals", "template": "{value} deals"}
    return {"concepts": {"history": "Deal history"}, "features": {"deals": {**base, **entry}}}


@pytest.mark.parametrize("set_name", sorted(FEATURE_SETS))
def test_every_feature_of_every_feature_set_has_an_entry(catalogue, set_name):
    missing = catalogue.missing_features(FEATURE_SETS[set_name])
    assert missing == [], f"add {missing} to models/explain/feature_catalogue.yaml"


def test_entries_use_declared_concepts_and_units(catalogue):
    assert set(catalogue.concepts) == {
        "history",
        "engagement",
        "firmographics",
        "geography",
        "relationship",
    }
    for entry in catalogue.entries.values():
        assert entry.concept in catalogue.concepts
        assert entry.unit in UNITS


@pytest.mark.parametrize(
    "value", [0.0, 1.0, 2.0, 37.5, 1234.0, 45000.0, -0.3, 0.34, math.nan, None]
)
def test_every_phrase_renders_for_typical_values(catalogue, value):
    row = {name: 2.0 for name in catalogue.entries}
    for name, entry in catalogue.entries.items():
        shown = (
            "Energy" if entry.unit == "category" and value is not None and value == value else value
        )
        phrase = render(entry, shown, row, catalogue)
        assert phrase and "{" not in phrase and "nan" not in phrase.lower(), (name, value, phrase)


def test_missing_is_worded_as_missing_never_as_zero(catalogue):
    entry = catalogue["days_since_last_activity"]
    assert render(entry, math.nan, {}, catalogue) == "No activity logged yet"
    assert render(entry, None, {}, catalogue) == "No activity logged yet"
    assert render(entry, 0.0, {}, catalogue) == "Last activity 0 days ago"
    row = {name: 2.0 for name in catalogue.entries}
    for name, entry in catalogue.entries.items():
        as_missing = render(entry, math.nan, row, catalogue)
        assert as_missing == entry.missing_phrase, name
        assert as_missing != render(entry, 0.0, row, catalogue), name


def test_detail_joins_another_feature_only_when_it_is_known(catalogue):
    entry = catalogue["won_revenue_last_365d"]
    row = {"won_revenue_vs_industry_median": 3.04}
    assert (
        render(entry, 42_000.0, row, catalogue)
        == "Won $42k in the last 12 months, 3.0x the industry median"
    )
    no_benchmark = {"won_revenue_vs_industry_median": math.nan}
    assert render(entry, 42_000.0, no_benchmark, catalogue) == "Won $42k in the last 12 months"
    assert render(entry, 0.0, row, catalogue) == "No won deals in the last 12 months"


def test_zero_and_one_phrases(catalogue):
    assert render(catalogue["open_opportunities"], 0.0, {}, catalogue) == "No open opportunities"
    assert render(catalogue["open_opportunities"], 1.0, {}, catalogue) == "1 open opportunity"
    assert render(catalogue["open_opportunities"], 3.0, {}, catalogue) == "3 open opportunities"
    assert (
        render(catalogue["owner_industry_match"], 1.0, {}, catalogue)
        == "Owner specialises in this industry"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "$0"),
        (950.0, "$950"),
        (4_230.0, "$4.2k"),
        (42_000.0, "$42k"),
        (999_999.0, "$1M"),
        (1_250_000.0, "$1.2M"),
        (3.4e9, "$3.4B"),
        (-12_000.0, "-$12k"),
    ],
)
def test_currency(value, text):
    assert currency(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1 day"), (45.0, "45 days"), (400.0, "13 months"), (2000.0, "5.5 years")],
)
def test_days(value, text):
    assert days(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "flat"),
        (math.log(1.12), "up 12%"),
        (math.log(0.92), "down 8%"),
        (5.0, "up more than 10x"),
    ],
)
def test_growth(value, text):
    assert growth(value) == text


def test_format_value_units():
    assert format_value("percent", 0.345) == "34%" or format_value("percent", 0.345) == "35%"
    assert format_value("ratio", 3.04) == "3.0x"
    assert format_value("km", 123.4) == "123 km"
    assert format_value("count", 1200.0) == "1,200"
    assert format_value("category", "Energy") == "Energy"
    assert format_value("count", math.nan) == ""


def test_unknown_feature_names_the_file_and_fix(catalogue):
    with pytest.raises(CatalogueError, match="feature_catalogue.yaml"):
        catalogue["not_a_feature"]
    with pytest.raises(CatalogueError, match=r"1 feature\(s\) of v9 lack.*'shoe_size'"):
        catalogue.require(["employees", "shoe_size"], feature_set="v9")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"unit": "furlongs"}, "unit 'furlongs'"),
        ({"concept": "vibes"}, "concept 'vibes'"),
        ({"template": "{value} deals with {shoe_size}"}, "unknown placeholder"),
        ({"label": ""}, r"lacks \['label'\]"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_malformed_entries_are_refused(entry, message):
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(_minimal(**entry))


def test_parse_minimal_catalogue_and_default_missing_phrase():
    parsed = parse_catalogue(_minimal())
    assert parsed["deals"].missing_phrase == "Deals not on record"
    assert render(parsed["deals"], 4.0, {}, parsed) == "4 deals"
    with pytest.raises(CatalogueError, match="concepts"):
        parse_catalogue({"features": {}})
