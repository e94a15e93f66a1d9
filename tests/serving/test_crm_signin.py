"""Reps signed in by their CRM: HubSpot card (app card and legacy), widget tokens, Canvas; and
the CRM export API. A real server: integration tier.

The card response is validated against a JSON schema written from HubSpot's card documentation
(CRM card response: results[] with a number objectId, title, link, properties with dataType,
actions of type IFRAME / ACTION_HOOK / CONFIRMATION_ACTION_HOOK); docs/crm.md cites the pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from serving.crm_signin import sign_token, verify_token
from serving.errors import Unauthenticated
from serving.hubspot import ordinal, sign_v3

pytestmark = pytest.mark.integration

PORTAL = "62515"
CANVAS_SECRET = "canvas-consumer-secret-0123456789"
TOKEN_SECRET = "widget-token-secret-0123456789abcdef"

PROPERTY = {
    "type": "object",
    "required": ["label", "dataType", "value"],
    "properties": {
        "label": {"type": "string", "minLength": 1},
        "dataType": {
            "enum": [
                "BOOLEAN",
                "CURRENCY",
                "DATE",
                "DATETIME",
                "EMAIL",
                "LINK",
                "NUMERIC",
                "STATUS",
                "STRING",
            ]
        },  # fmt: skip
        "value": {"type": ["string", "number", "boolean"]},
        "currencyCode": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
    "allOf": [
        {
            "if": {"properties": {"dataType": {"const": "CURRENCY"}}},
            "then": {"required": ["currencyCode"]},
        },
        {
            "if": {"properties": {"dataType": {"const": "DATE"}}},
            "then": {"properties": {"value": {"type": "string", "format": "date"}}},
        },
    ],
}
ACTION = {
    "type": "object",
    "required": ["type", "uri", "label"],
    "properties": {
        "type": {"enum": ["IFRAME", "ACTION_HOOK", "CONFIRMATION_ACTION_HOOK"]},
        "uri": {"type": "string", "pattern": "^https?://"},
        "label": {"type": "string", "minLength": 1},
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
        "associatedObjectProperties": {"type": "array", "items": {"type": "string"}},
    },
    "if": {"properties": {"type": {"const": "IFRAME"}}},
    "then": {"required": ["type", "uri", "label", "width", "height"]},
}
CARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["results"],
    "additionalProperties": False,
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["objectId", "title", "properties"],
                "properties": {
                    "objectId": {"type": "integer"},
                    "title": {"type": "string", "minLength": 1},
                    "link": {"type": ["string", "null"], "pattern": "^https?://"},
                    "properties": {"type": "array", "items": PROPERTY},
                    "actions": {"type": "array", "items": ACTION},
                },
            },
        }
    },
}


def valid_card(body: dict) -> dict:
    jsonschema.validate(body, CARD_SCHEMA, format_checker=jsonschema.FormatChecker())
    return body


@pytest.fixture(scope="module")
def crm(base_env, tmp_path_factory):
    """A real `territory serve` with the CRM settings (its own process: BentoML allows one app
    per test process, and test_service has it), and an HTTP client on it."""
    import httpx

    from tests.serving.fixtures.servers import Server

    tmp = tmp_path_factory.mktemp("crm_server")
    env = {
        **base_env,
        "TERRITORY_DECISIONS_URL": f"sqlite:///{tmp / 'decisions.db'}",
        "TERRITORY_HUBSPOT_PORTAL_IDS": json.dumps([PORTAL]),
        "TERRITORY_CARD_CURRENCY": "EUR",
        "TERRITORY_SALESFORCE_CANVAS_SECRET": CANVAS_SECRET,
        "TERRITORY_WIDGET_TOKEN_SECRET": TOKEN_SECRET,
    }
    args = ["--data", env.pop("TERRITORY_CRM_SOURCE"), "--scores", env.pop("TERRITORY_SCORES_PATH"),
            "--plan", env.pop("TERRITORY_PLAN_DIR")]  # fmt: skip
    server = Server(env, args, tmp / "server.log")
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def people(tables, plan_moves):
    """A proposed move, its losing rep (owner) and a rep who is in no move of that account."""
    move = plan_moves.iloc[0].to_dict()
    reps = tables.reps.set_index("rep_id")
    involved = {move["from_rep_id"], move["to_rep_id"]}
    other = next(r for r in reps.index[reps["active"]] if r not in involved)
    crm_id = tables.accounts.set_index("account_id").loc[move["account_id"], "crm_id"]
    return {
        "account": move["account_id"],
        "crm_id": crm_id,
        "owner": move["from_rep_id"],
        "owner_email": reps.loc[move["from_rep_id"], "email"],
        "owner_user": reps.loc[move["from_rep_id"], "crm_user_id"],
        "other_email": reps.loc[other, "email"],
        "other_account": next(a for a in tables.accounts["account_id"] if a != move["account_id"]),
    }


def hubspot(client, *, record, email, portal=PORTAL, path="/crm/hubspot/app-card", extra=""):
    """A card fetch as hubspot.fetch sends it: query with the signed-in user, v3-signed."""
    query = f"associatedObjectId={record}&userId=1234&userEmail={email}&portalId={portal}{extra}"
    timestamp = str(int(time.time() * 1000))
    from tests.serving.fixtures.clients import HUBSPOT_SECRET

    uri = f"{str(client.base_url).rstrip('/')}{path}?{query}"
    signature = sign_v3(HUBSPOT_SECRET, "GET", uri, b"", timestamp)
    return client.get(
        f"{path}?{query}",
        headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp},
    )


def token_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).fragment)["token"][0]


# -- the HubSpot card -----------------------------------------------------------------------------
def test_ordinals_read_right():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 92, 101, 111, 100)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "92nd", "101st", "111th",
        "100th",
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["/crm/hubspot/app-card", "/crm/hubspot/card"])
def test_owner_gets_the_card_with_actions_in_hubspots_schema(crm, people, path):
    response = hubspot(crm, record=people["crm_id"], email=people["owner_email"], path=path)
    assert response.status_code == 200, response.text
    result = valid_card(response.json())["results"][0]
    assert result["objectId"] == int(people["crm_id"])
    match = re.search(r"\((\d+)(st|nd|rd|th) percentile\)$", result["title"])
    assert match and ordinal(int(match.group(1))) == match.group(1) + match.group(2)
    labels = {p["label"]: p for p in result["properties"]}
    assert labels["Potential (12 months)"]["currencyCode"] == "EUR"
    assert "Recommended owner" in labels
    actions = {a["label"]: a for a in result["actions"]}
    assert set(actions) == {"Open in Territory", "Contest this move"}
    assert all(a["type"] == "IFRAME" for a in actions.values())
    assert f"account={people['account']}" in actions["Open in Territory"]["uri"]
    assert "contest=1" in actions["Contest this move"]["uri"]
    assert "key=" not in json.dumps(result)  # never an API key in a URL


def test_a_rep_who_is_not_the_owner_sees_only_the_owner(crm, people):
    response = hubspot(crm, record=people["crm_id"], email=people["other_email"])
    result = valid_card(response.json())["results"][0]
    labels = {p["label"] for p in result["properties"]}
    assert labels == {"Current owner", "Potential and moves"} and result["actions"] == []


def test_unknown_company_gets_an_empty_card(crm, people):
    response = hubspot(crm, record="123456789012", email=people["owner_email"])
    assert response.status_code == 200 and valid_card(response.json()) == {"results": []}


def test_unmapped_hubspot_user_is_a_clear_403(crm, people):
    response = hubspot(crm, record=people["crm_id"], email="stranger@example.org")
    assert response.status_code == 403
    error = response.json()["error"]
    assert "stranger@example.org" in error and "crm_user_id" in error and "email" in error


def test_portal_not_on_the_allow_list_is_refused(crm, people):
    response = hubspot(crm, record=people["crm_id"], email=people["owner_email"], portal="999")
    assert response.status_code == 403
    assert (
        "'999'" in response.json()["error"]
        and "TERRITORY_HUBSPOT_PORTAL_IDS" in (response.json()["error"])
    )


# -- widget tokens --------------------------------------------------------------------------------
def test_token_from_the_card_opens_that_accounts_widget_and_nothing_else(crm, people):
    result = hubspot(crm, record=people["crm_id"], email=people["owner_email"]).json()["results"][0]
    token = token_of(result["actions"][0]["uri"])
    bearer = {"Authorization": f"Bearer {token}"}
    me = crm.post("/whoami", json={}, headers=bearer)
    assert me.status_code == 200 and me.json()["rep_id"] == people["owner"]
    card = crm.post("/card", json={"account_id": people["account"]}, headers=bearer)
    assert card.status_code == 200 and card.json()["account_id"] == people["account"]
    other = crm.post("/card", json={"account_id": people["other_account"]}, headers=bearer)
    assert other.status_code == 403 and people["account"] in other.json()["error"]
    moves = crm.post("/moves", json={}, headers=bearer)
    assert moves.status_code == 403 and "widget token" in moves.json()["error"]


def test_expired_or_altered_token_is_refused(crm, people):
    key = TOKEN_SECRET.encode()
    expired = sign_token(key, people["owner"], people["account"], now_s=int(time.time()) - 3600,
                         ttl_s=60)  # fmt: skip
    response = crm.post("/card", json={"account_id": people["account"]},
                        headers={"Authorization": f"Bearer {expired}"})  # fmt: skip
    assert response.status_code == 401 and "expired" in response.json()["error"]
    good = sign_token(key, people["owner"], people["account"], now_s=int(time.time()), ttl_s=60)
    payload, signature = good[4:].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["acc"] = people["other_account"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = crm.post("/card", json={"account_id": people["other_account"]},
                        headers={"Authorization": f"Bearer tt1.{forged}.{signature}"})  # fmt: skip
    assert response.status_code == 401 and "does not match" in response.json()["error"]
    other_server = sign_token(b"another-secret", people["owner"], people["account"],
                              now_s=int(time.time()), ttl_s=60)  # fmt: skip
    with pytest.raises(Unauthenticated, match="does not match"):
        verify_token(key, other_server, now_s=int(time.time()))


# -- Salesforce Canvas ----------------------------------------------------------------------------
def canvas_request(secret: str, *, user_id: str, email: str, record: str) -> str:
    """A signed request as Salesforce builds it: base64(HMAC-SHA256(secret, b64 context)).b64."""
    context = {
        "algorithm": "HMACSHA256",
        "issuedAt": None,
        "userId": user_id,
        "client": {"instanceUrl": "https://example.my.salesforce.com", "oauthToken": "x"},
        "context": {
            "user": {"userId": user_id, "email": email},
            "environment": {"record": {"Id": record, "attributes": {"type": "Account"}}},
        },
    }
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    digest = hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode() + "." + encoded


def test_canvas_signed_request_opens_the_widget_with_a_token(crm, people):
    signed = canvas_request(CANVAS_SECRET, user_id=people["owner_user"], email="x@y.z",
                            record=people["crm_id"])  # fmt: skip
    response = crm.post("/crm/salesforce/canvas", data={"signed_request": signed})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert f"/widget/?account={people['account']}#token=" in location
    bearer = {"Authorization": f"Bearer {token_of(location)}"}
    card = crm.post("/card", json={"account_id": people["account"]}, headers=bearer)
    assert card.status_code == 200


def test_canvas_with_a_bad_signature_is_refused(crm, people):
    signed = canvas_request("not-the-secret", user_id=people["owner_user"], email="x@y.z",
                            record=people["crm_id"])  # fmt: skip
    response = crm.post("/crm/salesforce/canvas", data={"signed_request": signed})
    assert response.status_code == 401
    assert "TERRITORY_SALESFORCE_CANVAS_SECRET" in response.json()["error"]


def test_canvas_user_not_mapped_is_a_clear_403(crm, people):
    signed = canvas_request(CANVAS_SECRET, user_id="005000000000000XYZ", email="no@one.org",
                            record=people["crm_id"])  # fmt: skip
    response = crm.post("/crm/salesforce/canvas", data={"signed_request": signed})
    assert response.status_code == 403
    assert "Salesforce user no@one.org" in response.json()["error"]


def test_widget_and_pages_allow_the_configured_crm_frame_ancestors(crm):
    csp = crm.get("/widget/").headers["content-security-policy"]
    assert "frame-ancestors 'self' https://app.hubspot.com" in csp


# -- the export API (last: it approves the plan, which ends the proposed moves above) ----------
def test_export_api_refuses_until_approved_then_answers_a_zip(crm, keys, tables):
    import io
    import zipfile

    manager = {"Authorization": f"Bearer {keys['manager']}"}
    refused = crm.post("/export_crm", json={"format": "salesforce-owner"}, headers=manager)
    assert refused.status_code == 409 and "not approved" in refused.json()["error"]
    rep = crm.post("/export_crm", json={"format": "hubspot-import"},
                   headers={"Authorization": f"Bearer {keys['rep']}"})  # fmt: skip
    assert rep.status_code == 403
    body = {"confirm": True, "effective_date": "2026-07-01", "note": "Q3"}
    approved = crm.post("/approve_plan", headers=manager, json=body)
    assert approved.status_code == 200, approved.text
    response = crm.post("/export_crm", json={"format": "salesforce-owner"}, headers=manager)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["effective_date"] == "2026-07-01" and manifest["plan_status"] == "approved"
    lines = archive.read("salesforce_account_owner.csv").decode().splitlines()
    assert lines[0] == "Id,OwnerId" and len(lines) - 1 == manifest["rows"]
    crm_ids = set(tables.accounts["crm_id"])
    assert all(line.split(",")[0] in crm_ids for line in lines[1:])
