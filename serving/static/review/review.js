/* Manager review page: the move queue (POST /moves), decisions (/decide, /bulk_decide),
   drivers per account (/card), balance charts (/plan_metrics), scenario preview (/plan_preview),
   contests (/contests) and the CSV export (/export_plan). All through the public API. */
"use strict";

(() => {
  const { el, api, money } = Territory;
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  let filters = {}, offset = 0, metrics = null, metric = "potential", reps = [], balance = null;
  const selected = new Set();

  function banner(message, kind) {
    const node = $("banner");
    node.textContent = message || "";
    node.className = message ? `banner ${kind || "error"}` : "banner hidden";
  }

  function fillSelect(select, values, label) {
    const keep = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"), ...values.map((v) => el("option", { value: v.value }, label ? label(v) : v.value)));
    select.value = keep;
  }

  function statusPill(move) {
    const pill = el("span", { class: `pill ${move.status}` }, move.status);
    const contested = move.open_contests > 0 ? el("span", { class: "pill contested", title: "a rep contested this move" }, "contested") : null;
    return [pill, contested];
  }

  function decisionControls(move, row, toggle) {
    if (Triage.approved()) return el("div", { class: "final" }, `final: ${move.status}`, el("div", { class: "note-line" }, toggle));
    const note = el("input", { type: "text", class: "note-input", placeholder: "note", maxlength: "2000",
                               "aria-label": `note for ${move.account_name}` });
    const override = el("select", { class: "override", "aria-label": `override rep for ${move.account_name}` },
      el("option", { value: "" }, "override…"),
      ...reps.filter((r) => r.rep_id !== move.to_rep.rep_id).map((r) => el("option", { value: r.rep_id }, r.name)));
    const decide = async (action, repId) => {
      try {
        const body = { account_id: move.account_id, action, note: note.value,
                       expected_decision_id: move.decision ? move.decision.decision_id : 0 };
        if (repId) body.rep_id = repId;
        const result = await api("/decide", body);
        replaceRow(row, result.move);
        refreshSide();
      } catch (err) {
        banner(err.message);
        if (err.status === 409) loadMoves().catch(() => {});  // show the move as it is now
      }
    };
    override.addEventListener("change", () => { if (override.value) decide("override", override.value); });
    return el("div", { class: "decide" },
      el("div", { class: "decide-buttons" },
        el("button", { type: "button", class: "approve", onclick: () => decide("approve") }, "Approve"),
        el("button", { type: "button", class: "secondary reject", onclick: () => decide("reject") }, "Reject"),
        override),
      el("div", { class: "note-line" }, note, toggle));
  }

  function moveRow(move) {
    const check = el("input", { type: "checkbox", class: "pick", "aria-label": `select ${move.account_name}` });
    check.checked = selected.has(move.account_id);
    check.addEventListener("change", () => {
      if (check.checked) selected.add(move.account_id); else selected.delete(move.account_id);
      updateBulk();
    });
    const row = el("tr", { class: "move-row", "data-account": move.account_id });
    const toggle = el("button", { type: "button", class: "link expand", "aria-expanded": "false" }, "details");
    toggle.addEventListener("click", () => expand(row, move, toggle));
    row.append(
      el("td", {}, check),
      el("td", {}, el("strong", {}, move.account_name), el("div", { class: "muted" },
        [move.account_id, move.region, move.tier && `tier ${move.tier}`].filter(Boolean).join(" · "))),
      el("td", {}, el("span", {}, move.from_rep ? move.from_rep.name : "unowned"), " → ", el("strong", {}, move.to_rep.name),
        move.decision && move.decision.action === "override" ? el("div", { class: "muted" }, `overridden to ${repName(move.decision.final_rep_id)}`) : null),
      revenueCell(move),
      reasonCell(move),
      el("td", {}, statusPill(move)),
      el("td", {}, decisionControls(move, row, toggle)));
    return row;
  }

  // Expected revenue with the current owner -> with the new owner, and the net effect on the plan
  // (serving/move_explain.py); plans written without move details show the impact alone.
  function revenueCell(move) {
    const x = move.explained;
    if (!x) return el("td", { class: "num" }, money(move.impact));
    return el("td", { class: "num revenue" },
      el("div", { class: "revenue-pair", title: "expected revenue a year: current owner → new owner" },
        el("span", { class: "rev-now" }, money(x.revenue_now)), " → ", el("strong", { class: "rev-new" }, money(x.revenue_new))),
      el("div", { class: `net ${x.net >= 0 ? "up" : "down"}` }, `net ${x.net >= 0 ? "+" : ""}${money(x.net)}`));
  }

  function reasonCell(move) {
    const x = move.explained;
    if (!x) return el("td", {}, move.reasons.map((r) => el("span", { class: "chip", title: r.text }, r.type)));
    return el("td", {}, el("span", { class: `chip dominant chip-${x.dominant.type}` }, x.dominant.text),
      x.low_confidence ? el("span", { class: "chip low-confidence", title: "net gain within the fit's uncertainty" }, "low confidence") : null);
  }

  function explainedDetail(move) {
    const x = move.explained;
    if (!x) return el("ul", {}, move.reasons.map((r) => el("li", {}, el("span", { class: "chip" }, r.type), " ", r.text)));
    const opt = x.optimiser_detail;
    return el("div", { class: "explained" },
      el("p", {}, `Potential ${money(x.potential)} (average rep) · with ${move.from_rep ? move.from_rep.name : "no owner"} ${money(x.revenue_now)} · with ${move.to_rep.name} ${money(x.revenue_new)}`),
      el("table", { class: "terms" }, x.terms.map((t) => el("tr", {}, el("td", {}, t.label), el("td", { class: "num" }, money(t.value)))),
        el("tr", { class: "net-row" }, el("td", {}, el("strong", {}, "net effect on the plan")), el("td", { class: "num" }, el("strong", {}, money(x.net))))),
      x.note ? el("p", { class: "muted" }, x.note) : null,
      el("h4", {}, "Limits it serves"), el("ul", { class: "limits" }, x.limits.map((l) => el("li", {}, el("span", { class: "chip" }, l.type), " ", l.text))),
      x.fit_reasons.length ? el("h4", {}, "Why the fit changes") : null,
      el("ul", { class: "fit-reasons" }, x.fit_reasons.map((r) => el("li", {}, r.text, el("span", { class: "muted" }, ` (${money(r.revenue_effect)})`)))),
      el("details", { class: "optimiser" }, el("summary", {}, "Optimiser detail"),
        el("p", { class: "muted" }, `balance ${money(opt.balance_restored)} · capacity ${money(opt.capacity_freed)} · disruption budget ${money(opt.budget_used)} · priced ${money(opt.priced_delta)}`)));
  }

  function repName(repId) {
    const rep = reps.find((r) => r.rep_id === repId);
    return rep ? rep.name : repId;
  }

  function replaceRow(row, move) {
    const detail = row.nextElementSibling && row.nextElementSibling.classList.contains("detail") ? row.nextElementSibling : null;
    const fresh = moveRow(move);
    row.replaceWith(fresh);
    if (detail) detail.remove();
  }

  async function expand(row, move, toggle) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("detail")) {
      next.remove();
      toggle.setAttribute("aria-expanded", "false");
      return;
    }
    toggle.setAttribute("aria-expanded", "true");
    const cell = el("td", { colspan: "7" }, el("p", { class: "muted" }, "Loading drivers…"));
    row.after(el("tr", { class: "detail" }, cell));
    try {
      const card = await api("/card", { account_id: move.account_id });
      cell.replaceChildren(el("div", { class: "detail-grid" },
        el("div", {}, el("h3", {}, "Why move"), explainedDetail(move),
          move.decision ? el("p", { class: "muted" }, `${move.decision.action} by ${move.decision.actor} at ${move.decision.decided_at}${move.decision.note ? ` — “${move.decision.note}”` : ""}`) : null),
        el("div", {}, el("h3", {}, `Score drivers (${money(card.potential.value)}, ${Territory.ordinal(card.potential.percentile)} pct)`),
          el("ul", { class: "drivers" }, card.reasons.map((r) => el("li", { class: r.direction }, (r.direction === "up" ? "▲ " : "▼ ") + r.phrase,
            r.effect_multiplier ? el("span", { class: "muted" }, ` ×${Number(r.effect_multiplier).toFixed(2)}`) : null))),
          el("p", { class: "narrative" }, card.narrative))));
    } catch (err) { cell.replaceChildren(el("p", { class: "error" }, err.message)); }
  }

  function updateBulk() {
    $("bulk-approve").disabled = $("bulk-reject").disabled = selected.size === 0;
    $("bulk-approve").textContent = selected.size ? `Approve selected (${selected.size})` : "Approve selected";
  }

  let loading = 0;  // the latest /moves request: an older answer arriving late is dropped

  async function loadMoves(append) {
    if (!append) offset = 0;
    const ticket = ++loading;
    const page = await api("/moves", { ...filters, offset, limit: PAGE });
    if (ticket !== loading) return;  // the filters changed while this page was on its way
    reps = page.reps;
    Triage.setReps(reps);
    fillSelect($("f-region"), page.regions.map((r) => ({ value: r })));
    fillSelect($("f-rep"), page.reps.map((r) => ({ value: r.rep_id, name: r.name })), (v) => v.name);
    fillSelect($("f-reason"), page.reason_types.map((r) => ({ value: r })));
    const rows = page.moves.map(moveRow);
    if (append) $("rows").append(...rows); else $("rows").replaceChildren(...rows);
    offset += page.moves.length;
    $("total").textContent = `(${page.total} shown of ${page.counts.total})`;
    $("more").classList.toggle("hidden", offset >= page.total);
    renderCounts(page.counts);
  }

  function renderCounts(counts) {
    $("counts").replaceChildren(...["proposed", "approved", "rejected", "overridden", "kept", "contested"].filter((k) => k !== "kept" || counts[k]).map((k) =>
      el("span", { class: `count ${k}` }, el("strong", {}, counts[k] || 0), " ", k)));
  }

  function renderChart() {
    if (!metrics) return;
    const available = ["potential", "accounts", "travel_km", "workload"].filter((m) => metrics.reps.some((r) => r.before[m] !== null && r.before[m] !== undefined));
    $("metric-tabs").replaceChildren(...available.map((m) => el("button", {
      type: "button", role: "tab", class: m === metric ? "tab active" : "tab", "aria-selected": String(m === metric),
      onclick: () => { metric = m; renderChart(); } }, m.replace("_", " "))));
    $("chart").replaceChildren(balance ? Charts.repBalance(balance.active, metric, balance.bands[metric]) : Charts.repBalance(metrics.reps, metric));
    $("departed").textContent = balance && balance.departed.length
      ? `Departed reps (not charted): ${balance.departed.map((r) => `${r.name} ${Charts.fmt(metric, r.decided[metric])}`).join(", ")}` : "";
  }

  /* {a: {b: 1}} -> {"a.b": 1}; per-rep tables, timings and lists are left out of the comparison. */
  function flatten(obj, prefix, out) {
    out = out || {};
    for (const [key, value] of Object.entries(obj || {})) {
      if (["per_rep", "timings", "solver", "conflicts", "ignored_locks"].includes(key)) continue;
      const name = prefix ? `${prefix}.${key}` : key;
      if (value && typeof value === "object" && !Array.isArray(value)) flatten(value, name, out);
      else if (!Array.isArray(value)) out[name] = value;
    }
    return out;
  }

  /* The metrics a manager compares, as written by the planner (metrics.json and previews). */
  const COMPARED = [
    ["status", "status"], ["moves", "moves"], ["expected value / yr", "after.expected_value"],
    ["workload per rep: CV", "after.workload.cv"], ["potential per rep: CV", "after.potential.cv"],
    ["rep load: max", "after.rep_load.max"], ["reps over capacity", "after.rep_load.over_capacity"],
    ["reps over capacity by > 0.5%", "after.rep_load.over_tolerance"],
    ["travel km, total", "after.travel_km_total"], ["high-potential coverage", "after.coverage_high_potential"],
    ["accounts moved", "after.accounts_moved"], ["potential moved (share)", "after.share_potential_moved"],
    ["gap to bound", "gap"], ["rep fit", "fit_method"],
  ];

  function renderComparison(preview) {
    const current = flatten(metrics ? metrics.metrics : {});
    current.moves = metrics ? metrics.moves.total : undefined;
    const next = { ...flatten(preview.metrics), moves: preview.moves_total };
    const today = (key) => (key.startsWith("after.") ? next["before." + key.slice(6)] : undefined);
    const conflicts = (preview.metrics.conflicts || []).map((c) => el("li", {}, c));
    $("comparison").replaceChildren(
      conflicts.length ? el("ul", { class: "conflicts" }, conflicts) : "",
      el("table", { class: "compare" },
        el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", { class: "num" }, "today"),
          el("th", { class: "num" }, "loaded plan"), el("th", { class: "num" }, "scenario"))),
        el("tbody", {}, COMPARED.map(([label, key]) => el("tr", {}, el("td", {}, label),
          el("td", { class: "num" }, show(today(key))), el("td", { class: "num" }, show(current[key])),
          el("td", { class: "num" }, show(next[key])))))));
  }

  function show(v) {
    if (v === undefined || v === null) return "–";
    return typeof v === "number" ? v.toLocaleString(undefined, { maximumFractionDigits: 2 }) : String(v);
  }

  async function refreshSide() {
    try {
      metrics = await api("/plan_metrics");
      const [record, chart] = await Promise.all([api("/contest_outcomes"), api("/balance")]);
      balance = chart;
      Triage.setPlan(metrics, record);
      $("approve-plan").disabled = metrics.status === "approved";
      $("approve-plan").textContent = metrics.status === "approved" ? "Plan approved" : "Approve plan";
      renderCounts(metrics.moves);
      // which disruption budget the plan used and the need behind it (metrics.json "budget")
      $("budget-line").textContent = (metrics.metrics.budget || {}).note || "";
      renderChart();
      Triage.renderContests(record.contests.filter((c) => c.status === "open"), reps);
    } catch (err) { banner(err.message); }
  }

  async function bulk(action) {
    try {
      const result = await api("/bulk_decide", { account_ids: [...selected], action, note: $("bulk-note").value });
      const skipped = result.skipped.length ? ` ${result.skipped.length} already decided by someone, left as they were.` : "";
      banner(`${result.decided} move(s) ${action === "approve" ? "approved" : "rejected"}.${skipped}`, "ok");
      selected.clear();
      updateBulk();
      await loadMoves();
      refreshSide();
    } catch (err) { banner(err.message); }
  }

  async function exportCsv() {
    try {
      const text = await api("/export_plan", { only_changes: false });
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const link = el("a", { href: url, download: `territory-${metrics ? metrics.plan_id : "plan"}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) { banner(err.message); }
  }

  function showLogin(message) {
    $("layout").classList.add("hidden");
    $("login").classList.remove("hidden");
    $("login-error").textContent = message || "";
  }

  async function start() {
    if (!Territory.takeKeyFromHash()) return showLogin("");
    try {
      const me = await api("/whoami");
      if (me.role !== "manager") return showLogin(`This key belongs to ${me.name} (${me.role}); the review page needs a manager key.`);
      $("login").classList.add("hidden");
      $("layout").classList.remove("hidden");
      $("scenario").value = JSON.stringify({ name: "wider bands", limits: { balance_band: 0.2, max_moved_share: 0.1 },
                                             solver: { time_limit_s: 15 } }, null, 1);
      await refreshSide();  // the plan's status first: an approved plan's moves are final
      await loadMoves();
      Triage.updateMatch(filters);
    } catch (err) {
      if (err.status === 401) { Territory.forgetKey(); return showLogin(err.message); }
      banner(err.message);
    }
  }

  $("filters").addEventListener("change", () => {
    const data = new FormData($("filters"));
    filters = Object.fromEntries([...data.entries()].filter(([, v]) => v));
    Triage.updateMatch(filters);
    loadMoves().catch((err) => banner(err.message));
  });
  Triage.init({
    banner,
    filters: () => filters,
    reload: async () => { await refreshSide(); await loadMoves(); Triage.updateMatch(filters); },
    search: (text) => { $("f-q").value = text; $("filters").dispatchEvent(new Event("change")); },
  });
  $("more").addEventListener("click", () => loadMoves(true).catch((err) => banner(err.message)));
  $("select-all").addEventListener("change", (event) => {
    document.querySelectorAll("#rows tr.move-row").forEach((row) => {
      const box = row.querySelector("input.pick");
      box.checked = event.target.checked;
      if (box.checked) selected.add(row.dataset.account); else selected.delete(row.dataset.account);
    });
    updateBulk();
  });
  $("bulk-approve").addEventListener("click", () => bulk("approve"));
  $("bulk-reject").addEventListener("click", () => bulk("reject"));
  $("export").addEventListener("click", exportCsv);
  $("approve-plan").addEventListener("click", async () => {
    try {
      const preview = await api("/approve_plan", { note: "", confirm: false });
      if (!window.confirm(preview.message)) return;
      const done = await api("/approve_plan", { note: "", confirm: true });
      banner(done.message, "ok");
      await refreshSide();
      await loadMoves();
      Triage.updateMatch(filters);
    } catch (err) { banner(err.message); }
  });
  $("preview").addEventListener("click", async () => {
    $("comparison").replaceChildren(el("p", { class: "muted" }, "Planning…"));
    try {
      const scenario = JSON.parse($("scenario").value || "{}");
      let preview = await api("/plan_preview", { scenario, top_moves: 10 });
      while (["queued", "running"].includes(preview.job_status)) {  // solved by a worker process
        $("comparison").replaceChildren(el("p", { class: "muted" }, `${preview.progress} (${Math.round(100 * preview.fraction)}%)`));
        await new Promise((done) => setTimeout(done, 1000));
        preview = await api("/plan_preview", { scenario, top_moves: 10 });
      }
      if (preview.job_status !== "done") throw new Error(preview.error || `scenario job ${preview.job_status}`);
      renderComparison(preview);
    } catch (err) { $("comparison").replaceChildren(el("p", { class: "error" }, err.message)); }
  });
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    Territory.setKey($("key-input").value.trim());
    start();
  });

  start();
})();
