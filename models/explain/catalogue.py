"""The feature catalogue: each feature's business concept, unit and plain-language phrases.

The catalogue is data (models/explain/feature_catalogue.yaml, shipped with the package), so
wording is
reviewed and changed in one place, never in the service or the explainer.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from models.errors import TerritoryError

UNITS = (
    "currency",
    "count",
    "days",
    "ratio",
    "percent",
    "growth",
    "flag",
    "km",
    "number",
    "category",
)
PHRASE_KEYS = ("template", "detail", "zero", "one", "missing")
DEFAULT_FILE = "feature_catalogue.yaml"
GENERIC_CONCEPT = "firmographics"  # extra account columns describe the account itself


class CatalogueError(TerritoryError, ValueError):
    """The feature catalogue is malformed or lacks an entry for a feature."""


@dataclass(frozen=True)
class FeatureEntry:
    """How one feature is explained: its concept, unit and phrases (see the YAML header)."""

    feature: str
    concept: str
    unit: str
    label: str
    template: str
    detail: str | None = None
    zero: str | None = None
    one: str | None = None
    missing: str | None = None
    template_fields: tuple[str, ...] = field(default=(), compare=False)
    detail_fields: tuple[str, ...] = field(default=(), compare=False)

    @property
    def missing_phrase(self) -> str:
        """The phrase for a missing value: the declared one, else '<Label> not on record'."""
        return self.missing or f"{self.label[:1].upper()}{self.label[1:]} not on record"


@dataclass(frozen=True)
class Catalogue:
    """Entries by feature, concept labels (in display order) and the currency symbol."""

    entries: Mapping[str, FeatureEntry]
    concepts: Mapping[str, str]
    currency_symbol: str = "$"

    def __getitem__(self, feature: str) -> FeatureEntry:
        try:
            return self.entries[feature]
        except KeyError:
            raise CatalogueError(
                f"feature {feature!r} has no catalogue entry; add it to "
                f"models/explain/{DEFAULT_FILE} with concept (one of {sorted(self.concepts)}), "
                "unit, label and template."
            ) from None

    def missing_features(self, names: Iterable[str]) -> list[str]:
        """The names (in input order) that have no entry."""
        return [name for name in names if name not in self.entries]

    def with_generic_entries(
        self, names: Iterable[str], categorical: Collection[str] = ()
    ) -> Catalogue:
        """A copy where each uncatalogued name (an extra account column) reads '<name>: <value>'."""
        concept = GENERIC_CONCEPT if GENERIC_CONCEPT in self.concepts else next(iter(self.concepts))
        added = {
            name: FeatureEntry(
                feature=name,
                concept=concept,
                label=name.replace("_", " "),
                unit="category" if name in categorical else "number",
                template=f"{name.replace('_', ' ').capitalize()}: {{value}}",
            )
            for name in self.missing_features(names)
        }
        return replace(self, entries={**self.entries, **added}) if added else self

    def require(self, names: Iterable[str], *, feature_set: str = "the model's features") -> None:
        """Raise CatalogueError naming every feature of `names` without an entry."""
        missing = self.missing_features(names)
        if missing:
            raise CatalogueError(
                f"{len(missing)} feature(s) of {feature_set} lack a catalogue entry: "
                f"{missing[:8]}. "
                f"Add them to models/explain/{DEFAULT_FILE} (concept, unit, label, template) so "
                "every explanation can be worded."
            )


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _entry(
    feature: str, raw: Mapping, concepts: Mapping[str, str], known: set[str]
) -> FeatureEntry:
    where = f"catalogue entry {feature!r}"
    absent = [k for k in ("concept", "unit", "label", "template") if not raw.get(k)]
    if absent:
        raise CatalogueError(
            f"{where} lacks {absent}; every entry needs concept, unit, label, template."
        )
    if raw["concept"] not in concepts:
        raise CatalogueError(
            f"{where}: concept {raw['concept']!r} is not one of {sorted(concepts)}; "
            "fix the concept or declare it under `concepts`."
        )
    if raw["unit"] not in UNITS:
        raise CatalogueError(f"{where}: unit {raw['unit']!r} is not one of {UNITS}.")
    unknown_keys = sorted(set(raw) - {"concept", "unit", "label", *PHRASE_KEYS})
    if unknown_keys:
        raise CatalogueError(
            f"{where}: unknown key(s) {unknown_keys}; allowed: concept, unit, label, "
            f"{', '.join(PHRASE_KEYS)}."
        )
    for key in PHRASE_KEYS:
        allowed = {"value"} | known if key in ("template", "detail") else set()
        bad = sorted(_fields(raw.get(key) or "") - allowed)
        if bad:
            raise CatalogueError(
                f"{where}: {key} uses unknown placeholder(s) {bad}; use {{value}} or "
                "another catalogued feature's name."
            )
    return FeatureEntry(
        feature=feature,
        template_fields=tuple(sorted(_fields(raw["template"]) - {"value"})),
        detail_fields=tuple(sorted(_fields(raw.get("detail") or "") - {"value"})),
        **{k: str(v) for k, v in raw.items()},
    )


def parse_catalogue(data: Mapping) -> Catalogue:
    """Validate the YAML structure and build the Catalogue; errors name the entry and the fix."""
    if not isinstance(data, Mapping) or not isinstance(data.get("features"), Mapping):
        raise CatalogueError("catalogue must be a mapping with `concepts` and `features` sections.")
    concepts = {str(k): str(v) for k, v in (data.get("concepts") or {}).items()}
    if not concepts:
        raise CatalogueError(
            "catalogue declares no `concepts`; list them as `name: Display label`."
        )
    known = set(data["features"])
    entries = {
        str(name): _entry(str(name), raw or {}, concepts, known)
        for name, raw in data["features"].items()
    }
    return Catalogue(
        entries=entries, concepts=concepts, currency_symbol=str(data.get("currency_symbol", "$"))
    )


@lru_cache(maxsize=1)
def _packaged() -> Catalogue:
    # Reading our own package data (not user data), once per process.
    text = resources.files("models.explain").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    return parse_catalogue(yaml.safe_load(text))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The packaged catalogue, or the one at `path` (a YAML file in the same format)."""
    if path is None:
        return _packaged()
    return parse_catalogue(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
