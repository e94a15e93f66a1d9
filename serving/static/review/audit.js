/* Audit page: the trail per account, rep or plan (POST /audit_query), filtered and paged, and the
   same rows as CSV (POST /audit_csv, streamed by the server). Filters can come in the URL's query
   (?account_id=A1&rep_id=R2), so the review page links straight to an account's history. */
"use strict";

(() => {
  const { el, api } = Territory;
  const $ = (id) => document.getElementById(id);
  const PAGE = 100;
  let filters = {}, offset = 0;

  function banner(message, kind) {
    $("banner").textContent = message || "";
    $("banner").className = message ? `banner ${kind || "error"}` : "banner hidden";
  }

  function state(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "object") return String(value);
    return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("; ");
  }

  function row(e) {
    return el("tr", { class: "audit-row", "data-action": e.action },
      el("td", {}, e.at.replace("T", " ").slice(0, 19)), el("td", {}, e.actor, el("div", { class: "muted" }, e.role)),
      el("td", {}, e.action), el("td", {}, e.plan_id || "–"), el("td", {}, e.account_id || "–"),
      el("td", { class: "state" }, state(e.previous_value)), el("td", { class: "state" }, state(e.new_value)), el("td", {}, e.note || ""));
  }

  async function load(append) {
    if (!append) offset = 0;
    const page = await api("/audit_query", { ...filters, offset, limit: PAGE });
    const rows = page.entries.map(row);
    if (append) $("audit-rows").append(...rows); else $("audit-rows").replaceChildren(...rows);
    offset += page.entries.length;
    $("audit-total").textContent = `${page.total} event(s)`;
    $("audit-more").classList.toggle("hidden", offset >= page.total);
  }

  function readFilters() {
    const data = new FormData($("audit-filters"));
    filters = Object.fromEntries([...data.entries()].filter(([, v]) => v));
  }

  async function exportCsv() {
    try {
      const text = await api("/audit_csv", filters);
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const link = el("a", { href: url, download: "territory-audit.csv" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) { banner(err.message); }
  }

  function showLogin(message) {
    $("audit-main").classList.add("hidden");
    $("login").classList.remove("hidden");
    $("login-error").textContent = message || "";
  }

  async function start() {
    if (!Territory.takeKeyFromHash()) return showLogin("");
    const query = new URLSearchParams(location.search);
    for (const [name, value] of query.entries()) {
      const input = $("audit-filters").elements.namedItem(name);
      if (input) input.value = value;
    }
    readFilters();
    try {
      const me = await api("/whoami");
      if (me.role !== "manager") return showLogin(`This key belongs to ${me.name} (${me.role}); the audit trail needs a manager key.`);
      $("login").classList.add("hidden");
      $("audit-main").classList.remove("hidden");
      await load();
    } catch (err) {
      if (err.status === 401) { Territory.forgetKey(); return showLogin(err.message); }
      banner(err.message);
    }
  }

  $("audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    readFilters();
    banner("");
    load().catch((err) => banner(err.message));
  });
  $("audit-more").addEventListener("click", () => load(true).catch((err) => banner(err.message)));
  $("audit-export").addEventListener("click", exportCsv);
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    Territory.setKey($("key-input").value.trim());
    start();
  });

  start();
})();
