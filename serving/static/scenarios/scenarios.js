/* Scenarios page: build a scenario in the form (or load YAML), save it with its author, solve it
   as a background job (POST /scenario_solve answers at once; /scenario_list is polled for
   progress), cancel, compare (compare.js) and adopt. All through the public API. */
"use strict";

(() => {
  const { el, api } = Territory;
  const $ = (id) => document.getElementById(id);
  let reps = [], polling = null;
  const chosen = new Set();

  function banner(message, kind) {
    $("banner").textContent = message || "";
    $("banner").className = message ? `banner ${kind || "error"}` : "banner hidden";
  }

  const num = (id) => { const v = $(id).value.trim(); return v === "" ? null : Number(v); };
  const share = (id) => { const v = num(id); return v === null ? undefined : v / 100; };

  function repSelect(cls) {
    return el("select", { class: cls }, ...reps.map((r) => el("option", { value: r.rep_id }, `${r.name} (${r.rep_id})`)));
  }

  function addHire() {
    $("s-hires").append(el("div", { class: "row-inputs hire" },
      el("input", { type: "text", class: "h-id", placeholder: "rep id", required: true, "aria-label": "new rep id" }),
      el("input", { type: "text", class: "h-name", placeholder: "name", "aria-label": "new rep name" }),
      el("input", { type: "text", class: "h-city", placeholder: "city, e.g. Austin, TX", required: true, "aria-label": "new rep city" }),
      el("input", { type: "number", class: "h-capacity", placeholder: "capacity", min: "1", "aria-label": "new rep capacity" }),
      el("button", { type: "button", class: "link", onclick: (ev) => ev.target.parentNode.remove() }, "remove")));
  }

  function addLock() {
    $("s-locks").append(el("div", { class: "row-inputs lock" },
      el("input", { type: "text", class: "l-account", placeholder: "account id", required: true, "aria-label": "locked account" }),
      repSelect("l-rep"),
      el("input", { type: "text", class: "l-reason", placeholder: "reason", "aria-label": "lock reason" }),
      el("button", { type: "button", class: "link", onclick: (ev) => ev.target.parentNode.remove() }, "remove")));
  }

  /* The form as a scenario document (the keys of a `territory plan --scenario` file). */
  function documentFromForm() {
    const limits = {};
    if ($("s-no-bands").checked) { limits.workload_band = null; limits.potential_band = null; }
    else {
      if (share("s-workload-band") !== undefined) limits.workload_band = share("s-workload-band");
      if (share("s-potential-band") !== undefined) limits.potential_band = share("s-potential-band");
    }
    if (share("s-moved") !== undefined) limits.max_moved_share = share("s-moved");
    if (share("s-moved-potential") !== undefined) limits.max_moved_potential_share = share("s-moved-potential");
    if (num("s-travel-km") !== null) limits.max_travel_km = num("s-travel-km");
    const doc = { name: $("s-name").value.trim(), limits, solver: { time_limit_s: num("s-time-limit") || 30 } };
    if (num("s-travel-cost") !== null) doc.weights = { travel_cost_per_km: num("s-travel-cost") };
    const leaving = [...$("s-departures").selectedOptions].map((o) => o.value);
    if (leaving.length) doc.remove_reps = leaving;
    const hires = [...document.querySelectorAll("#s-hires .hire")].map((row) => {
      const hire = { rep_id: row.querySelector(".h-id").value.trim(), city: row.querySelector(".h-city").value.trim() };
      const name = row.querySelector(".h-name").value.trim(), cap = row.querySelector(".h-capacity").value;
      if (name) hire.name = name;
      if (cap) hire.capacity = Number(cap);
      return hire;
    });
    if (hires.length) doc.add_reps = hires;
    const locks = [...document.querySelectorAll("#s-locks .lock")].map((row) => ({
      account_id: row.querySelector(".l-account").value.trim(), rep_id: row.querySelector(".l-rep").value,
      reason: row.querySelector(".l-reason").value.trim() }));
    if (locks.length) doc.locks = locks;
    return doc;
  }

  async function save(solve) {
    banner("");
    try {
      const doc = documentFromForm();
      const saved = await api("/scenario_save", { name: doc.name, document: doc });
      if (solve) await api("/scenario_solve", { scenario_id: saved.scenario_id });
      banner(`Saved “${saved.name}”${solve ? " and queued its solve" : ""}.`, "ok");
      refresh();
    } catch (err) { banner(err.message); }
  }

  async function solveYaml() {
    banner("");
    try {
      const text = $("yaml-text").value;
      const name = (text.match(/^name:\s*(.+)$/m) || [])[1] || "from YAML";
      const saved = await api("/scenario_save", { name: name.trim(), yaml: text });
      await api("/scenario_solve", { scenario_id: saved.scenario_id });
      banner(`Saved “${saved.name}” from YAML and queued its solve.`, "ok");
      refresh();
    } catch (err) { banner(err.message); }
  }

  function jobRow(job) {
    const open = ["queued", "running", "cancelling"].includes(job.status);
    const pick = el("input", { type: "checkbox", class: "pick", "aria-label": `compare ${job.name}`, disabled: job.status !== "done" });
    pick.checked = chosen.has(job.job_id);
    pick.addEventListener("change", () => { if (pick.checked) chosen.add(job.job_id); else chosen.delete(job.job_id); updateCompare(); });
    const verdict = job.summary ? `, ${job.summary.moves} moves` : "";
    const line = job.status === "done" ? `${job.progress}${verdict}` : `${job.status}: ${job.progress}`;
    return el("tr", { class: `job ${job.status}`, "data-job": job.job_id },
      el("td", {}, pick),
      el("td", {}, el("strong", {}, job.name), el("div", { class: "muted" }, Territory.date(job.created_at))),
      el("td", {}, job.author),
      el("td", {}, el("progress", { max: "1", value: String(job.fraction) }),
        el("div", { class: `job-status ${job.status}` }, line),
        job.error ? el("div", { class: "error" }, job.error) : null,
        job.adopted_plan_id ? el("div", { class: "adopted" }, `adopted as ${job.adopted_plan_id}`) : null),
      el("td", {}, open ? el("button", { type: "button", class: "secondary cancel", onclick: () => cancel(job) }, "Cancel") : null,
        job.status === "done" && job.summary && job.summary.status !== "infeasible"
          ? el("button", { type: "button", class: "adopt", onclick: () => adopt(job) }, "Adopt") : null));
  }

  async function cancel(job) {
    try { await api("/scenario_cancel", { job_id: job.job_id }); refresh(); } catch (err) { banner(err.message); }
  }

  async function adopt(job) {
    if (!window.confirm(`Adopt “${job.name}” as the proposed plan? The review queue will show its moves.`)) return;
    try {
      const status = await api("/scenario_adopt", { job_id: job.job_id, confirm: true });
      banner(`Adopted: the review page now serves plan ${status.plan_id}.`, "ok");
      refresh();
    } catch (err) { banner(err.message); }
  }

  function updateCompare() { $("compare").disabled = chosen.size < 1 || chosen.size > 4; }

  async function refresh() {
    try {
      const listing = await api("/scenario_list", { limit: 30 });
      $("saved").replaceChildren(...listing.scenarios.map((s) => el("li", {},
        el("span", {}, el("strong", {}, s.name), el("span", { class: "muted" }, ` by ${s.author}, ${Territory.date(s.created_at)}`)),
        el("button", { type: "button", class: "secondary", onclick: async () => {
          try { await api("/scenario_solve", { scenario_id: s.scenario_id }); refresh(); } catch (err) { banner(err.message); }
        } }, "Solve"))));
      $("jobs").replaceChildren(...listing.jobs.map(jobRow));
      const done = listing.jobs.filter((j) => j.status === "done");
      ScenarioCompare.mapChoices(done);
      const busy = listing.jobs.some((j) => ["queued", "running", "cancelling"].includes(j.status));
      clearTimeout(polling);
      if (busy) polling = setTimeout(refresh, 1000);
    } catch (err) { banner(err.message); }
  }

  async function start() {
    $("login").classList.add("hidden");
    $("layout").classList.remove("hidden");
    try {
      const metrics = await api("/plan_metrics");
      reps = metrics.reps.map((r) => ({ rep_id: r.rep_id, name: r.name }));
      $("s-departures").replaceChildren(...reps.map((r) => el("option", { value: r.rep_id }, `${r.name} (${r.rep_id})`)));
    } catch (err) { banner(err.message); }
    refresh();
    ScenarioCompare.showMap("");
  }

  $("add-hire").addEventListener("click", addHire);
  $("add-lock").addEventListener("click", addLock);
  $("scenario-form").addEventListener("submit", (ev) => { ev.preventDefault(); save(true); });
  $("save-only").addEventListener("click", () => { if ($("scenario-form").reportValidity()) save(false); });
  $("yaml-solve").addEventListener("click", solveYaml);
  $("yaml-file").addEventListener("change", async () => {
    const file = $("yaml-file").files[0];
    if (file) $("yaml-text").value = await file.text();
  });
  $("compare").addEventListener("click", () => ScenarioCompare.compare([...chosen]));
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    Territory.setKey($("key-input").value);
    start();
  });
  if (Territory.takeKeyFromHash()) start(); else $("login").classList.remove("hidden");
})();
