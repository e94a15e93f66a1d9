/* Review page panel: when the scores and the CRM data were made (warning past the set ages), the
   latest drift report (worst features, PSI, thresholds) and a failed reload, all from /status.
   Refreshed every minute, like the service's own reload check. */
"use strict";

(() => {
  const { api, el } = Territory;
  const REFRESH_MS = 60_000;

  function freshnessPart(status) {
    const f = status.freshness;
    if (!f) return el("p", { class: "muted" }, "Nothing loaded yet.");
    const age = (days) => (days === null || days === undefined ? "" : ` (${Math.round(days)} days ago)`);
    return el("div", {},
      el("p", {}, "Scores made ", el("strong", {}, status.scored_at || "unknown"), age(f.scores_age_days),
        f.scores_model_version ? ` with ${f.scores_model_version}` : ""),
      el("p", {}, "Data up to ", el("strong", {}, status.data_latest || "unknown"), age(f.data_age_days)),
      el("p", { class: "muted" }, `Serving ${status.model_version || "no model"}`),
      f.warnings.map((w) => el("p", { class: "fresh-warning", role: "alert" }, w)));
  }

  function driftPart(drift) {
    if (!drift) return el("p", { class: "muted", id: "drift-none" }, "No drift report yet (written by territory retrain).");
    const t = drift.thresholds;
    return el("div", { id: "drift" },
      el("p", {}, "Drift: ", el("strong", { class: "drift-" + drift.status }, drift.status),
        ` (${drift.not_stable} of ${drift.columns} columns not stable; data as of ${drift.current_as_of || "?"}` +
        ` vs training ${drift.reference_as_of || "?"})`),
      el("table", { class: "drift-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "feature"), el("th", { class: "num" }, "PSI"), el("th", {}, "level"))),
        el("tbody", {}, drift.worst.map((c) =>
          el("tr", { class: "drift-" + c.level }, el("td", {}, c.column), el("td", { class: "num" }, c.psi.toFixed(2)), el("td", {}, c.level))))),
      el("p", { class: "muted" }, `PSI warning ≥ ${t.psi_warning}, alert ≥ ${t.psi_alert}`),
      drift.warnings.slice(0, 3).map((w) => el("p", { class: "fresh-warning" }, w)));
  }

  async function refresh() {
    const panel = document.getElementById("freshness-body");
    if (!panel || !sessionStorage.getItem("territory.key")) return;
    try {
      const status = await api("/status");
      const failed = status.reload && status.reload.error
        ? el("p", { class: "fresh-warning", role: "alert" }, `Reload failed at ${status.reload.failed_at}: ${status.reload.error}; still serving the last good scores.`)
        : null;
      panel.replaceChildren(freshnessPart(status), driftPart(status.drift), failed || "");
    } catch (err) {
      panel.replaceChildren(el("p", { class: "muted" }, "Freshness unavailable: " + err.message));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setTimeout(refresh, 500); // after review.js took the key from the URL
    setInterval(refresh, REFRESH_MS);
    const login = document.getElementById("login");
    if (login) login.addEventListener("submit", () => setTimeout(refresh, 1000));
  });
})();
