"""A real `python -m serving` process told the truth about its dependencies: the decisions store
unreachable at start, lost and restored while running, locked (a slow database); MLflow's store
deleted and restored under /reload. And the abuse a key-less caller could try on it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.fixtures.servers import ARTIFACTS, Server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def until(check, timeout_s: float = 15.0):
    """Poll `check` until it returns something truthy (the watcher runs every 0.3 s here)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout_s} s")


def start(base_env, tmp_path: Path, db_file: Path, name: str) -> Server:
    env = {
        **base_env,
        "TERRITORY_DECISIONS_URL": f"sqlite:///{db_file}",
        "TERRITORY_HEALTH_CHECK_S": "0.3",
        "TERRITORY_MAX_BODY_BYTES": "65536",
    }
    crm, scores, plan = (
        env.pop("TERRITORY_CRM_SOURCE"),
        env.pop("TERRITORY_SCORES_PATH"),
        env.pop("TERRITORY_PLAN_DIR"),
    )
    return Server(env, ["--data", crm, "--scores", scores, "--plan", plan], tmp_path / name)


def wait_up(server: Server, timeout_s: float = 120.0) -> None:
    """Until /livez answers (readiness may rightly stay 503)."""

    def alive():
        assert server.proc.poll() is None, server.log.read_text()[-4000:]
        try:
            return httpx.get(f"{server.url}/livez", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    until(alive, timeout_s)


def keep_log(server: Server, name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(server.log, ARTIFACTS / name)
    return server.log.read_text()


def test_decisions_store_down_at_start_lost_and_restored(base_env, keys, plan_moves, tmp_path):
    folder = tmp_path / "db"  # missing at start: the database is unreachable
    server = start(base_env, tmp_path, folder / "decisions.db", "health.log")
    account = plan_moves["account_id"].iloc[0]
    try:
        wait_up(server)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            ready = http.get("/readyz")
            assert ready.status_code == 503 and "decisions store" in ready.json()["error"]
            assert ready.headers["retry-after"]
            card = http.post("/card", json={"account_id": account}, headers=auth(keys["rep"]))
            assert card.status_code == 200, card.text  # cards need no database
            decide = {"account_id": account, "action": "approve", "note": "n"}
            down = http.post("/decide", json=decide, headers=auth(keys["manager"]))
            assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
            assert "TERRITORY_DECISIONS_URL" in down.json()["error"]
            status = http.post("/status", json={}, headers=auth(keys["job"])).json()
            assert status["ready"] is False
            assert any("decisions store" in p for p in status["problems"])

            folder.mkdir()  # the database comes up: no restart needed
            until(lambda: http.get("/readyz").status_code == 200)
            first = http.post("/decide", json=decide, headers=auth(keys["manager"]))
            assert first.status_code == 200, first.text

            folder.rename(tmp_path / "db-away")  # lost while running
            until(lambda: http.get("/readyz").status_code == 503)
            assert "decisions store" in http.get("/readyz").json()["error"]
            lost = http.post("/audit", json={"account_id": account}, headers=auth(keys["manager"]))
            assert lost.status_code == 503 and lost.headers["retry-after"]
            card = http.post("/card", json={"account_id": account}, headers=auth(keys["rep"]))
            assert card.status_code == 200 and card.json()["owner"]["move"]["status"] == "approved"

            (tmp_path / "db-away").rename(folder)  # restored: the same file, reopened
            until(lambda: http.get("/readyz").status_code == 200)
            trail = http.post("/audit", json={"account_id": account}, headers=auth(keys["manager"]))
            assert trail.status_code == 200
            assert [e["action"] for e in trail.json()["entries"]] == ["decision.approve"]
    finally:
        server.stop()
        keep_log(server, "health.log")


def test_a_locked_database_never_blocks_liveness_or_cards(base_env, keys, plan_moves, tmp_path):
    db_file = tmp_path / "decisions.db"
    server = start(base_env, tmp_path, db_file, "locked.log")
    account = plan_moves["account_id"].iloc[1]
    try:
        server.wait_ready()
        lock = sqlite3.connect(db_file, timeout=1, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # every write now waits on the busy timeout
        with httpx.Client(base_url=server.url, timeout=60) as http:
            try:
                blocked = threading.Thread(
                    target=http.post,
                    args=("/decide",),
                    kwargs={
                        "json": {"account_id": account, "action": "reject"},
                        "headers": auth(keys["manager"]),
                    },
                    daemon=True,
                )
                blocked.start()
                time.sleep(1.0)
                for _ in range(5):
                    began = time.monotonic()
                    assert http.get("/livez").status_code == 200
                    card = http.post(
                        "/card", json={"account_id": account}, headers=auth(keys["manager"])
                    )
                    assert card.status_code == 200
                    assert time.monotonic() - began < 1.0
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            blocked.join(timeout=60)  # the write goes through once the lock is gone
    finally:
        server.stop()
        keep_log(server, "locked.log")


def test_reload_recovers_after_mlflow_store_is_restored(base_env, keys, data_dir, tmp_path):
    server = start(base_env, tmp_path, tmp_path / "decisions.db", "mlflow.log")
    mlflow_db = data_dir / "mlflow.db"
    saved = tmp_path / "mlflow.db.saved"
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=120) as http:
            before = http.post("/status", json={}, headers=auth(keys["job"])).json()
            shutil.move(mlflow_db, saved)  # the MLflow store is gone
            try:
                gone = http.post("/reload", json={}, headers=auth(keys["job"]))
                assert gone.status_code == 503 and "keeps serving" in gone.json()["error"]
                still = http.post("/status", json={}, headers=auth(keys["job"])).json()
                assert still["model_version"] == before["model_version"]
            finally:
                os.replace(saved, mlflow_db)  # restored (the failed reload may have made a new one)
            back = http.post("/reload", json={}, headers=auth(keys["job"]))
            assert back.status_code == 200, back.text
            assert back.json()["ready"] is True
            assert back.json()["model_version"] == before["model_version"]
    finally:
        server.stop()
        keep_log(server, "mlflow.log")


def test_abuse_is_refused_before_parsing_and_logged_on_one_line(
    base_env, keys, plan_moves, tmp_path
):
    server = start(base_env, tmp_path, tmp_path / "decisions.db", "abuse.log")
    account = plan_moves["account_id"].iloc[2]
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            big = b'{"account_id": "' + b"x" * 5_000_000 + b'"}'
            nokey = http.post("/card", content=big, headers={"content-type": "application/json"})
            assert nokey.status_code == 401
            huge = http.post(
                "/card",
                content=big,
                headers={**auth(keys["manager"]), "content-type": "application/json"},
            )
            assert huge.status_code == 413 and "TERRITORY_MAX_BODY_BYTES" in huge.json()["error"]

            def chunks():
                for _ in range(50):
                    yield b" " * 10_000

            streamed = http.post(
                "/card",
                content=chunks(),
                headers={**auth(keys["manager"]), "content-type": "application/json"},
            )
            assert streamed.status_code == 413

            for path, forged in (
                ("/card", '{"account_id\\nERROR forged line": 1, "account_id": [1]}'),
                ("/plan_preview", '{"scenario": {"x\\nERROR forged line": 1}}'),
            ):
                bad = http.post(
                    path,
                    content=forged,
                    headers={**auth(keys["manager"]), "content-type": "application/json"},
                )
                assert bad.status_code == 400, bad.text
            nul = http.post(
                "/decide",
                json={"account_id": account, "action": "approve", "note": "a\x00b"},
                headers=auth(keys["manager"]),
            )
            assert nul.status_code == 400 and "NUL" in nul.json()["error"]
            audit_nul = http.post(
                "/audit", json={"account_id": "A\x00"}, headers=auth(keys["manager"])
            )
            assert audit_nul.status_code == 400
            job_card = http.post("/card", json={"account_id": account}, headers=auth(keys["job"]))
            assert job_card.status_code == 403
            signed = http.get(
                "/crm/hubspot/card?territory_account_id=" + account,
                headers={
                    "X-HubSpot-Signature-v3": "sïgnature".encode(),  # non-ASCII bytes
                    "X-HubSpot-Request-Timestamp": str(int(time.time() * 1000)).encode(),
                },
            )
            assert signed.status_code == 401
        time.sleep(0.5)
    finally:
        server.stop()
    log = keep_log(server, "abuse.log")
    forged_lines = [line for line in log.splitlines() if "forged line" in line]
    assert all("\\nERROR forged line" in line for line in forged_lines), forged_lines
    assert "Traceback" not in log and "validation error" in log
    for role in ("manager", "job", "rep", "other_rep"):
        assert keys[role] not in log  # no key on stdout or in the log
