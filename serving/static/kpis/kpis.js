/* KPI page: company tiles with sparklines, a trend, a distribution across groups, the table.
   Holds no KPI logic: every figure comes from POST /kpi_table. */
"use strict";

(() => {
  const { api, el, money } = Territory;
  const $ = (id) => document.getElementById(id);
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
  const num = (v, d = 0) => (v === null || v === undefined ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: d }));
  const COLUMNS = [
    ["won_revenue", "Won revenue", money],
    ["won_deals", "Won deals", num],
    ["win_rate", "Win rate", pct],
    ["avg_deal_size", "Deal size", money],
    ["sales_cycle_days", "Cycle (days)", num],
    ["open_pipeline", "Open pipeline", money],
    ["accounts_owned", "Accounts", num],
    ["accounts_active", "Active", num],
    ["coverage", "Coverage", pct],
    ["revenue_per_account", "Rev / account", money],
    ["revenue_per_capacity", "Rev / capacity", money],
    ["market_penetration", "Penetration", pct],
    ["satisfaction", "Satisfaction", (v) => num(v, 2)],
  ];
  const FORMAT = Object.fromEntries(COLUMNS.map(([key, , f]) => [key, f]));
  const LABEL = Object.fromEntries(COLUMNS.map(([key, label]) => [key, label]));
  const TILES = ["won_revenue", "win_rate", "open_pipeline", "avg_deal_size", "sales_cycle_days", "coverage", "market_penetration", "revenue_per_capacity"];
  const TRENDS = ["won_revenue", "win_rate", "open_pipeline", "sales_cycle_days", "coverage", "market_penetration"];
  const DISTS = ["won_revenue", "win_rate", "revenue_per_capacity", "coverage", "market_penetration", "sales_cycle_days"];
  let report = null, trendMetric = "won_revenue", distMetric = "revenue_per_capacity", sortKey = "won_revenue";

  function tabs(container, keys, active, onPick) {
    container.replaceChildren(...keys.map((key) => el("button", { type: "button", class: "tab" + (key === active ? " active" : ""),
      "data-metric": key, onclick: () => onPick(key) }, LABEL[key])));
  }

  function groupLabel(row) { return row.name ? `${row.name} (${row.group})` : row.group; }

  function drawTiles() {
    $("tiles").replaceChildren(...TILES.map((key) => el("div", { class: "tile", "data-metric": key },
      el("div", { class: "label" }, LABEL[key]),
      el("div", { class: "value" }, FORMAT[key](report.company[key])),
      KpiCharts.spark(report.trend.map((r) => r[key])))));
  }

  function drawCharts() {
    tabs($("trend-tabs"), TRENDS, trendMetric, (k) => { trendMetric = k; drawCharts(); });
    tabs($("dist-tabs"), DISTS, distMetric, (k) => { distMetric = k; drawCharts(); });
    $("trend").replaceChildren(KpiCharts.trend(report.trend, trendMetric, FORMAT[trendMetric]));
    const rows = report.rows.filter((r) => r.group !== "(unowned)");
    $("dist-what").textContent = `across ${rows.length} ${report.by === "rep" ? "reps" : report.by + "s"}, ${report.start} to ${report.stop}`;
    $("distribution").replaceChildren(KpiCharts.distribution(rows, distMetric, FORMAT[distMetric], groupLabel));
  }

  function drawTable() {
    const rows = [...report.rows].sort((a, b) => (b[sortKey] ?? -Infinity) - (a[sortKey] ?? -Infinity));
    const head = el("tr", {}, el("th", {}, report.by), ...COLUMNS.map(([key, label]) =>
      el("th", { "data-key": key, onclick: () => { sortKey = key; drawTable(); } }, label + (key === sortKey ? " ▾" : ""))));
    const line = (row, cls) => el("tr", { class: cls, "data-group": row.group }, el("td", {}, groupLabel(row)),
      ...COLUMNS.map(([key, , f]) => el("td", {}, f(row[key]))));
    $("table").replaceChildren(el("thead", {}, head), el("tbody", {}, rows.map((r) => line(r, "group")),
      report.by === "company" ? [] : [line({ ...report.company, group: "company" }, "company")]));
    $("rows-count").textContent = `${rows.length} row(s); click a heading to sort`;
    $("notes").replaceChildren(...report.notes.map((n) => el("li", {}, n)));
  }

  async function load() {
    const body = { by: $("by").value, freq: $("freq").value, start: $("start").value || null, stop: $("stop").value || null };
    try {
      report = await api("/kpi_table", body);
    } catch (err) {
      $("banner").textContent = err.message;
      $("banner").classList.remove("hidden");
      return;
    }
    $("banner").classList.add("hidden");
    $("start").value = report.start;
    $("stop").value = report.stop;
    $("period-line").textContent = `${report.start} to ${report.stop} (exclusive) · by ${report.by}`;
    drawTiles();
    drawCharts();
    drawTable();
    $("main").classList.remove("hidden");
    document.body.dataset.loaded = "yes";
  }

  function showLogin(message) {
    $("login").classList.remove("hidden");
    $("login-error").textContent = message || "";
    $("period-line").textContent = "Sign in with a manager key.";
  }

  async function start() {
    if (!Territory.takeKeyFromHash()) return showLogin("");
    try {
      const me = await api("/whoami");
      if (!["manager", "job"].includes(me.role)) return showLogin(`This key belongs to ${me.name} (${me.role}); KPIs need a manager key.`);
    } catch (err) {
      if (err.status === 401) { Territory.forgetKey(); return showLogin(err.message); }
      return showLogin(err.message);
    }
    $("login").classList.add("hidden");
    $("controls").classList.remove("hidden");
    await load();
  }

  $("controls").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    Territory.setKey($("key-input").value.trim());
    start();
  });
  start();
})();
