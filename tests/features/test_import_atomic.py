"""`territory import` is atomic: a new version folder is written and validated before OUT/current
switches to it; any broken export leaves the previous good data byte-identical (hashed)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import TABLES
from features.imports import ImportRefused
from features.loaders import import_export, load_crm
from tests.serving.fixtures.world import write_tiny_world
from training.cli import app

# The identity mapping: a contract export in, the same tables out.
IDENTITY = "sources:\n" + "".join(f"  {n}: {n}.csv\n" for n in TABLES) + "tables:\n"
for _name, _table in TABLES.items():
    IDENTITY += f"  {_name}:\n    from: {_name}\n    columns:\n"
    IDENTITY += "".join(f"      {c.name}: {c.name}\n" for c in _table.columns if c.required)


def tree_hash(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (symlinks by their target), but the failed/ attempts."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] == "failed":
            continue
        if path.is_symlink():
            out[str(rel)] = "-> " + str(path.readlink())
        elif path.is_file():
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    folder = write_tiny_world(tmp_path_factory.mktemp("src") / "crm", n_accounts=60, n_reps=4)
    (folder / "identity.yaml").write_text(IDENTITY)
    return folder


@pytest.fixture
def imported(source: Path, tmp_path: Path) -> Path:
    """OUT after one good import."""
    out = tmp_path / "out"
    result = import_export(source / "identity.yaml", source, out)
    assert not result.report.fatal
    assert (out / "current").resolve() == (out / "versions" / "v0001").resolve()
    return out


def broken(source: Path, tmp_path: Path, change) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(source, folder)
    change(folder)
    return folder


def header_only(table: str):
    def change(folder: Path) -> None:
        path = folder / f"{table}.csv"
        path.write_text(path.read_text().splitlines()[0] + "\n")

    return change


def unparseable_dates(folder: Path) -> None:
    for name, column in [("accounts", "created_at"), ("opportunities", "created_at")]:
        frame = pd.read_csv(folder / f"{name}.csv", dtype=str)
        frame[column] = "31/31/2024"
        frame.to_csv(folder / f"{name}.csv", index=False)


def truncated_half_way(folder: Path) -> None:
    path = folder / "opportunities.csv"
    data = path.read_bytes()
    cut = data[: len(data) // 2]
    cut = cut if not cut.endswith(b"\n") else cut[:-3]  # stop inside a row
    path.write_bytes(cut)


def blank_account_ids(folder: Path) -> None:
    frame = pd.read_csv(folder / "accounts.csv", dtype=str)
    frame["account_id"] = ""
    frame.to_csv(folder / "accounts.csv", index=False)


BREAKS = {
    "unparseable dates": (unparseable_dates, "quarantined"),
    "header-only accounts": (header_only("accounts"), "accounts: 0 rows in, none kept"),
    "header-only reps": (header_only("reps"), "reps: 0 rows in, none kept"),
    "truncated half-way": (truncated_half_way, "looks truncated"),
    "every account id blank": (blank_account_ids, "accounts: 60 rows in, none kept"),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_a_broken_import_leaves_the_previous_data_byte_identical(
    case: str, source: Path, imported: Path, tmp_path: Path
) -> None:
    change, message = BREAKS[case]
    before = tree_hash(imported)
    tables_before = load_crm(imported).tables
    src = broken(source, tmp_path, change)
    with pytest.raises(Exception, match=message) as raised:
        import_export(src / "identity.yaml", src, imported)
    assert "Traceback" not in str(raised.value)
    assert tree_hash(imported) == before  # nothing written, renamed or removed
    assert not list((imported / "versions").glob(".*partial"))  # no half-written version left
    after = load_crm(imported).tables  # readers still see the previous import
    pd.testing.assert_frame_equal(after.accounts, tables_before.accounts)


def test_the_cli_refuses_a_mostly_empty_export_with_the_reason(
    source: Path, imported: Path, tmp_path: Path
) -> None:
    before = tree_hash(imported)
    src = broken(source, tmp_path, header_only("accounts"))
    args = ["import", "--mapping", str(src / "identity.yaml"), str(src), "--out", str(imported)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "import refused" in result.output and "still serves the previous data" in result.output
    assert "accounts: 0 rows in, none kept" in result.output
    assert tree_hash(imported) == before
    assert (imported / "failed" / "v0002" / "accounts.csv").is_file()  # kept to inspect


def test_more_than_half_quarantined_is_refused(source: Path, imported: Path, tmp_path: Path):
    def most_amounts_negative(folder: Path) -> None:
        frame = pd.read_csv(folder / "opportunities.csv", dtype=str)
        frame.loc[: int(len(frame) * 0.6), "amount"] = "-5"
        frame.to_csv(folder / "opportunities.csv", index=False)

    src = broken(source, tmp_path, most_amounts_negative)
    with pytest.raises(ImportRefused, match=r"opportunities: \d+ of \d+ rows quarantined \(6\d%"):
        import_export(src / "identity.yaml", src, imported)


def test_a_good_import_switches_and_keeps_every_version(source: Path, imported: Path):
    first = tree_hash(imported / "versions" / "v0001")
    result = import_export(source / "identity.yaml", source, imported)
    assert (imported / "current").resolve() == (imported / "versions" / "v0002").resolve()
    assert tree_hash(imported / "versions" / "v0001") == first  # the old version untouched
    assert result.report.rows_out["accounts"] == 60
    assert (imported / "current" / "quarantine" / "summary.txt").is_file()
    assert len(load_crm(imported).tables.accounts) == 60


def test_flat_tables_from_before_versioning_are_kept(source: Path, tmp_path: Path):
    out = write_tiny_world(tmp_path / "flat", n_accounts=40, n_reps=3, seed=3)
    (out / "scores.parquet").write_bytes(b"not touched")
    flat = tree_hash(out)
    import_export(source / "identity.yaml", source, out)
    assert len(load_crm(out).tables.accounts) == 60  # the new import is what readers see
    kept = tree_hash(out / "versions" / "v0000")
    assert kept == {k: v for k, v in flat.items() if k != "scores.parquet"}
    assert (out / "scores.parquet").read_bytes() == b"not touched"
