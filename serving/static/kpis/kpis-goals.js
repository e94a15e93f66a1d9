/* KPI page: goals per territory for the served plan (model goal, interval, the goal in force,
   a manager's edit with a note) and what the approved plan did. Data: POST /goals, /set_goal,
   /export_goals, /plan_outcomes. Starts once kpis.js has shown the page (body[data-loaded]). */
"use strict";

(() => {
  const { api, el, money } = Territory;
  const $ = (id) => document.getElementById(id);
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(0) + "%");
  let canEdit = false;

  function goalCell(row) {
    if (!canEdit) return el("td", {}, money(row.goal));
    const input = el("input", { type: "number", min: "0", step: "1000", value: Math.round(row.goal ?? 0), "aria-label": `goal for ${row.rep_name}` });
    const note = el("input", { type: "text", placeholder: "why", "aria-label": `why the goal of ${row.rep_name} changes` });
    const save = el("button", { type: "button" }, "Set");
    save.addEventListener("click", async () => {
      try {
        drawGoals(await api("/set_goal", { rep_id: row.rep_id, goal: Number(input.value), note: note.value }));
        $("goals-error").textContent = "";
      } catch (err) {
        $("goals-error").textContent = err.message;
      }
    });
    return el("td", { class: "edit" }, input, note, save);
  }

  function drawGoals(report) {
    const f = report.fairness;
    $("goals-line").textContent = `calibrated on ${report.holdout} (actual / predicted ${report.scale.toFixed(2)}); ` +
      `${Math.round(report.confidence * 100)}% intervals; expected attainment across reps: median ${pct(f.median)}, ` +
      `p10–p90 ${pct(f.p10)}–${pct(f.p90)}`;
    const head = el("tr", {}, ...["Rep", "Accounts", "Model goal", "Interval", "Goal in force", "Set by", "Expected attainment"].map((h) => el("th", {}, h)));
    const rows = report.rows.map((r) => el("tr", { "data-rep": r.rep_id },
      el("td", {}, `${r.rep_name} (${r.rep_id})`), el("td", {}, String(r.accounts)),
      el("td", {}, money(r.model_goal)), el("td", {}, `${money(r.goal_low)} – ${money(r.goal_high)}`),
      goalCell(r), el("td", {}, r.set_by === "model" ? "model" : `${r.set_by}: ${r.note}`),
      el("td", {}, pct(r.expected_attainment))));
    $("goals").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
    $("goals-panel").classList.remove("hidden");
  }

  function drawOutcomes(got) {
    if (!got.measurable) {
      $("outcomes").textContent = `Not measurable yet: ${got.reason}.`;
      return;
    }
    const l = got.lift;
    $("outcomes").textContent = `${got.window}: moved accounts ${pct(l.lift_ratio)} vs ${l.comparison} ` +
      `(interval ${pct(l.lift_ratio_low)} to ${pct(l.lift_ratio_high)}); ${money(l.lift)} over what they would have made ` +
      `(${l.moved_accounts} moved, ${l.control_accounts} compared).`;
  }

  async function exportGoals() {
    try {
      const csv = await api("/export_goals", {});
      const link = el("a", { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })), download: "goals.csv" });
      link.click();
    } catch (err) {
      $("goals-error").textContent = err.message;
    }
  }

  async function start() {
    try {
      const me = await api("/whoami");
      canEdit = me.role === "manager";
      drawGoals(await api("/goals", {}));
    } catch (err) {
      $("goals-line").textContent = err.message;
      $("goals-panel").classList.remove("hidden");
    }
    try {
      drawOutcomes(await api("/plan_outcomes", {}));
    } catch (err) {
      $("outcomes").textContent = err.message;
    }
    document.body.dataset.goals = "yes";
  }

  $("goals-export").addEventListener("click", exportGoals);
  const seen = new MutationObserver(() => {
    if (document.body.dataset.loaded === "yes") { seen.disconnect(); start(); }
  });
  seen.observe(document.body, { attributes: true, attributeFilter: ["data-loaded"] });
})();
