/* Review page panel: what the approved plan did after its effective date (POST /plan_outcomes:
   measured lift of the moved accounts against their comparison, with its interval), or why that
   cannot be said yet; links to the goals per territory on the KPI page. */
"use strict";

(() => {
  const { api, el, money } = Territory;
  const pct = (v) => (v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + "%");

  function body(got) {
    if (!got.measurable) return el("p", { class: "muted", id: "outcomes-text" }, `Not measurable yet: ${got.reason}.`);
    const l = got.lift;
    return el("div", { id: "outcomes-text" },
      el("p", {}, `${got.window}: moved accounts `, el("strong", {}, pct(l.lift_ratio)),
        ` against accounts ${l.comparison} (interval ${pct(l.lift_ratio_low)} to ${pct(l.lift_ratio_high)}).`),
      el("p", { class: "muted" }, `${money(l.actual)} won against ${money(l.counterfactual)} expected: ` +
        `${money(l.lift)} (${l.moved_accounts} moved, ${l.control_accounts} compared).`));
  }

  async function refresh() {
    const panel = document.getElementById("outcomes-body");
    if (!panel || !sessionStorage.getItem("territory.key")) return;
    try {
      panel.replaceChildren(body(await api("/plan_outcomes", {})));
    } catch (err) {
      panel.replaceChildren(el("p", { class: "muted" }, "Outcomes unavailable: " + err.message));
    }
    const link = document.getElementById("goals-link");
    if (link) link.href = "/kpis/";
  }

  document.addEventListener("DOMContentLoaded", () => {
    setTimeout(refresh, 700); // after review.js took the key from the URL
    const login = document.getElementById("login");
    if (login) login.addEventListener("submit", () => setTimeout(refresh, 1000));
  });
})();
