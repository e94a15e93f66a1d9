/* Scenarios page: the side-by-side comparison (/scenario_compare) and the map (/plan_map) of
   today, the served plan or a solved scenario. */
"use strict";

const ScenarioCompare = (() => {
  const { el, api, money } = Territory;
  const $ = (id) => document.getElementById(id);

  function show(value, kind) {
    if (value === null || value === undefined) return "–";
    if (kind === "money") return money(value);
    if (kind === "share") return (100 * value).toFixed(1) + "%";
    if (kind === "ratio") return Number(value).toFixed(3);
    return Math.round(value).toLocaleString();
  }

  function delta(value, kind) {
    if (!value) return el("span", { class: "muted" }, "0");
    const text = (value > 0 ? "+" : "") + (kind === "money" ? money(value) : Math.round(value).toLocaleString());
    return el("span", { class: value > 0 ? "up" : "down" }, text);
  }

  function render(result) {
    const head = el("tr", {}, el("th", {}, "metric"), ...result.columns.map((c) => el("th", { class: "num" }, c.name)));
    const metrics = el("table", { class: "compare-table" }, el("thead", {}, head),
      el("tbody", {}, result.metrics.map((m) => el("tr", {}, el("td", {}, m.metric),
        ...m.values.map((v) => el("td", { class: "num" }, show(v, m.kind)))))));
    const names = result.columns.slice(1).map((c) => c.name);
    const deltas = el("table", { class: "deltas" },
      el("thead", {}, el("tr", {}, el("th", {}, "rep"), el("th", { class: "num" }, "today"),
        ...names.map((n) => el("th", { class: "num" }, `${n}: Δ accounts / Δ potential`)))),
      el("tbody", {}, result.reps.map((r) => el("tr", { class: "rep-delta" }, el("td", {}, r.name),
        el("td", { class: "num" }, `${r.today.accounts} · ${money(r.today.potential)}`),
        ...r.deltas.map((d) => el("td", { class: "num" }, delta(d.accounts), " / ", delta(d.potential, "money")))))));
    const repName = (id) => (result.reps.find((r) => r.rep_id === id) || { name: id || "–" }).name;
    const diff = result.differing;
    const differing = el("table", { class: "differing" },
      el("thead", {}, el("tr", {}, el("th", {}, "account"), el("th", { class: "num" }, "potential"),
        ...result.columns.map((c) => el("th", {}, c.name)))),
      el("tbody", {}, diff.accounts.map((a) => el("tr", { class: "differs" },
        el("td", {}, a.name, el("div", { class: "muted" }, [a.account_id, a.region].filter(Boolean).join(" · "))),
        el("td", { class: "num" }, money(a.potential)),
        ...a.owners.map((o, i) => el("td", { class: i && o !== a.owners[0] ? "up" : "" }, repName(o)))))));
    $("comparison").replaceChildren(metrics,
      el("div", { class: "compare-grid" },
        el("div", {}, el("h3", {}, `Accounts whose owner differs (${diff.total}${diff.shown < diff.total ? `, top ${diff.shown} by potential` : ""})`),
          el("div", { class: "scroll" }, differing)),
        el("div", {}, el("h3", {}, "Per-rep change against today"), el("div", { class: "scroll" }, deltas))));
  }

  async function compare(jobIds) {
    $("comparison").replaceChildren(el("p", { class: "muted" }, "Comparing…"));
    try {
      render(await api("/scenario_compare", { job_ids: jobIds }));
      showMap(jobIds[0]);
      $("map-of").value = jobIds[0];
    } catch (err) { $("comparison").replaceChildren(el("p", { class: "error" }, err.message)); }
  }

  let choices = "";
  function mapChoices(done) {
    const key = done.map((j) => j.job_id).join(",");
    if (key === choices) return;
    choices = key;
    const keep = $("map-of").value;
    $("map-of").replaceChildren(el("option", { value: "" }, "the plan under review"),
      ...done.map((j) => el("option", { value: j.job_id }, j.name)));
    $("map-of").value = keep;
  }

  async function showMap(jobId) {
    const node = $("scenario-map");
    node.replaceChildren(el("p", { class: "muted" }, "Loading the map…"));
    try {
      const data = await api("/plan_map", jobId ? { job_id: jobId } : {});
      TerritoryMap.render(node, data, jobId ? "scenario as solved" : "the plan under review");
    } catch (err) { node.replaceChildren(el("p", { class: "error" }, err.message)); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("map-of").addEventListener("change", () => showMap($("map-of").value));
  });

  return { compare, mapChoices, showMap };
})();
