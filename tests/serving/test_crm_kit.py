"""The admin kits in crm/ (not built here: no npm or sfdx at test time) hang together: JSON and
XML parse, the card's entrypoint exists, the React card calls the card endpoint the service
serves through hubspot.fetch, and its host is in permittedUrls."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "crm"
NS = "{http://soap.sforce.com/2006/04/metadata}"


def test_hubspot_app_card_definition_points_at_the_component_and_permits_its_host():
    app = json.loads((ROOT / "hubspot/src/app/app-hsmeta.json").read_text())
    card = json.loads((ROOT / "hubspot/src/app/cards/territory-card-hsmeta.json").read_text())
    assert app["type"] == "app" and card["type"] == "card"
    assert card["config"]["objectTypes"] == ["companies"]
    entry = ROOT / "hubspot/src" / card["config"]["entrypoint"].lstrip("/")
    source = entry.read_text()
    base = re.search(r'const BASE_URL = "([^"]+)"', source).group(1)
    assert base in app["config"]["permittedUrls"]["fetch"]
    assert base in app["config"]["permittedUrls"]["iframe"]
    assert "hubspot.fetch(" in source and 'CARD_PATH = "/crm/hubspot/app-card"' in source
    assert "fetch(" not in source.replace("hubspot.fetch(", "")  # browser fetch is blocked there
    assert "openIframeModal" in source and "#key=" not in source and "?key=" not in source


def test_salesforce_kit_parses_and_points_at_the_canvas_endpoint():
    base = ROOT / "salesforce/force-app/main/default"
    app = ET.parse(base / "connectedApps/Territory.connectedApp-meta.xml").getroot()
    canvas = app.find(f"{NS}canvasConfig")
    assert canvas.findtext(f"{NS}accessMethod") == "Post"
    assert canvas.findtext(f"{NS}canvasUrl").endswith("/crm/salesforce/canvas")
    site = ET.parse(base / "cspTrustedSites/Territory.cspTrustedSite-meta.xml").getroot()
    assert site.findtext(f"{NS}isApplicableToFrameSrc") == "true"
    assert site.findtext(f"{NS}endpointUrl") == canvas.findtext(f"{NS}canvasUrl").split("/crm")[0]
    meta = ET.parse(base / "lwc/territoryWidget/territoryWidget.js-meta.xml").getroot()
    assert meta.findtext(f"{NS}isExposed") == "true"
    page = (base / "pages/TerritoryAccount.page").read_text()
    assert 'developerName="Territory"' in page and "recordId" in page
    assert "/apex/TerritoryAccount" in (base / "lwc/territoryWidget/territoryWidget.js").read_text()
