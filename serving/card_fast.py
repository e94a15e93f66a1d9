"""POST /card's plain case answered in front of BentoML's request machinery.

The card is the hot read path (every CRM page view of an account). BentoML's endpoint machinery
(context, routing, input and output models, a response object per call) cost more than building
the card itself, so GuardMiddleware (serving/web.py), after its key check, hands /card here:

- a small JSON body that validates as CardRequest, from a caller the service lets read that card
  (Territory.card_json: the same role, token and rep-confinement checks as the endpoint), of an
  account with a precomputed score, is answered here with the cached card bytes;
- anything else (a bad body, a refused caller, an unknown or foreign id, an account scored on
  request, the service not ready) goes on to BentoML's /card with its body replayed, which
  answers exactly as it always has: the same errors, statuses and logs.

The answer is byte for byte the endpoint's (tests/serving/test_card_fast.py checks it). The
OpenAPI document keeps describing /card: the endpoint is still the one BentoML documents.
BentoML's outer middleware (HTTP metrics, tracing rules, timeout, concurrency limit) and the CORS
middleware still wrap this path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from serving.errors import TerritoryError
from serving.schemas import CardRequest

log = logging.getLogger(__name__)

FAST_BODY_MAX = 1024
"""A card request is {"account_id": ...} with at most 128 characters: larger bodies take the
endpoint's path (and its size limit)."""

JSON_TYPES = frozenset({"", "application/json"})
SERVER_HEADER = b"BentoML Service/Territory"  # what BentoML puts on every endpoint's answer

App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def serve_card(
    service, headers: Mapping[str, str], scope: Scope, receive: Receive, send: Send, app: App
) -> None:
    """Answer from the card cache when the request is the plain case, else hand it to `app`."""
    received: list[Message] = []
    body = await _small_body(headers, receive, received)
    answer = _card_json(service, headers, body) if body is not None else None
    if answer is None:
        await app(scope, _replay(received, receive), send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(answer)).encode()),
                (b"content-type", b"application/json"),
                (b"server", SERVER_HEADER),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})


def _card_json(service, headers: Mapping[str, str], body: bytes) -> bytes | None:
    """The card's bytes, or None for anything the endpoint should answer itself."""
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        return None
    try:
        account_id = CardRequest.model_validate_json(body or b"{}").account_id
    except ValidationError:
        return None
    if "\x00" in account_id:  # the endpoint answers 400 (errors._check_arguments)
        return None
    try:
        who = service.keys.authenticate(headers)
        return service.card_json(who, account_id)
    except TerritoryError:
        return None  # refused or not ready: the endpoint says why, in its own words
    except Exception:  # noqa: BLE001 - the endpoint still answers; the log says what broke here
        log.exception("card fast path failed for %r; answered by the /card endpoint", account_id)
        return None


async def _small_body(
    headers: Mapping[str, str], receive: Receive, received: list[Message]
) -> bytes | None:
    """The whole body when Content-Length announces at most FAST_BODY_MAX bytes, else None
    (every message read is kept in `received` for the replay)."""
    length = headers.get("content-length", "")
    if not length.isdigit() or int(length) > FAST_BODY_MAX:
        return None
    chunks = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(received: list[Message], receive: Receive) -> Receive:
    """`receive` that first hands back the messages already read."""
    pending = list(received)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
