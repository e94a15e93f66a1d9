"""Idempotency keys: a retried write (same key, same body) gets the first answer back instead of
writing again; the same key with another body is refused. The key is stored in the write's own
transaction under a primary key, so two racing retries cannot both write."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from serving.decisions.tables import now
from serving.errors import ServingError

MAX_KEY_LENGTH = 128


class IdempotencyKeyReused(ServingError):
    """An Idempotency-Key already used for a different request (422)."""

    status = 422


@dataclass(frozen=True)
class WriteKey:
    """A write's idempotency key with what it must match: the endpoint, the caller and the body."""

    key: str
    endpoint: str
    actor: str
    request_hash: str

    @classmethod
    def of(cls, key: str | None, endpoint: str, actor: str, body: dict[str, Any]):
        """The key for this request, or None when the caller sent none."""
        if key is None or not key.strip():
            return None
        key = key.strip()
        if len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise IdempotencyKeyReused(
                f"Idempotency-Key must be printable text of at most {MAX_KEY_LENGTH} characters "
                f"(got {len(key)}); send a UUID."
            )
        digest = hashlib.sha256(
            json.dumps([endpoint, actor, body], sort_keys=True, default=str).encode()
        ).hexdigest()
        return cls(key, endpoint, actor, digest)


def replay(conn: sa.Connection, table: sa.Table, key: WriteKey) -> Any | None:
    """The stored result of an earlier write under this key (None: first use); refuses a key
    used for a different request."""
    row = conn.execute(sa.select(table).where(table.c.key == key.key)).mappings().first()
    if row is None:
        return None
    if (row["endpoint"], row["actor"], row["request_hash"]) != (
        key.endpoint,
        key.actor,
        key.request_hash,
    ):
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key.key!r} was already used for a different request (a "
            f"{row['endpoint']} by {row['actor']}); nothing was written. Use a new key for a new "
            "request, and the same key only to retry the very same one."
        )
    return json.loads(row["result"])


def remember(conn: sa.Connection, table: sa.Table, key: WriteKey, result: Any) -> None:
    """Store the result under the key, in the write's transaction."""
    conn.execute(
        table.insert().values(
            key=key.key,
            endpoint=key.endpoint,
            actor=key.actor,
            request_hash=key.request_hash,
            result=json.dumps(result, default=str),
            created_at=now(),
        )
    )
