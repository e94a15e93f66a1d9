"""The bench's mixed load (bench/bench_mixed.py), briefly, against a real server: cards and
decisions from concurrent keep-alive clients, no error, every acknowledged decision stored once,
memory measured. Throughput targets live in `python -m bench.bench_serving`, not here."""

from __future__ import annotations

import sqlite3

import pytest

from bench.bench_mixed import group_rss_mb, mixed_table, run_mixed

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_mixed_load_has_no_errors_and_loses_no_decision(served, keys, plan_moves, tmp_path):
    accounts = plan_moves["account_id"].tolist()
    result = run_mixed(
        served.port,
        key=keys["manager"],
        accounts=accounts,
        moves=accounts[:5],  # few accounts: each one's decision history grows during the run
        pgid=served.proc.pid,
        seconds=8,
        clients=4,
        decision_share=0.2,
    )
    assert result["requests"] > 20 and result["errors"] == 0, result
    assert result["decisions"] > 0
    with sqlite3.connect(tmp_path / "decisions.db") as db:
        stored = db.execute("SELECT COUNT(*) FROM territory_decisions").fetchone()[0]
    assert stored == result["decisions"]  # every acknowledged decision, once
    assert result["rss_start_mb"] > 50 and result["rss_end_mb"] > 50  # the server's workers
    assert group_rss_mb(served.proc.pid) > 0
    assert "| errors | 0 |" in mixed_table(result)
