"""The import mapping language: parse a YAML mapping into checked, typed specs.

Every shape is checked here, before any source is read: a wrong type, an unknown key or a key
written twice fails with one MappingError line that names its YAML path and the fix. The
semantics (how a spec becomes contract rows) live in features.mapping; docs/data_contract.md
("Import mappings") is the reference for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from features.contract import TABLES
from features.mapping_yaml import (
    MappingError,
    expect_dict,
    expect_list,
    expect_name,
    expect_names,
    expect_scalar,
    reject_repeated_keys,
    shape,
    value_map,
)

SOURCE_KINDS = ("column", "const", "id_from", "concat", "cases")
MODIFIERS = ("values", "case", "date_format", "scale", "fill", "agg", "sep", "else")
CASES = ("lower", "upper", "title")
AGGREGATIONS = ("first", "min", "max", "mode", "count", "sum", "mean")
CONDITION_OPS = ("equals", "in", "not_in", "empty")
PART_KEYS = ("from", "join", "filter", "group_by", "columns", "extra")
EXTRA_TABLES = ("accounts",)  # the contract keeps extra columns only there


@dataclass(frozen=True)
class Condition:
    """A test on one source column: ``equals`` a value, ``in``/``not_in`` a list, or ``empty``."""

    where: str
    column: str
    op: str
    arg: Any


@dataclass(frozen=True)
class Expr:
    """How one output column is made; ``where`` is its path in the YAML, for error messages."""

    where: str
    kind: str  # column | const | id_from | concat | cases | empty
    arg: Any = None
    values: Mapping[str, str | None] | None = None
    case: str | None = None
    date_format: str | None = None
    scale: float | None = None
    fill: Expr | None = None
    agg: str | None = None
    parts: tuple[Expr, ...] = ()  # concat
    sep: str = ""  # concat
    cases: tuple[tuple[tuple[Condition, ...], Expr], ...] = ()
    otherwise: Expr | None = None  # cases: `else`


@dataclass(frozen=True)
class Join:
    """A lookup: add ``columns`` (new name -> (source column, agg)) of ``source`` on the keys.

    Without any agg the lookup's keys must be unique; with one, its rows are grouped by key first.
    """

    where: str
    source: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    columns: Mapping[str, tuple[str, str | None]]
    normalise: bool = False

    @property
    def grouped(self) -> bool:
        return any(agg is not None for _, agg in self.columns.values())


@dataclass(frozen=True)
class Part:
    """Rows of one source, looked up, filtered, made into contract columns, maybe grouped."""

    where: str
    source: str
    columns: Mapping[str, Expr]
    extra: Mapping[str, Expr] = field(default_factory=dict)
    joins: tuple[Join, ...] = ()
    filter: tuple[Condition, ...] = ()
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableMapping:
    """How one contract table is built: the rows of its parts, stacked (one part unless union)."""

    name: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Source:
    """A source file (relative to the export directory) and value fixes applied when it is read."""

    file: str
    values: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportMapping:
    """A parsed mapping: the sources and one TableMapping per contract table it produces."""

    sources: Mapping[str, Source]
    tables: Mapping[str, TableMapping]
    description: str = ""


def parse_mapping(text: str, origin: str = "mapping") -> ImportMapping:
    """The mapping in a YAML text, checked against the contract; MappingError says what to fix."""
    try:
        reject_repeated_keys(yaml.compose(text, Loader=yaml.SafeLoader), origin, "")
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        one_line = " ".join(str(exc).split())
        raise MappingError(f"{origin}: not valid YAML ({one_line}). Fix the syntax.") from exc
    doc = expect_dict(doc, origin, ("version", "description", "sources", "tables"))
    if doc.get("version", 1) != 1:
        raise MappingError(
            f"{origin}: version {doc['version']!r} is not supported; use version: 1."
        )
    sources = {
        str(name): _source(spec, f"{origin}: sources.{name}")
        for name, spec in expect_dict(doc.get("sources"), f"{origin}: sources").items()
    }
    tables = {
        str(name): _table(str(name), spec, f"{origin}: tables.{name}", sources)
        for name, spec in expect_dict(doc.get("tables"), f"{origin}: tables").items()
    }
    missing = [t.name for t in TABLES.values() if t.required and t.name not in tables]
    if missing:
        raise MappingError(
            f"{origin}: tables {', '.join(missing)} are missing; map every required table."
        )
    return ImportMapping(sources, tables, str(doc.get("description", "")))


def _source(spec: object, where: str) -> Source:
    if isinstance(spec, str):
        return Source(spec)
    spec = expect_dict(spec, where, ("file", "values"))
    if "file" not in spec:
        raise MappingError(f"{where}: `file:` is missing; name the source file, e.g. accounts.csv.")
    values = {
        c: value_map(m, f"{where}.values.{c}")
        for c, m in expect_dict(spec.get("values", {}), f"{where}.values").items()
    }
    return Source(expect_name(spec["file"], f"{where}.file", "a file name"), values)


def _table(name: str, spec: object, where: str, sources: Mapping[str, Source]) -> TableMapping:
    if name not in TABLES:
        raise MappingError(
            f"{where}: {name!r} is not a contract table; use one of {', '.join(TABLES)}."
        )
    spec = expect_dict(spec, where, ("union", *PART_KEYS))
    if "union" not in spec:
        return TableMapping(name, (_part(name, spec, where, sources),))
    if len(spec) > 1:
        raise MappingError(
            f"{where}: `union:` stands alone; move {', '.join(k for k in spec if k != 'union')} "
            "into each of its entries."
        )
    parts = expect_list(spec["union"], f"{where}.union", "parts (each with from: and columns:)")
    return TableMapping(
        name,
        tuple(
            _part(
                name,
                expect_dict(p, f"{where}.union[{i}]", PART_KEYS),
                f"{where}.union[{i}]",
                sources,
            )
            for i, p in enumerate(parts)
        ),
    )


def _declared(value: object, where: str, sources: Mapping[str, Source], hint: str = "") -> str:
    name = expect_name(value, where, "a source name", hint)
    if name not in sources:
        raise MappingError(f"{where}: {name!r} is not a declared source ({', '.join(sources)}).")
    return name


def _part(name: str, spec: dict[str, Any], where: str, sources: Mapping[str, Source]) -> Part:
    union_hint = " To stack several sources, use `union:` with one entry (from, columns) each."
    source = _declared(spec.get("from"), f"{where}.from", sources, union_hint)
    group_by = expect_names(spec["group_by"], f"{where}.group_by", "a column name") if (
        spec.get("group_by") is not None
    ) else ()  # fmt: skip
    joins = tuple(
        _join(j, f"{where}.join[{i}]", sources)
        for i, j in enumerate(expect_list(spec["join"], f"{where}.join", "lookups"))
    ) if "join" in spec else ()  # fmt: skip
    conditions = _conditions(spec["filter"], f"{where}.filter") if "filter" in spec else ()
    contract = TABLES[name]
    columns = {
        c: _expr(e, f"{where}.columns.{c}", bool(group_by))
        for c, e in expect_dict(spec.get("columns"), f"{where}.columns").items()
    }
    unknown = [c for c in columns if c not in contract.column_names]
    missing = [c for c in contract.required_columns if c not in columns]
    if unknown or missing:
        problem = (
            f"{unknown[0]!r} is not a {name} column" if unknown else f"{missing[0]!r} is required"
        )
        raise MappingError(
            f"{where}.columns: {problem}. Map the contract columns "
            f"{', '.join(contract.column_names)} "
            "(required ones at least; `column: null` leaves one empty)."
        )
    extra = {
        c: _expr(e, f"{where}.extra.{c}", bool(group_by))
        for c, e in expect_dict(spec.get("extra", {}), f"{where}.extra").items()
    }
    if extra and name not in EXTRA_TABLES or set(extra) & set(contract.column_names):
        raise MappingError(
            f"{where}.extra: only accounts keep extra columns, named unlike contract ones."
        )
    return Part(where, source, columns, extra, joins, conditions, group_by)


def _join(spec: object, where: str, sources: Mapping[str, Source]) -> Join:
    spec = expect_dict(spec, where, ("source", "key", "columns", "normalise"))
    source = _declared(spec.get("source"), f"{where}.source", sources)
    key = spec.get("key")
    if isinstance(key, dict):
        key = expect_dict(key, f"{where}.key", ("left", "right"))
        left = expect_names(key.get("left"), f"{where}.key.left", "a column name")
        right = expect_names(key.get("right"), f"{where}.key.right", "a column name")
    else:
        left = right = expect_names(key, f"{where}.key", "a column name (or {left: a, right: b})")
    if len(left) != len(right):
        raise MappingError(
            f"{where}.key: {len(left)} left and {len(right)} right columns; a composite key "
            "pairs them one to one."
        )
    columns = spec.get("columns")
    if isinstance(columns, list):
        names = expect_names(columns, f"{where}.columns", "a column name")
        pairs: dict[str, tuple[str, str | None]] = {c: (c, None) for c in names}
    else:
        pairs = {
            new: _join_column(value, f"{where}.columns.{new}")
            for new, value in expect_dict(columns, f"{where}.columns").items()
        }
    normalise = spec.get("normalise", False)
    if not isinstance(normalise, bool):
        raise MappingError(f"{where}.normalise: expected true or false, got {shape(normalise)}.")
    return Join(where, source, left, right, pairs, normalise)


def _join_column(value: object, where: str) -> tuple[str, str | None]:
    if isinstance(value, str):
        return value, None
    spec = expect_dict(value, where, ("column", "agg"))
    agg = spec.get("agg")
    if agg is not None and agg not in AGGREGATIONS:
        raise MappingError(f"{where}.agg: {agg!r} is not one of {', '.join(AGGREGATIONS)}.")
    return expect_name(spec.get("column"), f"{where}.column", "a column name"), agg


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    """One condition or a list of them, all of which must hold."""
    if isinstance(value, list):
        items = expect_list(value, where, "conditions")
        return tuple(_condition(v, f"{where}[{i}]") for i, v in enumerate(items))
    return (_condition(value, where),)


def _condition(value: object, where: str) -> Condition:
    spec = expect_dict(value, where, ("column", *CONDITION_OPS))
    ops = [k for k in CONDITION_OPS if k in spec]
    if len(ops) != 1:
        raise MappingError(
            f"{where}: give `column:` and exactly one of {', '.join(CONDITION_OPS)} "
            f"(found {ops or 'none'})."
        )
    column = expect_name(spec.get("column"), f"{where}.column", "a column name")
    op, arg = ops[0], spec[ops[0]]
    if op in ("in", "not_in"):
        arg = tuple(str(expect_scalar(v, f"{where}.{op}[{i}]")) for i, v in enumerate(
            expect_list(arg, f"{where}.{op}", "values")))  # fmt: skip
    elif op == "empty" and not isinstance(arg, bool):
        raise MappingError(f"{where}.empty: expected true or false, got {shape(arg)}.")
    elif op == "equals":
        arg = str(expect_scalar(arg, f"{where}.equals"))
    return Condition(where, column, op, arg)


def _expr(spec: object, where: str, grouped: bool) -> Expr:
    if spec is None:
        return Expr(where, "empty")
    if isinstance(spec, str):
        return Expr(where, "column", spec)
    if not isinstance(spec, dict):
        raise MappingError(
            f"{where}: expected a column name, null or a mapping such as {{column: name}}, got "
            f"{shape(spec)}. Write a constant as {{const: ...}}."
        )
    spec = expect_dict(spec, where, SOURCE_KINDS + MODIFIERS)
    kinds = [k for k in SOURCE_KINDS if k in spec]
    if len(kinds) != 1:
        raise MappingError(
            f"{where}: give exactly one of {', '.join(SOURCE_KINDS)} (found {kinds or 'none'})."
        )
    kind = kinds[0]
    _check_modifiers(spec, where, kind, grouped)
    arg = spec[kind]
    parts: tuple[Expr, ...] = ()
    cases: tuple[tuple[tuple[Condition, ...], Expr], ...] = ()
    if kind in ("column", "id_from"):
        arg = expect_name(arg, f"{where}.{kind}", "a column name")
    elif kind == "const":
        arg = expect_scalar(arg, f"{where}.const")
    elif kind == "concat":
        items = expect_list(arg, f"{where}.concat", "expressions")
        parts = tuple(_expr(e, f"{where}.concat[{i}]", False) for i, e in enumerate(items))
    else:
        cases = tuple(_case(c, f"{where}.cases[{i}]") for i, c in enumerate(
            expect_list(arg, f"{where}.cases", "{when: ..., then: ...} entries")))  # fmt: skip
    return Expr(
        where, kind, arg,
        values=value_map(spec["values"], f"{where}.values") if "values" in spec else None,
        case=spec.get("case"), date_format=spec.get("date_format"), scale=spec.get("scale"),
        fill=_expr(spec["fill"], f"{where}.fill", grouped) if "fill" in spec else None,
        agg=spec.get("agg"), parts=parts, sep=str(spec.get("sep", "")), cases=cases,
        otherwise=_expr(spec["else"], f"{where}.else", False) if "else" in spec else None,
    )  # fmt: skip


def _check_modifiers(spec: dict[str, Any], where: str, kind: str, grouped: bool) -> None:
    case, agg, scale = spec.get("case"), spec.get("agg"), spec.get("scale")
    if case is not None and case not in CASES:
        raise MappingError(f"{where}.case: {case!r} is not one of {', '.join(CASES)}.")
    if agg is not None and agg not in AGGREGATIONS:
        raise MappingError(f"{where}.agg: {agg!r} is not one of {', '.join(AGGREGATIONS)}.")
    if agg is not None and not grouped:
        raise MappingError(
            f"{where}.agg: {agg!r} needs `group_by` on the table (or its union entry): "
            "aggregations turn the rows of a group into one value."
        )
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)):
        raise MappingError(f"{where}.scale: expected a number, got {shape(scale)}.")
    if "date_format" in spec:
        expect_name(spec["date_format"], f"{where}.date_format", 'a strftime format such as "%Y"')
    for key, owner in (("sep", "concat"), ("else", "cases")):
        if key in spec and kind != owner:
            raise MappingError(f"{where}.{key}: only goes with `{owner}:`.")


def _case(value: object, where: str) -> tuple[tuple[Condition, ...], Expr]:
    spec = expect_dict(value, where, ("when", "then"))
    if "when" not in spec or "then" not in spec:
        raise MappingError(f"{where}: give both `when:` (a condition) and `then:` (a value).")
    return _conditions(spec["when"], f"{where}.when"), _expr(spec["then"], f"{where}.then", False)
