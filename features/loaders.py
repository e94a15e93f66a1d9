"""CRM I/O: read an export (directory of CSV/Parquet or SQL database), validate it, write it back.

This is the only module that touches CRM files and databases. A source is either a directory
holding ``accounts.csv`` (or ``accounts.parquet``) and friends, a SQLite file (``crm.db``), or a
SQLAlchemy URL (``sqlite:///crm.db``, ``postgresql+psycopg://user@host:5432/db``). Everything
between reading and writing is pure: features.validation and features.mapping.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import pandas as pd
import sqlalchemy as sa

from features.contract import TABLES
from features.errors import TerritoryError
from features.imports import ImportRefused, current_folder, import_problems, import_versioned
from features.mapping import apply_mapping, parse_mapping
from features.tables import CrmTables
from features.validation import ValidationReport, validate_crm

FileFormat = Literal["csv", "parquet"]
FILE_FORMATS: tuple[FileFormat, ...] = ("csv", "parquet")
SQLITE_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3"})
DATE_FORMAT = "%Y-%m-%d"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
BOMS = ((b"\xef\xbb\xbf", "UTF-8"), (b"\xff\xfe", "UTF-16-LE"), (b"\xfe\xff", "UTF-16-BE"))
SNIFF_LINES = 20
CHUNK_BYTES = 1 << 24  # a plain UTF-8 file is checked 16 MiB at a time


class CrmSourceError(TerritoryError):
    """A CRM source or destination cannot be read or written (path, URL, file format)."""


@dataclass(frozen=True)
class LoadResult:
    """A loaded export: validated tables (unless fatal), the report, where quarantine went."""

    source: str
    report: ValidationReport
    crm: CrmTables | None
    quarantine_dir: Path | None = None

    @property
    def tables(self) -> CrmTables:
        """The validated tables; raises DataContractError naming every fatal problem."""
        if self.crm is None:
            self.report.raise_if_fatal()
            raise AssertionError("no tables without a fatal issue")  # unreachable
        return self.crm


def load_crm(
    source: str | Path,
    *,
    schema: str | None = None,
    table_prefix: str = "",
    quarantine_dir: str | Path | None = None,
) -> LoadResult:
    """Read, coerce and validate an export; write the quarantine report when a dir is given.

    Args:
        source: export directory, SQLite file or SQLAlchemy URL.
        schema: SQL schema holding the tables (PostgreSQL); default search path.
        table_prefix: SQL table name prefix, e.g. ``crm_`` for ``crm_accounts``.
        quarantine_dir: where to write one CSV of quarantined rows per table and summary.txt.
    """
    raw = read_raw(source, schema=schema, table_prefix=table_prefix)
    tables, report = validate_crm(raw)
    folder = Path(quarantine_dir) if quarantine_dir is not None else None
    if folder is not None:
        write_quarantine(report, folder)
    return LoadResult(describe_source(source), report, tables, folder)


def is_sql(source: str | Path) -> bool:
    """Whether a source is a database: a SQLAlchemy URL or an existing SQLite file."""
    if isinstance(source, str) and "://" in source:
        return True
    path = Path(source)
    return path.is_file() and path.suffix.lower() in SQLITE_SUFFIXES


def describe_source(source: str | Path) -> str:
    """The source as shown to users, without any password."""
    if is_sql(source):
        return _url(source).render_as_string(hide_password=True)
    return str(source)


def read_raw(
    source: str | Path, *, schema: str | None = None, table_prefix: str = ""
) -> dict[str, pd.DataFrame]:
    """The contract tables found in a source, as read (CSV cells as text); absent ones left out."""
    if is_sql(source):
        return _read_sql(_url(source), schema, table_prefix)
    folder = Path(source)
    if not folder.is_dir():
        raise CrmSourceError(
            f"CRM source {str(source)!r} is neither a directory nor a database. Pass the export "
            "directory (holding accounts.csv, reps.csv, ...), a SQLite file or a SQLAlchemy URL "
            "such as sqlite:///crm.db."
        )
    folder = current_folder(folder)  # an imported export: the version OUT/current points at
    frames = {}
    for name in TABLES:
        found = [folder / f"{name}.{ext}" for ext in FILE_FORMATS]
        found = [p for p in found if p.is_file()]
        if len(found) > 1:
            raise CrmSourceError(
                f"{folder}: both {found[0].name} and {found[1].name} exist; keep one of them so "
                f"it is clear which {name} table to load."
            )
        if found:
            frames[name] = read_file(found[0])
    return frames


def read_file(path: Path) -> pd.DataFrame:
    """One CSV (every cell as text, empty = missing) or Parquet file."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FILE_FORMATS:
        raise CrmSourceError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet.")
    if not path.is_file():
        raise CrmSourceError(f"{path}: no such file. Check the path (or the mapping's `file:`).")
    if suffix == "csv":
        return read_csv(path)
    try:
        return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise CrmSourceError(f"{path}: cannot be read as parquet ({exc}). Fix the file.") from exc


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV file as text cells, whatever its encoding (UTF-8, BOM, UTF-16, cp1252) and delimiter.

    The delimiter (comma, semicolon, tab or pipe) and the encoding are detected; what was seen is
    in ``frame.attrs["read_as"]`` and in every error about the file.
    """
    # Plain UTF-8 is checked in chunks and parsed from the file itself: a StringIO of the
    # decoded text held ~4 bytes per character (a 169 MiB activities.csv peaked at 1,470 MiB
    # over the frame's 309 MiB), and the bytes and their text held the file's size twice while
    # the tables read before it were held (3.5 GB for a 1M-account activities.csv).
    try:
        outline = utf8_outline(path)
        data = path.read_bytes() if outline is None else b""
    except OSError as exc:
        raise CrmSourceError(f"{path}: cannot be read ({exc}). Check the permissions.") from exc
    if outline is not None:
        (text, n_lines), encoding = outline, "UTF-8"
    else:
        (text, encoding), n_lines = decode_text(data, path), None
    delimiter = sniff_delimiter(text)
    read_as = f"{encoding}, {DELIMITER_NAMES[delimiter]}-delimited"
    check_not_truncated(text, delimiter, path, n_lines=n_lines)
    source: Path | io.StringIO = path if encoding == "UTF-8" else io.StringIO(text)
    del text, data
    options = {"sep": delimiter, "dtype": str, "keep_default_na": False, "na_values": [""],
               "encoding": "utf-8"}  # fmt: skip
    if isinstance(source, Path):
        # Arrow's reader builds the text columns directly: at 100k accounts a quarter of the C
        # reader's memory beyond the frame and 4x faster. It refuses ragged rows, which the C
        # reader below reads (short rows padded) or reports as before.
        with contextlib.suppress(ValueError, pd.errors.ParserError):
            frame = pd.read_csv(source, engine="pyarrow", **options)
            frame.attrs["read_as"] = read_as
            return frame
    try:
        frame = pd.read_csv(source, **options)
    except (ValueError, pd.errors.ParserError) as exc:
        raise CrmSourceError(
            f"{path}: cannot be read as csv ({exc}; read as {read_as}). Fix the file: close "
            f"every quote and quote cells that contain a {DELIMITER_NAMES[delimiter]}."
        ) from exc
    frame.attrs["read_as"] = read_as
    return frame


def utf8_outline(path: Path) -> tuple[str, int] | None:
    """For a plain UTF-8 file (no BOM, no NUL, valid throughout): its first lines and its last
    line as text, as much as delimiter sniffing and the truncation check read, and its line
    count; read in chunks, never whole. None for any other file (decode_text reads those)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    head, last, newlines = b"", b"", 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            if not head:
                if chunk.startswith(tuple(bom for bom, _ in BOMS)) or b"\x00" in chunk[:4096]:
                    return None
                head = chunk[: chunk.rfind(b"\n") + 1] or chunk
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return None
            newlines += chunk.count(b"\n")
            end = chunk.rfind(b"\n")
            last = chunk[end + 1 :] if end >= 0 else last + chunk
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if head.count(b"\n") < SNIFF_LINES:
        return None  # a short file (or very long lines): decode_text reads it whole, cheaply
    first_lines = head.split(b"\n")[:SNIFF_LINES]
    return (b"\n".join(first_lines) + b"\n" + last).decode("utf-8"), newlines + 1


