"""`territory sample --partitions`: a world written block by block into a partitioned export.

What must hold: every id is unique across blocks (accounts, reps, opportunities, activities,
CRM record ids, rep identities), every account's rows lie in the partition its id hashes to
(as `territory partition` puts them), each partition validates as an export on its own, the
same seed gives the same files, and a failure leaves nothing at --out.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.loaders import load_crm
from features.partitions import bucket_of, read_partitioned
from features.sample_world import SampleConfig, generate_world, load_truth
from features.sample_world.blocks import block_seed, block_sizes, write_partitioned_world
from features.sample_world.frames import IdStart, sequential_ids
from training.cli import app

def said(result) -> str:
    """A command's output as one line (rich wraps and boxes it)."""
    return " ".join(result.output.replace("│", " ").split())


CONFIG = SampleConfig(n_accounts=2_400, n_reps=24, years=3, seed=5)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    return write_partitioned_world(
        CONFIG, tmp_path_factory.mktemp("blocks") / "w", 3, block_accounts=1_000
    )


@pytest.fixture(scope="module")
def parts(blocks):
    return [load_crm(p).tables for p in blocks.paths()]


def test_ids_run_on_from_block_to_block():
    assert sequential_ids("A", 3, start=998).to_pylist() == ["A000999", "A001000", "A001001"]
    whole = sequential_ids("O", 25_000).to_pylist()
    pieces = sequential_ids("O", 9_000).to_pylist() + sequential_ids("O", 16_000, 9_000).to_pylist()
    assert pieces == whole
    # a 5M world's first and last blocks: the same width, so ids sort as numbers
    first = IdStart(digits=(7, 5, 9, 9)).ids("A", 2).to_pylist()
    last = IdStart(accounts=4_999_998, digits=(7, 5, 9, 9)).ids("A", 2).to_pylist()
    assert first + last == ["A0000001", "A0000002", "A4999999", "A5000000"]


def test_blocks_split_accounts_and_reps_evenly():
    assert block_sizes(CONFIG, 1_000) == [(800, 8), (800, 8), (800, 8)]
    assert block_seed(5, 0) != block_seed(5, 1) and block_seed(5, 1) == block_seed(5, 1)


def test_every_id_is_unique_and_every_account_lies_whole_in_its_partition(blocks, parts):
    accounts = pd.concat([t.accounts for t in parts])
    assert len(accounts) == CONFIG.n_accounts == blocks.rows["accounts"]
    for column in ("account_id", "crm_id"):
        assert accounts[column].is_unique, column
    # every block's ids as wide as the world's: they sort as numbers across blocks
    assert accounts["account_id"].min() == "A000001"  # 6 digits: the least width of A ids
    assert accounts["account_id"].max() == f"A{CONFIG.n_accounts:06d}"
    for table, key in (("opportunities", "opportunity_id"), ("activities", "activity_id")):
        widths = pd.concat([getattr(t, table)[key] for t in parts]).str.len()
        assert widths.nunique() == 1, (table, widths.unique())
    for table, key in (("opportunities", "opportunity_id"), ("activities", "activity_id")):
        rows = pd.concat([getattr(t, table) for t in parts])
        assert rows[key].is_unique and len(rows) == blocks.rows[table], table
    reps = parts[0].reps
    for column in ("rep_id", "crm_user_id", "email", "crm_territory_id"):
        assert reps[column].is_unique, column
    for i, tables in enumerate(parts):
        assert (bucket_of(tables.accounts["account_id"], 3) == i).all()
        own = set(tables.accounts["account_id"])
        for table in ("opportunities", "assignments", "activities"):
            assert set(getattr(tables, table)["account_id"]) <= own, table
        pd.testing.assert_frame_equal(tables.reps, reps)  # every partition has every rep
        assert set(tables.assignments["rep_id"]) <= set(reps["rep_id"])


def test_each_block_is_a_division_its_own_reps_own(blocks, parts):
    """Block k is generate_world of its share with its own seed, ids shifted: the same rows."""
    first = generate_world(
        SampleConfig(n_accounts=800, n_reps=8, years=3, seed=block_seed(5, 0))
    ).tables
    accounts = pd.concat([t.accounts for t in parts]).set_index("account_id").sort_index()
    drawn = ["annual_revenue", "latitude", "longitude"]  # as generated (the loader keeps them)
    pd.testing.assert_frame_equal(
        accounts.loc[first.accounts["account_id"], drawn].reset_index(),
        first.accounts[["account_id", *drawn]],
        check_dtype=False,
    )
    owners = pd.concat([t.assignments for t in parts])
    in_first = owners["account_id"].isin(first.accounts["account_id"])
    assert set(owners.loc[in_first, "rep_id"]) <= set(first.reps["rep_id"])
    assert not set(owners.loc[~in_first, "rep_id"]) & set(first.reps["rep_id"])


def test_manifest_and_truth_describe_the_whole_world(blocks):
    manifest = json.loads((blocks.root / "manifest.json").read_text())
    assert manifest["sampled"]["accounts"] == CONFIG.n_accounts
    assert [b["accounts"] for b in manifest["sampled"]["blocks"]] == [800, 800, 800]
    assert read_partitioned(blocks.root).source == str(blocks.root.resolve())
    truth = load_truth(blocks.root)
    assert truth.config.n_accounts == CONFIG.n_accounts and truth.config.seed == 5
    assert len(truth.accounts) == CONFIG.n_accounts and truth.accounts["account_id"].is_unique


def test_same_seed_same_files(blocks, tmp_path):
    again = write_partitioned_world(CONFIG, tmp_path / "again", 3, block_accounts=1_000)
    for a, b in zip(blocks.paths(), again.paths(), strict=True):
        for table in ("accounts", "opportunities", "activities"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(a / f"{table}.parquet"), pd.read_parquet(b / f"{table}.parquet")
            )


def test_a_failure_leaves_nothing_at_out(tmp_path, monkeypatch):
    import features.sample_world.blocks as blocks_module

    real = blocks_module.generate_world
    calls = []

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(blocks_module, "generate_world", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        write_partitioned_world(CONFIG, tmp_path / "w", 2, block_accounts=1_000)
    assert list(tmp_path.iterdir()) == []


def test_cli_samples_partitions_and_names_bad_options(tmp_path):
    out = tmp_path / "w"
    args = ["sample", "--out", str(out), "--accounts", "1500", "--reps", "12", "--seed", "2"]
    done = CliRunner().invoke(app, [*args, "--partitions", "2", "--block-accounts", "500"])
    assert done.exit_code == 0, done.output
    assert "3 blocks in 2 partitions" in said(done) and "--cluster local" in said(done)
    assert read_partitioned(out).rows["accounts"] == 1500
    few = CliRunner().invoke(
        app, [*args[:-4], "--reps", "2", "--partitions", "2", "--block-accounts", "500"]
    )
    assert few.exit_code == 2 and "--reps 2 is fewer than the 3 blocks" in said(few)
    csv = CliRunner().invoke(app, [*args, "--partitions", "2", "--format", "csv"])
    assert csv.exit_code == 2 and "a partitioned export is Parquet" in said(csv)


def test_without_a_cluster_train_and_score_say_to_use_one(blocks, tmp_path, monkeypatch):
    monkeypatch.delenv("TERRITORY_DASK_ADDRESS", raising=False)
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(tmp_path / "state"))
    for command in (["train"], ["score", "--out", str(tmp_path / "s.parquet")]):
        result = CliRunner().invoke(app, [*command, "--data", str(blocks.root)])
        assert result.exit_code == 2, result.output
        assert "is a partitioned export: run on Dask with --cluster local" in said(result)
