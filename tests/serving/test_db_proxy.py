"""PostgreSQL down and up again under a running server: a TCP proxy (asyncio, here) sits between
`territory serve` and PostgreSQL; cutting it must give 503 + Retry-After on writes, /readyz 503
with the reason, /livez 200 at once and cards still served; restoring it must recover without a
restart. (MLflow restored then /reload recovering: test_health_server.py.)"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from tests.serving.fixtures.servers import ARTIFACTS, Server, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Proxy:
    """127.0.0.1:port -> target, in its own event loop thread; `cut` refuses new connections
    and resets open ones (the database host gone), `restore` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()
        self.restore()

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.open |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.open -= {writer, up_writer}

    def restore(self) -> None:
        async def listen():
            self.server = await asyncio.start_server(
                self._client, "127.0.0.1", self.port, reuse_address=True
            )

        self._run(listen())

    def cut(self) -> None:
        async def cut():
            assert self.server is not None
            self.server.close()
            for writer in list(self.open):
                writer.transport.abort()  # a reset, as when the host goes away
            self.open.clear()

        self._run(cut())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def until(check, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout_s} s")


def test_postgres_cut_and_restored_behind_a_proxy(
    base_env, keys, plan_moves, postgres_url, pg_schema, tmp_path
):
    real = sa.engine.make_url(postgres_url)
    proxy = Proxy(real.host or "127.0.0.1", real.port or 5432)
    via_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    env = {
        **base_env,
        "TERRITORY_DECISIONS_URL": f"{via_proxy}?options={quote(f'-csearch_path={pg_schema}')}",
        "TERRITORY_HEALTH_CHECK_S": "0.3",
        "TERRITORY_DATABASE_TIMEOUT_S": "2",
    }
    crm, scores, plan = (
        env.pop("TERRITORY_CRM_SOURCE"),
        env.pop("TERRITORY_SCORES_PATH"),
        env.pop("TERRITORY_PLAN_DIR"),
    )
    server = Server(env, ["--data", crm, "--scores", scores, "--plan", plan], tmp_path / "pg.log")
    first, second = plan_moves["account_id"].iloc[0], plan_moves["account_id"].iloc[1]
    try:
        server.wait_ready(timeout_s=240)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            manager = auth(keys["manager"])
            decided = http.post("/decide", json={"account_id": first, "action": "approve"},
                                headers=manager)  # fmt: skip
            assert decided.status_code == 200, decided.text

            proxy.cut()  # PostgreSQL unreachable: connections reset, new ones refused
            until(lambda: http.get("/readyz").status_code == 503)
            ready = http.get("/readyz")
            assert "decisions store" in ready.json()["error"] and int(ready.headers["retry-after"])
            began = time.monotonic()
            assert http.get("/livez").status_code == 200
            assert time.monotonic() - began < 1.0  # liveness never waits on the database
            card = http.post("/card", json={"account_id": first}, headers=auth(keys["rep"]))
            assert card.status_code == 200, card.text  # cards come from the snapshot
            assert card.json()["owner"]["move"]["status"] == "approved"
            write = {"account_id": second, "action": "reject", "note": "db down"}
            down = http.post("/decide", json=write, headers=manager)
            assert down.status_code == 503 and int(down.headers["retry-after"]) > 0, down.text
            assert "TERRITORY_DECISIONS_URL" in down.json()["error"]

            proxy.restore()  # back up: no restart
            until(lambda: http.get("/readyz").status_code == 200)
            again = http.post("/decide", json=write, headers=manager)
            assert again.status_code == 200, again.text
            trail = http.post("/audit", json={"limit": 10}, headers=manager).json()["entries"]
            decisions = [e for e in trail if e["action"].startswith("decision.")]
            assert sorted(e["action"] for e in decisions) == ["decision.approve", "decision.reject"]
    finally:
        server.stop()
        proxy.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, ARTIFACTS / "pg-proxy.log")
