// Territory app card for HubSpot company records (UI extensions, React).
// It calls the Territory service through hubspot.fetch, which signs the request
// (X-HubSpot-Signature-v3) and adds the signed-in user (userId, userEmail) and portalId; the
// service maps that user to a rep, applies the rep's rule and answers the card JSON documented
// in docs/crm.md. Actions open the Territory widget in HubSpot's iframe modal with a short-lived
// token in the URL fragment: the rep never sees or pastes an API key.
// BASE_URL must match permittedUrls.fetch and permittedUrls.iframe in app-hsmeta.json.
import React, { useEffect, useState } from "react";
import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListItem,
  Flex,
  LoadingSpinner,
  Text,
  hubspot,
} from "@hubspot/ui-extensions";

const BASE_URL = "https://territory.example.com";
const CARD_PATH = "/crm/hubspot/app-card";

hubspot.extend(({ context, actions }) => <TerritoryCard context={context} actions={actions} />);

function shown(property) {
  if (property.dataType === "CURRENCY") {
    return new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: property.currencyCode,
      maximumFractionDigits: 0,
    }).format(Number(property.value));
  }
  return String(property.value);
}

function TerritoryCard({ context, actions }) {
  const [state, setState] = useState({ loading: true });
  const objectId = context.crm.objectId;

  useEffect(() => {
    const url = `${BASE_URL}${CARD_PATH}?associatedObjectId=${encodeURIComponent(objectId)}`;
    // HubSpot's limit is 15 s per request; answer or fail well before it.
    hubspot.fetch(url, { method: "GET", timeout: 10000 })
      .then(async (response) => {
        const body = await response.json();
        if (!response.ok) throw new Error(body.error || `Territory answered ${response.status}`);
        setState({ loading: false, result: body.results[0] || null });
      })
      .catch((error) => setState({ loading: false, error: error.message }));
  }, [objectId]);

  if (state.loading) return <LoadingSpinner label="Loading Territory" />;
  if (state.error) return <Alert title="Territory" variant="error">{state.error}</Alert>;
  if (!state.result) return <Text>Territory has no account for this company.</Text>;

  const { title, properties, actions: cardActions } = state.result;
  return (
    <Flex direction="column" gap="small">
      <Text format={{ fontWeight: "bold" }}>{title}</Text>
      <DescriptionList direction="column">
        {properties.map((property, i) => (
          <DescriptionListItem key={i} label={property.label}>
            <Text>{shown(property)}</Text>
          </DescriptionListItem>
        ))}
      </DescriptionList>
      <Flex direction="row" gap="small">
        {(cardActions || [])
          .filter((action) => action.type === "IFRAME")
          .map((action) => (
            <Button
              key={action.label}
              onClick={() =>
                actions.openIframeModal({
                  uri: action.uri,
                  title: action.label,
                  width: action.width,
                  height: action.height,
                })
              }
            >
              {action.label}
            </Button>
          ))}
      </Flex>
    </Flex>
  );
}
