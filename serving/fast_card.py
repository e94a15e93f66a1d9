"""The account card's lean path: POST /card answered before BentoML's request stack when it can
be, with the same key check (GuardMiddleware ran it), the same access rule, the same card cache
(`Territory.card_dict`, counted in territory_card_total by source) and the same JSON body.

BentoML's per-request machinery (its body parsing and validation, context, metrics and tracing
wrappers) cost about two thirds of a card's time (bench/bench_serving.py). Only the common case
takes this path: a well-formed `{"account_id": "..."}` body for an account with a stored card
that the key may see. Everything else (bad JSON, unknown ids, refusals, cards computed on
request, errors) goes on to the BentoML endpoint with the body replayed, so every error answers
exactly as documented. Cards served here are not in BentoML's per-endpoint request histograms.
"""

from __future__ import annotations

import json

from starlette.responses import Response
from starlette.types import Message, Receive

from serving.schemas import AccountCard

MAX_ID = 128


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole request body, and whether it stayed within `limit` (reading stops past it)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True  # a disconnect: the app sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), True


def replay(body: bytes) -> Receive:
    """A `receive` that hands the app the body already read, then waits like a live request."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def card_response(service, headers: dict[str, str], body: bytes) -> Response | None:
    """The card as the endpoint would answer it, or None to let the endpoint answer."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict) or set(request) != {"account_id"}:
        return None
    account_id = request["account_id"]
    if not isinstance(account_id, str) or not 1 <= len(account_id) <= MAX_ID:
        return None
    state = service.state
    if state is None or state.entry(account_id) is None:
        return None
    try:
        who = service.keys.authenticate(headers)
        service._check_card_access(who, state, account_id)
        card = AccountCard.model_validate(service.card_dict(account_id))
    except Exception:  # noqa: BLE001 - the endpoint answers every refusal and error itself
        return None
    return Response(card.model_dump_json(), media_type="application/json")
