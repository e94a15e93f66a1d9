"""The decisions database: its engine, and write transactions that are atomic across processes.

Every write runs in one transaction through `write()`. On SQLite that transaction starts with
BEGIN IMMEDIATE, so writers from any number of processes take turns and a read-then-write inside
it cannot interleave; on PostgreSQL the unique indexes (tables.py) refuse the second of two racing
writers. A writer refused that way runs again from the start and sees the winner's row (a
conditional decision then answers 409). Any other database failure rolls the whole transaction
back and answers 503: nothing of a failed write is ever kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from serving.decisions import idempotency
from serving.decisions.idempotency import WriteKey
from serving.decisions.tables import build_tables, upgrade
from serving.errors import NotReady

T = TypeVar("T")
WRITE_ATTEMPTS = 3
RETRY_AFTER_S = 5


class StoreUnavailable(NotReady):
    """The decisions database failed during a write or read; nothing was written (503)."""

    retry_after_s = RETRY_AFTER_S


class Database:
    """The engine and tables of the decisions store, and its one way to write.

    Args:
        url: SQLAlchemy URL (sqlite:///path.db, postgresql+psycopg://...).
        schema: PostgreSQL schema to keep the tables in (None: the default schema).
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        sqlite = url.startswith("sqlite")
        connect_args = {"timeout": 30} if sqlite else {}
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        self.metadata = sa.MetaData(schema=schema)
        self.t = build_tables(self.metadata)
        upgrade(self.engine, self.metadata)

    def close(self) -> None:
        self.engine.dispose()

    def write(self, work: Callable[[sa.Connection], T], *, what: str) -> T:
        """`work(conn)` in one write transaction; rerun when a unique index refused a racing
        write; StoreUnavailable (nothing written) on any other database failure."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(territory_write=True)
                    with conn.begin():
                        return work(conn)
            except sa.exc.IntegrityError as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise _unavailable(what, exc) from exc
            except sa.exc.DBAPIError as exc:
                raise _unavailable(what, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def write_once(
        self,
        key: WriteKey | None,
        work: Callable[[sa.Connection], Any],
        *,
        what: str,
        dump: Callable[[Any], Any],
        load: Callable[[Any], Any],
    ) -> Any:
        """write(work), remembered under `key`: a retry with the same key and body gets
        load(the first result) back and writes nothing."""

        def once(conn: sa.Connection) -> Any:
            if key is not None:
                stored = idempotency.replay(conn, self.t["idempotency"], key)
                if stored is not None:
                    return load(stored)
            result = work(conn)
            if key is not None:
                idempotency.remember(conn, self.t["idempotency"], key, dump(result))
            return result

        return self.write(once, what=what)

    def read(self, work: Callable[[sa.Connection], T], *, what: str) -> T:
        """`work(conn)` on a read connection; StoreUnavailable when the database fails."""
        try:
            with self.engine.connect() as conn:
                return work(conn)
        except sa.exc.DBAPIError as exc:
            raise _unavailable(what, exc) from exc


def _unavailable(what: str, exc: sa.exc.DBAPIError) -> StoreUnavailable:
    reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else "no reason given"
    return StoreUnavailable(
        f"the decisions database failed during {what} ({reason}); nothing was written. Retry "
        f"in {RETRY_AFTER_S} s with the same Idempotency-Key; if it persists, check the database "
        "named by TERRITORY_DECISIONS_URL."
    )


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's begin event issue BEGIN itself (the driver's own would be DEFERRED), and
    # WAL so readers (card requests) run while a decision is being written.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("territory_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
