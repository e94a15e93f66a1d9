// Lightning record-page wrapper: frames the TerritoryAccount Visualforce page, which hosts the
// Territory Canvas app. The rep is signed in by Salesforce's signed request; no API key.
import { LightningElement, api } from "lwc";

export default class TerritoryWidget extends LightningElement {
    @api recordId;
    @api height = 720;

    get pageUrl() {
        return `/apex/TerritoryAccount?id=${encodeURIComponent(this.recordId || "")}`;
    }
}
