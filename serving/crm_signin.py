"""Reps signed in by their CRM: signed user identities mapped to reps, short-lived widget tokens,
Salesforce Canvas signed requests.

- A HubSpot request (card fetch) carries ``userId``, ``userEmail`` and ``portalId`` in its signed
  URL; the portal must be allowed and the user must map to a rep (email first, then
  crm_user_id). A Canvas signed request carries the Salesforce user (Id, then email).
- The card's actions open the widget with ``#token=...``: base64url(JSON {rep, account, exp})
  + "." + base64url(HMAC-SHA256(key, payload)). The token is bound to one rep and one account,
  expires after TERRITORY_WIDGET_TOKEN_TTL_S and can only read that card or contest that move.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

import pandas as pd

from serving.auth import TOKEN_PREFIX, Principal
from serving.errors import Forbidden, NotFound, Unauthenticated

TOKEN_PATHS = frozenset({"/card", "/contest", "/contest_outcomes", "/whoami", "/status"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(key: bytes, rep_id: str, account_id: str, *, now_s: int, ttl_s: int) -> str:
    """A widget token for `rep_id` on `account_id`, valid for `ttl_s` seconds from `now_s`."""
    payload = _b64(json.dumps({"rep": rep_id, "acc": account_id, "exp": now_s + ttl_s}).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{TOKEN_PREFIX}{payload}.{signature}"


def verify_token(key: bytes, token: str, *, now_s: int) -> tuple[str, str]:
    """(rep_id, account_id) of a valid token; Unauthenticated when altered or expired."""
    body = token[len(TOKEN_PREFIX) :] if token.startswith(TOKEN_PREFIX) else ""
    payload, _, signature = body.partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Unauthenticated(
            "widget token signature does not match (altered, or signed by another server): open "
            "the widget again from the CRM card; replicas must share TERRITORY_WIDGET_TOKEN_SECRET."
        )
    claims = json.loads(_unb64(payload))
    if int(claims["exp"]) < now_s:
        raise Unauthenticated(
            f"widget token expired {now_s - int(claims['exp'])} s ago: open the widget again from "
            "the CRM card (tokens live TERRITORY_WIDGET_TOKEN_TTL_S seconds)."
        )
    return str(claims["rep"]), str(claims["acc"])


def check_token_scope(who: Principal, path: str) -> None:
    """A token opens only the card it was issued for: refuse other endpoints."""
    if who.via == "widget_token" and path not in TOKEN_PATHS:
        raise Forbidden(
            f"a widget token opens one account's card ({', '.join(sorted(TOKEN_PATHS))}), not "
            f"{path}; use an API key for anything else."
        )


def check_token_account(who: Principal, account_id: str) -> None:
    """A token bound to one account may not read or contest another."""
    if who.via == "widget_token" and who.account_id != account_id:
        raise Forbidden(
            f"this widget token was issued for account {who.account_id}, not {account_id}: open "
            "the widget from that account's CRM card."
        )


def rep_for_user(
    reps: pd.DataFrame, *, email: str | None, user_id: str | None, prefer: str = "email"
) -> str | None:
    """The rep_id whose email (case-insensitive) or crm_user_id matches; None when neither."""
    by_email, by_id = None, None
    if email and "email" in reps.columns:
        hit = reps.loc[reps["email"].str.lower().eq(email.strip().lower()).fillna(False), "rep_id"]
        by_email = str(hit.iloc[0]) if len(hit) else None
    if user_id and "crm_user_id" in reps.columns:
        hit = reps.loc[reps["crm_user_id"].astype("str").eq(str(user_id)).fillna(False), "rep_id"]
        by_id = str(hit.iloc[0]) if len(hit) else None
    return (by_email or by_id) if prefer == "email" else (by_id or by_email)


def require_rep(
    reps: pd.DataFrame, crm: str, *, email: str | None, user_id: str | None, prefer: str
) -> str:
    """The signed-in CRM user's rep_id; Forbidden (403) naming the user and the fix."""
    rep_id = rep_for_user(reps, email=email, user_id=user_id, prefer=prefer)
    if rep_id is None:
        raise Forbidden(
            f"{crm} user {email or '-'} (user id {user_id or '-'}) is not a Territory rep: no rep "
            "has that email or crm_user_id. Add the rep's CRM email / user id to reps "
            "(columns email, crm_user_id; map them in the import mapping) and reload."
        )
    return rep_id


def check_portal(allowed: list[str], portal_id: str | None) -> None:
    """Forbidden unless the HubSpot portal is on the allow-list (an empty list allows any)."""
    if allowed and str(portal_id) not in allowed:
        raise Forbidden(
            f"HubSpot portal {portal_id!r} is not allowed to use this Territory service: add it "
            "to TERRITORY_HUBSPOT_PORTAL_IDS (a JSON list) if it should be."
        )


def account_for_crm_id(accounts: pd.DataFrame, crm_id: str) -> str:
    """Our account_id for a CRM record id (accounts.crm_id); NotFound naming the fix."""
    hit = pd.Series([], dtype="str")
    if "crm_id" in accounts.columns:
        hit = accounts.loc[accounts["crm_id"].astype("str").eq(str(crm_id)).fillna(False),
                           "account_id"]  # fmt: skip
    if not len(hit):
        raise NotFound(
            f"no account has crm_id {crm_id!r}: map `crm_id` (the CRM record id) in the import "
            "mapping so CRM pages find their account, and reload."
        )
    return str(hit.iloc[0])


def verify_canvas(secret: str, signed_request: str) -> Mapping:
    """The decoded CanvasRequest of a Salesforce Canvas signed request; Unauthenticated unless
    base64(HMAC-SHA256(consumer secret, encoded context)) matches the part before the '.'."""
    signature, _, encoded = signed_request.partition(".")
    expected = base64.b64encode(
        hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()
    ).decode()
    if not encoded or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Unauthenticated(
            "Salesforce Canvas signed request does not verify: check "
            "TERRITORY_SALESFORCE_CANVAS_SECRET (the connected app's consumer secret)."
        )
    try:
        request = json.loads(base64.b64decode(encoded))
    except ValueError as exc:
        raise Unauthenticated(f"Canvas signed request context is not base64 JSON: {exc}") from exc
    if request.get("algorithm", "HMACSHA256") != "HMACSHA256":
        raise Unauthenticated(f"Canvas algorithm {request.get('algorithm')!r} is not HMACSHA256.")
    return request