def check_not_truncated(
    text: str, delimiter: str, path: Path, *, n_lines: int | None = None
) -> None:
    """CrmSourceError when the file stops inside its last record: no final newline and fewer
    cells than the header (a copy or download cut short), so no half-row passes as data.

    ``text`` may be the whole file or its outline (utf8_outline: first lines + last line), with
    the file's ``n_lines`` for the message."""
    if not text or text.endswith(("\n", "\r")):
        return
    end_of_header, start_of_last = text.find("\n"), text.rfind("\n") + 1
    if end_of_header < 0:
        return
    # slices of the two lines only: no copy of the whole text (GBs for a 1M-account export)
    first, last = text[:end_of_header], text[start_of_last:]
    n_lines = n_lines if n_lines is not None else text.count("\n") + 1
    header, last = (next(csv.reader([line], delimiter=delimiter)) for line in (first, last))
    if len(last) < len(header):
        raise CrmSourceError(
            f"{path}: the file stops inside its last row (line {n_lines} has {len(last)} of "
            f"{len(header)} cells and no line end): it looks truncated. Copy or export the file "
            "again in full."
        )


def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was read with; refuses NUL bytes without a BOM."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace"), encoding + " with BOM"
    if b"\x00" in data[:4096]:
        raise CrmSourceError(
            f"{path}: the file holds NUL bytes, so it is UTF-16 without a byte-order mark or not "
            "text at all. Save it as CSV UTF-8 (Excel: 'CSV UTF-8 (Comma delimited)')."
        )
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:  # Windows Excel's "CSV" outside UTF-8: the Western European code page
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields."""
    lines = text.splitlines()[:SNIFF_LINES]
    best, best_fields = ",", 1
    for delimiter in DELIMITER_NAMES:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        if counts and counts[0] > best_fields and all(c == counts[0] for c in counts):
            best, best_fields = delimiter, counts[0]
    if best_fields == 1 and lines:  # ragged everywhere: trust the header
        header = lines[0]
        best = (
            max(DELIMITER_NAMES, key=header.count)
            if any(d in header for d in DELIMITER_NAMES)
            else ","
        )
    return best


def _url(source: str | Path) -> sa.URL:
    text = str(source) if "://" in str(source) else f"sqlite:///{Path(source).resolve()}"
    try:
        return sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise CrmSourceError(f"{text!r} is not a SQLAlchemy URL ({exc}).") from exc


def _engine(url: sa.URL) -> sa.Engine:
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise CrmSourceError(
            f"cannot use {url.render_as_string(hide_password=True)} ({exc}). Use sqlite:///file.db "
            "or postgresql+psycopg://user@host:5432/db."
        ) from exc


def _read_sql(url: sa.URL, schema: str | None, prefix: str) -> dict[str, pd.DataFrame]:
    database = url.database or ""
    on_disk = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if on_disk and not Path(database).is_file():  # connecting would create an empty database
        raise CrmSourceError(f"SQLite file {database} does not exist; check the path.")
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names(schema=schema))
            return {
                name: pd.read_sql_table(prefix + name, conn, schema=schema)
                for name in TABLES
                if prefix + name in present
            }
    except sa.exc.SQLAlchemyError as exc:
        where = url.render_as_string(hide_password=True)
        raise CrmSourceError(f"cannot read the CRM tables from {where}: {exc}") from exc
    finally:
        engine.dispose()


def write_crm(
    tables: CrmTables,
    dest: str | Path,
    *,
    fmt: FileFormat = "csv",
    schema: str | None = None,
    table_prefix: str = "",
) -> None:
    """Write validated tables to a directory (csv or parquet) or a database, replacing them."""
    frames = {name: getattr(tables, name) for name in TABLES}
    write_frames(frames, dest, fmt=fmt, schema=schema, table_prefix=table_prefix)


def write_frames(
    frames: Mapping[str, pd.DataFrame],
    dest: str | Path,
    *,
    fmt: FileFormat = "csv",
    schema: str | None = None,
    table_prefix: str = "",
) -> None:
    """Write contract tables by name; contract tables at ``dest`` that are not given are removed."""
    if is_sql(dest) or str(dest).endswith(tuple(SQLITE_SUFFIXES)):
        _write_sql(frames, _url(dest), schema, table_prefix)
        return
    if fmt not in FILE_FORMATS:
        raise CrmSourceError(f"unknown format {fmt!r}; use one of {', '.join(FILE_FORMATS)}.")
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        for ext in FILE_FORMATS:
            (folder / f"{name}.{ext}").unlink(missing_ok=True)
    for name, frame in frames.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False, date_format=DATE_FORMAT)


def _write_sql(
    frames: Mapping[str, pd.DataFrame], url: sa.URL, schema: str | None, prefix: str
) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if schema is not None:
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            for name in TABLES:
                if name in frames:
                    frames[name].to_sql(
                        prefix + name, conn, schema=schema, if_exists="replace", index=False
                    )
                else:
                    sa.Table(prefix + name, sa.MetaData(), schema=schema).drop(
                        conn, checkfirst=True
                    )
    except sa.exc.SQLAlchemyError as exc:
        where = url.render_as_string(hide_password=True)
        raise CrmSourceError(f"cannot write the CRM tables to {where}: {exc}") from exc
    finally:
        engine.dispose()


def write_quarantine(report: ValidationReport, folder: Path) -> None:
    """Write one CSV of quarantined rows per table (stale ones removed) and summary.txt."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            (folder / f"{name}.csv").unlink(missing_ok=True)
        for name, frame in report.quarantine.items():
            frame.to_csv(folder / f"{name}.csv", index=False, date_format=DATE_FORMAT)
        lines = [report.summary(), *(f"{i.severity}: {i.message}" for i in report.issues)]
        (folder / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CrmSourceError(
            f"cannot write the quarantine report to {folder} ({exc}). Pass a writable "
            "--quarantine-dir."
        ) from exc


def find_mapping(name_or_path: str | Path) -> Path:
    """A mapping file: the given path, or a mapping shipped in features/mappings by name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = resources.files("features") / "mappings"
    candidate = shipped / f"{path.stem}.yaml"
    if candidate.is_file():
        return Path(str(candidate))
    names = sorted(
        p.name.removesuffix(".yaml") for p in shipped.iterdir() if p.name.endswith(".yaml")
    )
    raise CrmSourceError(
        f"mapping {str(name_or_path)!r} not found. Pass a YAML file or one of the shipped "
        f"mappings: {', '.join(names) or 'none'}."
    )


def import_export(
    mapping: str | Path,
    src: str | Path,
    out: str | Path,
    *,
    fmt: FileFormat = "csv",
    quarantine_dir: str | Path | None = None,
) -> LoadResult:
    """Map a foreign export onto the contract and make it ``out``'s data only if it validates.

    A directory ``out`` gets a new version folder (features.imports): written, validated, then
    switched to by one symlink swap; any failure leaves the previous data byte-identical and
    raises (ImportRefused for an export that is fatal, empty or mostly quarantined). A database
    ``out`` is validated in memory first and written in one transaction.

    Args:
        mapping: mapping YAML file or the name of a shipped one (``maven_crm``).
        src: directory holding the mapping's source files.
        out: directory (or database URL) to write the contract export to.
        quarantine_dir: defaults to the new version's ``quarantine/`` when ``out`` is a directory.
    """
    path = find_mapping(mapping)
    spec = parse_mapping(path.read_text(encoding="utf-8"), origin=str(path))

    def mapped() -> dict[str, pd.DataFrame]:
        sources = {name: read_file(Path(src) / s.file) for name, s in spec.sources.items()}
        return apply_mapping(spec, sources)

    if is_sql(out) or str(out).endswith(tuple(SQLITE_SUFFIXES)):
        return _import_sql(mapped(), out, quarantine_dir)

    def validate(folder: Path, quarantine: Path) -> LoadResult:
        return load_crm(folder, quarantine_dir=quarantine_dir or quarantine)

    result, _ = import_versioned(
        mapped,
        Path(out),
        write=lambda frames, folder: write_frames(frames, folder, fmt=fmt),
        validate=validate,
    )
    return result  # type: ignore[return-value]


def _import_sql(
    frames: Mapping[str, pd.DataFrame], out: str | Path, quarantine_dir: str | Path | None
) -> LoadResult:
    _, report = validate_crm(frames)
    problems = import_problems(report)
    if problems:
        result = LoadResult(describe_source(out), report, None, None)
        raise ImportRefused(
            f"import refused, nothing written to {describe_source(out)}:\n- "
            + "\n- ".join(problems),
            result,
        )
    write_frames(frames, out)  # one transaction (_write_sql)
    return load_crm(out, quarantine_dir=quarantine_dir)
