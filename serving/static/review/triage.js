/* Review page, the manager's triage and decision flow (review.js calls in): sortable columns,
   bulk actions on every move matching the filters (POST /bulk_select: previewed, then confirmed),
   the per-rep view (/rep_plan), contests linked to their move with accept / reject (/resolve_contest),
   the plan's state after approval, and rollback (/rollback_plan). All through the public API. */
"use strict";

const Triage = (() => {
  const { el, api, money } = Territory;
  const $ = (id) => document.getElementById(id);
  let hooks = null, plan = { status: "proposed" }, reps = [];

  function selector(filters) {
    const out = {};
    for (const k of ["q", "region", "rep_id", "reason_type"]) if (filters[k]) out[k] = filters[k];
    return out;
  }

  function describe(sel) {
    const names = { q: "search", region: "region", rep_id: "rep", reason_type: "reason" };
    return Object.entries(sel).map(([k, v]) => `${names[k]} “${k === "rep_id" ? repName(v) : v}”`).join(", ");
  }

  function repName(id) {
    const rep = reps.find((r) => r.rep_id === id);
    return rep ? rep.name : id;
  }

  function updateMatch(filters) {
    const sel = selector(filters);
    const any = Object.keys(sel).length > 0 && plan.status !== "approved";
    $("match-approve").disabled = $("match-reject").disabled = !any;
    $("bulk-match-what").textContent = any ? `All moves matching ${describe(sel)}:`
      : plan.status === "approved" ? "The plan is approved: its moves are final."
      : "Pick a rep, region, reason or search to act on every matching move.";
    document.querySelectorAll("button.sort").forEach((b) =>
      b.classList.toggle("active", (filters.sort || "impact") === b.dataset.sort));
    if (filters.rep_id) showRep(filters.rep_id); else $("rep-panel").classList.add("hidden");
  }

  async function bulkMatch(action) {
    const sel = selector(hooks.filters());
    const note = $("bulk-note").value;
    try {
      const preview = await api("/bulk_select", { selector: sel, action, note });
      if (!window.confirm(preview.message)) return;
      const done = await api("/bulk_select", { selector: sel, action, note, confirm: true });
      hooks.banner(done.message, "ok");
      await hooks.reload();
    } catch (err) { hooks.banner(err.message); }
  }

  function figureRow(name, f) {
    const mark = (ok) => (ok === null ? "" : ok ? "in-band" : "out-of-band");
    const fmt = (v) => (name === "potential" ? money(v) : Charts.fmt(name, v));
    return el("tr", {}, el("td", {}, name.replace("_", " ")), el("td", {}, fmt(f.before)),
      el("td", { class: mark(f.in_band_proposed) }, fmt(f.proposed)),
      el("td", { class: mark(f.in_band_decided) }, fmt(f.decided)),
      el("td", {}, f.band_low === null ? "–" : `${fmt(f.band_low)} – ${fmt(f.band_high)}`));
  }

  function moveList(moves) {
    if (!moves.length) return el("p", { class: "muted" }, "none");
    return el("ul", { class: "rep-moves" }, moves.slice(0, 10).map((m) => el("li", {},
      el("button", { type: "button", class: "link", onclick: () => hooks.search(m.account_id) }, m.account_name),
      ` ${m.from_rep ? m.from_rep.name : "unowned"} → ${m.to_rep.name} · ${money(m.potential)} · `,
      el("span", { class: `pill ${m.status}` }, m.status))));
  }

  async function showRep(repId) {
    $("rep-panel").classList.remove("hidden");
    $("rep-body").replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      const v = await api("/rep_plan", { rep_id: repId, limit: 50 });
      $("rep-body").replaceChildren(
        el("p", {}, el("strong", { id: "rep-name" }, v.rep.name), ` (${v.rep.rep_id}${v.rep.level ? ", " + v.rep.level : ""})`,
          v.active ? null : el("span", { class: "pill rejected" }, "departed")),
        el("p", { id: "rep-summary" }, `${v.incoming_total} incoming, ${v.outgoing_total} outgoing · net potential as proposed `,
          el("strong", {}, money(v.net_potential_proposed)), ", as decided ", el("strong", {}, money(v.net_potential_decided))),
        el("table", { class: "figures" },
          el("thead", {}, el("tr", {}, ["", "today", "proposed", "decided", `band ±${Math.round(v.band * 100)}%`].map((h) => el("th", {}, h)))),
          el("tbody", {}, Object.entries(v.figures).map(([k, f]) => figureRow(k, f)))),
        el("h3", {}, `Incoming (${v.incoming_total})`), moveList(v.incoming),
        el("h3", {}, `Outgoing (${v.outgoing_total})`), moveList(v.outgoing));
    } catch (err) { $("rep-body").replaceChildren(el("p", { class: "error" }, err.message)); }
  }

  function contestItem(c) {
    const note = el("input", { type: "text", placeholder: "note to the rep", maxlength: "2000", "aria-label": `note for contest ${c.contest_id}` });
    const override = el("select", { "aria-label": `override rep for contest ${c.contest_id}` },
      el("option", { value: "" }, "accept: override…"), ...reps.map((r) => el("option", { value: r.rep_id }, r.name)));
    const answer = async (outcome, repId) => {
      try {
        const body = { contest_id: c.contest_id, outcome, note: note.value };
        if (repId) body.rep_id = repId;
        const done = await api("/resolve_contest", body);
        hooks.banner(`Contest ${c.contest_id} on ${c.account_id}: ${done.status}${outcome === "reject" ? "" : " (a lock for the next plan)"}.`, "ok");
        await hooks.reload();
      } catch (err) { hooks.banner(err.message); }
    };
    override.addEventListener("change", () => { if (override.value) answer("override", override.value); });
    return el("li", { class: "contest", "data-contest": c.contest_id, "data-account": c.account_id },
      el("button", { type: "button", class: "link contest-link", onclick: () => hooks.search(c.account_id) }, c.account_id),
      ` ${c.actor}: “${c.reason}”`, el("div", { class: "muted" }, Territory.date(c.created_at)),
      plan.status === "approved" ? null : el("div", { class: "contest-actions" },
        el("button", { type: "button", class: "accept-keep", onclick: () => answer("keep") }, "Accept: keep"),
        override,
        el("button", { type: "button", class: "secondary reject-contest", onclick: () => answer("reject") }, "Reject"),
        note));
  }

  function renderContests(list, knownReps) {
    if (knownReps && knownReps.length) reps = knownReps;
    $("contests").replaceChildren(...(list.length ? list.map(contestItem) : [el("li", { class: "muted" }, "No open contests.")]));
  }

  function setPlan(metrics, record) {
    plan = { status: metrics.status, effective: record ? record.effective_date : null };
    const approved = metrics.status === "approved";
    $("rollback-plan").classList.toggle("hidden", !approved);
    $("plan-line").textContent = `Plan ${metrics.plan_id} · ${metrics.status}` +
      (approved && plan.effective ? ` · effective ${plan.effective}` : "") + ` · created ${Territory.date(metrics.created_at)}`;
  }

  async function rollback() {
    const note = window.prompt("Why roll back? (kept in the audit trail)");
    if (!note) return;
    try {
      const done = await api("/rollback_plan", { note, confirm: true });
      hooks.banner(`Rolled back ${done.rolled_back.join(", ")}; plan ${done.restored.plan_id} is approved again.`, "ok");
      await hooks.reload();
    } catch (err) { hooks.banner(err.message); }
  }

  function init(h) {
    hooks = h;
    $("match-approve").addEventListener("click", () => bulkMatch("approve"));
    $("match-reject").addEventListener("click", () => bulkMatch("reject"));
    $("rollback-plan").addEventListener("click", rollback);
    $("rep-close").addEventListener("click", () => $("rep-panel").classList.add("hidden"));
    document.querySelectorAll("button.sort").forEach((b) => b.addEventListener("click", () => {
      const same = ($("f-sort").value || "impact") === b.dataset.sort;
      $("f-sort").value = b.dataset.sort === "impact" ? "" : b.dataset.sort;
      $("f-order").value = same ? ($("f-order").value === "asc" ? "desc" : "asc") : "";
      $("filters").dispatchEvent(new Event("change"));
    }));
  }

  return { init, updateMatch, renderContests, setPlan, showRep, approved: () => plan.status === "approved", setReps: (r) => { reps = r; } };
})();
