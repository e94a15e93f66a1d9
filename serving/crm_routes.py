"""The CRM-facing routes under /crm: HubSpot cards (app card via hubspot.fetch, and the legacy
CRM card, deprecated) and the Salesforce Canvas entry. Each verifies the CRM's signature, maps
the signed-in CRM user to a rep, applies the same rule as /card, and hands the rep a short-lived
widget token (never an API key). docs/crm.md has the admin's side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs, quote

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from features.errors import TerritoryError
from serving.auth import Principal
from serving.cards import for_rep
from serving.crm_settings import CrmSettings
from serving.crm_signin import (
    account_for_crm_id,
    check_portal,
    require_rep,
    sign_token,
    verify_canvas,
    verify_token,
)
from serving.decisions import rules
from serving.errors import Forbidden, NotFound, Unauthenticated, error_response
from serving.hubspot import (
    EMPTY_CARD,
    card_payload,
    iframe_action,
    object_id_of,
    restricted_payload,
    verify_v3,
)


def _service():
    import bentoml

    return bentoml.get_current_service()


def crm_settings(service) -> CrmSettings:
    """The service's CRM settings, built on first use and kept on the instance."""
    settings = getattr(service, "_crm_settings", None)
    if settings is None:
        settings = CrmSettings()
        service._crm_settings = settings
    return settings


def token_verifier(service) -> Callable[[str], Principal]:
    """What KeyRing.accept_tokens needs: a widget token -> the rep it was issued for. Builds
    the CRM settings now: the service's __init__ calls this, while its environment is set."""
    crm_settings(service)

    def verify(token: str) -> Principal:
        rep_id, account_id = verify_token(
            crm_settings(service).token_secret(), token, now_s=int(time.time())
        )
        state = service.state
        rep = state.reps.get(rep_id) if state is not None else None
        if rep is None:
            raise Unauthenticated(
                f"widget token names rep {rep_id}, who is not in the loaded CRM data: open the "
                "widget again from the CRM."
            )
        return Principal(rep.name, "rep", rep_id, via="widget_token", account_id=account_id)

    return verify


def _base(request: Request, public_base_url: str | None) -> str:
    return (public_base_url or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")


def widget_link(service, base: str, rep_id: str, account_id: str, *, contest: bool = False) -> str:
    """The widget URL for one rep on one account, signed in by a token in the fragment."""
    settings = crm_settings(service)
    token = sign_token(settings.token_secret(), rep_id, account_id, now_s=int(time.time()),
                       ttl_s=settings.widget_token_ttl_s)  # fmt: skip
    extra = "&contest=1" if contest else ""
    return f"{base}/widget/?account={quote(account_id)}{extra}#token={token}"


def _account_of(state, params, property_name: str) -> str | None:
    """Our account_id from the card request: the company property, else the record's crm_id,
    else (legacy installs) the record id used as our account_id."""
    named = params.get(property_name)
    if named and named in state.accounts:
        return named
    record = params.get("associatedObjectId") or params.get("objectId")
    if not record:
        return None
    try:
        return account_for_crm_id(state.tables.accounts, record)
    except NotFound:
        return record if record in state.accounts else None


async def hubspot_card(request: Request) -> Response:
    """HubSpot card data (app card through hubspot.fetch, or the legacy CRM card): verified,
    for the signed-in rep only, with IFRAME actions carrying a widget token."""
    from serving.web import public_uri

    try:
        service = _service()
        settings = service.settings
        if settings.hubspot_client_secret is None:
            raise NotFound(
                "the HubSpot card is not configured: set TERRITORY_HUBSPOT_CLIENT_SECRET to "
                "the app's client secret."
            )
        body = await request.body()
        verify_v3(
            settings.hubspot_client_secret.get_secret_value(),
            method=request.method,
            uri=public_uri(request, settings.public_base_url),
            body=body,
            headers=request.headers,
            now_ms=int(time.time() * 1000),
            max_age_s=settings.hubspot_max_age_s,
        )
        params = request.query_params
        crm = crm_settings(service)
        check_portal(crm.hubspot_portal_ids, params.get("portalId"))
        state = service._state()
        rep_id = require_rep(state.tables.reps, "HubSpot", email=params.get("userEmail"),
                             user_id=params.get("userId"), prefer="email")  # fmt: skip
        account_id = _account_of(state, params, settings.hubspot_account_property)
        object_id = object_id_of(params.get("associatedObjectId") or params.get("objectId"))
        if account_id is None or object_id is None:
            return JSONResponse(EMPTY_CARD)
        return JSONResponse(
            await anyio.to_thread.run_sync(
                _card_for, service, state, rep_id, account_id, object_id,
                _base(request, settings.public_base_url),
            )
        )  # fmt: skip
    except TerritoryError as exc:
        return error_response(exc)


def _card_for(service, state, rep_id: str, account_id: str, object_id: int, base: str) -> dict:
    who = Principal(state.reps[rep_id].name, "rep", rep_id, via="hubspot")
    try:
        rules.check_rep_may_see(who, state, account_id)
    except Forbidden:
        owner = state.reps.get(state.current_owner.get(account_id, ""))
        return restricted_payload(object_id, owner.name if owner else None)
    # reps read the card in the CRM: the rep-facing wording, no colleague's shortcomings
    card = for_rep(service.card_dict(account_id), rep_id)
    link = widget_link(service, base, rep_id, account_id)
    actions = [iframe_action("Open in Territory", link)]
    move = card["owner"].get("move")
    if move and move.get("status") == "proposed":
        actions.append(
            iframe_action("Contest this move", widget_link(service, base, rep_id, account_id,
                                                           contest=True))
        )  # fmt: skip
    currency = crm_settings(service).card_currency
    return card_payload(card, object_id, link, currency=currency, actions=actions)


async def salesforce_canvas(request: Request) -> Response:
    """Salesforce Canvas: verify the signed request, map the user to a rep and the record to an
    account, then send the browser to the widget with a widget token (303)."""
    try:
        service = _service()
        crm = crm_settings(service)
        if crm.salesforce_canvas_secret is None:
            raise NotFound(
                "Salesforce Canvas is not configured: set TERRITORY_SALESFORCE_CANVAS_SECRET to "
                "the connected app's consumer secret."
            )
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        signed = (form.get("signed_request") or [""])[0]
        if not signed:
            raise Unauthenticated(
                "no signed_request in the POST body: this endpoint is the canvas app URL that "
                "Salesforce posts its signed request to (Signed Request access method)."
            )
        canvas = verify_canvas(crm.salesforce_canvas_secret.get_secret_value(), signed)
        context = canvas.get("context") or {}
        user = context.get("user") or {}
        environment = context.get("environment") or {}
        record = (environment.get("record") or {}).get("Id") or (
            environment.get("parameters") or {}
        ).get("recordId")
        state = service._state()
        rep_id = require_rep(state.tables.reps, "Salesforce", email=user.get("email"),
                             user_id=user.get("userId"), prefer="user_id")  # fmt: skip
        if not record:
            raise NotFound(
                "the Canvas request names no record: place the canvas app on the Account page "
                "(Lightning component force:canvasApp or the LWC in crm/salesforce/)."
            )
        account_id = account_for_crm_id(state.tables.accounts, record)
        rules.check_rep_may_see(Principal(rep_id, "rep", rep_id), state, account_id)
        base = _base(request, service.settings.public_base_url)
        return RedirectResponse(widget_link(service, base, rep_id, account_id), status_code=303)
    except TerritoryError as exc:
        return error_response(exc)
