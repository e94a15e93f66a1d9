"""HubSpot CRM cards: verify v3 request signatures and answer in HubSpot's card JSON shape.

HubSpot signs each data-fetch request with ``X-HubSpot-Signature-v3``: base64 of HMAC-SHA256,
keyed by the app's client secret, over ``method + uri + body + timestamp`` where ``timestamp`` is
``X-HubSpot-Request-Timestamp`` (Unix ms) and the URI has a fixed list of percent-escapes decoded.
Requests older than five minutes are rejected so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

from serving.errors import Unauthenticated

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"

# The escapes HubSpot decodes in the URI before signing (its v3 validation guide).
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(_DECODED), flags=re.IGNORECASE)


def canonical_uri(uri: str) -> str:
    """`uri` with the escapes HubSpot decodes before signing turned back into characters."""
    return _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], uri)


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: str) -> str:
    """The X-HubSpot-Signature-v3 value HubSpot would send for this request."""
    message = method.upper().encode() + canonical_uri(uri).encode() + body + timestamp_ms.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_v3(
    secret: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now_ms: int,
    max_age_s: int = 300,
) -> None:
    """Raise Unauthenticated unless the request carries a fresh, valid v3 signature."""
    signature = headers.get(SIGNATURE_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise Unauthenticated(
            f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}: this endpoint only answers "
            "HubSpot's signed CRM card requests; use /card with an API key otherwise."
        )
    try:
        sent_ms = int(timestamp)
    except ValueError as exc:
        raise Unauthenticated(f"{TIMESTAMP_HEADER}={timestamp!r} is not Unix milliseconds") from exc
    age_s = (now_ms - sent_ms) / 1000
    if abs(age_s) > max_age_s:
        raise Unauthenticated(
            f"signed request is {age_s:.0f} s old (limit {max_age_s} s): rejected as a possible "
            "replay; check the server clock if HubSpot's requests all fail this way."
        )
    expected = sign_v3(secret, method, uri, body, timestamp)
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text, and a header is
    # whatever the caller sent (latin-1 decoded).
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise Unauthenticated(
            "HubSpot signature does not match: check TERRITORY_HUBSPOT_CLIENT_SECRET and, behind "
            "a proxy, TERRITORY_PUBLIC_BASE_URL (the URL HubSpot calls, scheme and host)."
        )


def _money(value: float) -> str:
    return f"{value:.2f}"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 92nd, 101st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def object_id_of(value: str | int | None) -> int | None:
    """HubSpot's objectId is a number (int64): the digits of the record id, else None."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


def iframe_action(label: str, uri: str, *, width: int = 400, height: int = 720) -> dict:
    """A card action that opens `uri` in HubSpot's modal iframe (CRM card action type IFRAME)."""
    return {
        "type": "IFRAME",
        "width": width,
        "height": height,
        "uri": uri,
        "label": label,
        "associatedObjectProperties": [],
    }


def card_payload(
    card: Mapping,
    object_id: int | str,
    widget_url: str | None,
    *,
    currency: str = "USD",
    actions: list[dict] | None = None,
) -> dict:
    """One account card as HubSpot's CRM card response: results[{objectId, title, properties,
    actions}]; objectId a number where the record id is one."""
    potential = card["potential"]
    owner = card["owner"]
    properties = [
        {
            "label": "Potential (12 months)",
            "dataType": "CURRENCY",
            "value": _money(potential["value"]),
            "currencyCode": currency,
        },
        {"label": "Percentile", "dataType": "NUMERIC", "value": round(potential["percentile"], 1)},
        {"label": "Tier", "dataType": "STRING", "value": potential["tier"]},
        {
            "label": "Current owner",
            "dataType": "STRING",
            "value": owner["current"]["name"] if owner["current"] else "none",
        },
    ]
    recommended = owner.get("recommended")
    if owner.get("move"):
        properties.append(
            {
                "label": "Recommended owner",
                "dataType": "STRING",
                "value": f"{recommended['name']} ({owner['move']['status']})",
            }
        )
        properties.extend(
            {"label": "Why move", "dataType": "STRING", "value": reason["text"]}
            for reason in owner["move"]["reasons"][:2]
        )
    properties.extend(
        {"label": f"Reason {i}", "dataType": "STRING", "value": reason["phrase"]}
        for i, reason in enumerate(card["reasons"][:3], start=1)
    )
    properties.append(
        {"label": "Scores as of", "dataType": "DATE", "value": card["freshness"]["scores_as_of"]}
    )
    number = object_id_of(object_id)
    result: dict = {
        "objectId": number if number is not None else object_id,
        "title": (
            f"Account potential: tier {potential['tier']} "
            f"({ordinal(round(potential['percentile']))} percentile)"
        ),
        "properties": properties,
        "actions": list(actions or []),
    }
    if widget_url:
        result["link"] = widget_url
    return {"results": [result]}


def restricted_payload(object_id: int, owner_name: str | None) -> dict:
    """What a rep who neither owns the account nor is part of its move sees: the owner only."""
    return {
        "results": [
            {
                "objectId": object_id,
                "title": "Territory: another rep's account",
                "properties": [
                    {"label": "Current owner", "dataType": "STRING", "value": owner_name or "none"},
                    {
                        "label": "Potential and moves",
                        "dataType": "STRING",
                        "value": "shown to the account's owner and the reps in its proposed move",
                    },
                ],
                "actions": [],
            }
        ]
    }


EMPTY_CARD: dict = {"results": []}
"""HubSpot's answer for a record with nothing to show (a company Territory does not know)."""
