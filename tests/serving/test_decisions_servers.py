"""Decisions under replicas and faults, against real servers: two `territory serve` processes on
one PostgreSQL (a throwaway schema per run). Conflicting decisions race (exactly one wins, every
round); a replica is killed with SIGKILL mid-burst while clients retry with their idempotency keys
(every acknowledged decision exactly once); a batch fails part-way in the database (nothing kept,
503); a re-plan never touches an approved plan and a rollback restores it."""

from __future__ import annotations

import hashlib
import signal
import threading
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from tests.serving.fixtures.servers import ARTIFACTS, Server
from tests.serving.fixtures.world import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROUNDS = 20


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def pg(postgres_url):
    """A fresh schema for this run, and an engine on it."""
    schema = f"territory_e2e_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    engine = sa.create_engine(url)
    yield url, engine, schema
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def replicas(base_env, pg, tmp_path_factory):
    """Two service processes on the one PostgreSQL schema."""
    url = pg[0]
    env = {**base_env, "TERRITORY_DECISIONS_URL": url}
    crm, scores, plan = (
        env.pop("TERRITORY_CRM_SOURCE"),
        env.pop("TERRITORY_SCORES_PATH"),
        env.pop("TERRITORY_PLAN_DIR"),
    )
    logs = tmp_path_factory.mktemp("replicas")
    args = ["--data", crm, "--scores", scores, "--plan", plan]
    servers = [Server(env, args, logs / f"replica-{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.wait_ready(timeout_s=240)
        yield servers
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, server in enumerate(servers):
            server.stop()
            if server.log.exists():
                (ARTIFACTS / f"replica-{i}.log").write_text(server.log.read_text())


@pytest.fixture(scope="module")
def moves(plan_moves) -> list[dict]:
    return plan_moves.to_dict("records")


def rows(engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def test_two_replicas_racing_conflicting_decisions_exactly_one_wins(replicas, pg, keys, moves):
    engine = pg[1]
    for account in [m["account_id"] for m in moves[:ROUNDS]]:
        barrier, outcomes = threading.Barrier(2), {}

        def decide(server, action, account=account, barrier=barrier, outcomes=outcomes):
            body = {"account_id": account, "action": action, "expected_decision_id": 0}
            barrier.wait()
            outcomes[action] = httpx.post(
                f"{server.url}/decide", json=body, headers=auth(keys["manager"]), timeout=60
            )

        threads = [
            threading.Thread(target=decide, args=(replicas[0], "approve")),
            threading.Thread(target=decide, args=(replicas[1], "reject")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in outcomes.values())
        assert codes == [200, 409], {a: r.text for a, r in outcomes.items()}
        winner = next(a for a, r in outcomes.items() if r.status_code == 200)
        loser = next(r for r in outcomes.values() if r.status_code == 409).json()
        status = {"approve": "approved", "reject": "rejected"}[winner]
        assert loser["move"]["status"] == status and "withdrawn" not in loser["error"]
        stored = rows(
            engine, "SELECT action FROM territory_decisions WHERE account_id = :a", a=account
        )
        assert [r.action for r in stored] == [winner]


def test_kill_9_mid_burst_with_retries_keeps_every_decision_exactly_once(replicas, pg, keys, moves):
    engine = pg[1]
    accounts = [m["account_id"] for m in moves[:12]]  # decided in the race: a burst appends
    writes = [(a, f"burst-{j}-{a}-{uuid.uuid4().hex[:6]}") for j in range(5) for a in accounts]
    victim, survivor = replicas
    acked: dict[str, int] = {}
    retried: list[str] = []
    lock, some_acked = threading.Lock(), threading.Event()

    def client(mine: list[tuple[str, str]]) -> None:
        for account, key in mine:  # the note carries the key, to count rows per write
            body = {"account_id": account, "action": "approve", "note": key}
            headers = {**auth(keys["manager"]), "Idempotency-Key": key}
            for attempt in range(20):
                server = victim if attempt == 0 else survivor  # a retry fails over
                try:
                    answer = httpx.post(
                        f"{server.url}/decide", json=body, headers=headers, timeout=30
                    )
                except httpx.HTTPError:
                    continue
                if answer.status_code == 200:
                    with lock:
                        acked[key] = answer.json()["move"]["decision"]["decision_id"]
                        retried.extend([key] if attempt else [])
                        if len(acked) >= 10:
                            some_acked.set()
                    break

    threads = [threading.Thread(target=client, args=(writes[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    assert some_acked.wait(timeout=120)
    kill_9(victim)  # mid-burst: requests in flight on the victim
    for t in threads:
        t.join(timeout=300)
    assert victim.proc.poll() is not None  # (psutil reaped it, so its return code reads 0)
    assert retried, "the kill came after the burst: no request was in flight"
    assert sorted(acked) == sorted(k for _, k in writes)  # every write acknowledged in the end
    stored = rows(
        engine, "SELECT note, decision_id FROM territory_decisions WHERE note LIKE 'burst-%'"
    )
    assert sorted(note for note, _ in stored) == sorted(acked)  # each exactly once
    assert dict(stored) == acked  # and the one acknowledged
    keys_stored = rows(engine, "SELECT key FROM territory_idempotency WHERE key LIKE 'burst-%'")
    assert sorted(k for (k,) in keys_stored) == sorted(acked)


def kill_9(server: Server) -> None:
    """SIGKILL every process of the server (BentoML's workers may leave its process group)."""
    import psutil

    parent = psutil.Process(server.proc.pid)
    family = [*parent.children(recursive=True), parent]
    for process in family:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=30)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/livez", timeout=2)


FAIL_ON = """
CREATE OR REPLACE FUNCTION territory_fail_on() RETURNS trigger AS $$
BEGIN
  IF NEW.account_id = '{account}' THEN RAISE EXCEPTION 'injected fault on {account}'; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER territory_fail_on BEFORE INSERT ON territory_decisions
  FOR EACH ROW EXECUTE FUNCTION territory_fail_on();
"""


def test_a_batch_failing_part_way_in_the_database_leaves_nothing(replicas, pg, keys, moves):
    engine = pg[1]
    survivor = replicas[1]
    batch = [m["account_id"] for m in moves[ROUNDS:]]  # undecided so far
    assert len(batch) >= 3, "the fixture plan needs more moves for this test"
    with engine.begin() as conn:
        conn.execute(sa.text(FAIL_ON.format(account=batch[2])))
    try:
        answer = httpx.post(
            f"{survivor.url}/bulk_decide",
            json={"account_ids": batch, "action": "approve", "note": "batch"},
            headers=auth(keys["manager"]),
            timeout=60,
        )
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER territory_fail_on ON territory_decisions"))
    assert answer.status_code == 503, answer.text
    assert "nothing was written" in answer.json()["error"]
    assert rows(engine, "SELECT 1 FROM territory_decisions WHERE note = 'batch'") == []
    retried = httpx.post(
        f"{survivor.url}/bulk_decide",
        json={"account_ids": batch, "action": "approve", "note": "batch"},
        headers=auth(keys["manager"]),
        timeout=60,
    )
    assert retried.status_code == 200 and retried.json()["decided"] == len(batch)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_replan_never_touches_the_approved_plan_and_rollback_restores_it(
    replicas, keys, crm_dir, scores_path, data_dir, tmp_path
):
    server = replicas[1]
    out = data_dir / f"plans-{tmp_path.name}"  # /reload reads plans only under the data dir
    scenario = tmp_path / "relaxed.yaml"
    scenario.write_text(
        "name: e2e\nlimits:\n  workload_band: 0.3\n  potential_band: 0.3\n"
        "  max_moved_share: 0.15\nsolver:\n  time_limit_s: 10\n"
    )
    plan_args = ["plan", "--data", str(crm_dir), "--scores", str(scores_path)]
    plan_args += ["--scenario", str(scenario), "--out", str(out), "--fit", "fallback"]
    run_cli(plan_args, env={"TERRITORY_DATA_DIR": str(data_dir)})
    first = (out / "current").resolve()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        job, manager = auth(keys["job"]), auth(keys["manager"])
        loaded = http.post(
            "/reload", json={"plan_dir": str(out), "reload_model": False}, headers=job
        )
        assert loaded.status_code == 200 and loaded.json()["plan_status"] == "proposed", loaded.text
        first_id = loaded.json()["plan_id"]
        approved = http.post("/approve_plan", json={"confirm": True, "note": "v1"}, headers=manager)
        assert approved.json()["plan_status"] == "approved", approved.text
        kept = digests(first)

        run_cli(plan_args, env={"TERRITORY_DATA_DIR": str(data_dir)})  # the re-plan
        second = (out / "current").resolve()
        assert second != first and digests(first) == kept

        loaded = http.post(
            "/reload", json={"plan_dir": str(out), "reload_model": False}, headers=job
        )
        assert loaded.json()["plan_id"] != first_id and loaded.json()["plan_status"] == "proposed"
        http.post("/approve_plan", json={"confirm": True, "note": "v2"}, headers=manager)
        rolled = http.post(
            "/rollback_plan", json={"confirm": True, "note": "v2 was wrong"}, headers=manager
        )
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["restored"]["plan_id"] == first_id
        status = http.post("/status", headers=job).json()
        assert status["plan_id"] == first_id and status["plan_status"] == "approved"
    assert digests(first) == kept
    assert (out / "current").resolve() == first  # a restart with --plan OUT serves it too
