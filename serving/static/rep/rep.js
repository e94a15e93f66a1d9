/* A rep's own book (POST /rep_book): call plan, accounts joining and leaving with when, workload
   against the band. A rep's key opens only their own book; a manager may add ?rep=R0001. */
"use strict";

(() => {
  const { el, api, money } = Territory;
  const $ = (id) => document.getElementById(id);

  function banner(message) {
    $("banner").textContent = message || "";
    $("banner").className = message ? "banner error" : "banner hidden";
  }

  /* Inline style attributes are refused by the page's CSP; CSSOM properties are not. */
  function styled(node, props) { Object.assign(node.style, props); return node; }

  function workload(w) {
    if (w.today === null || w.today === undefined) return el("p", { class: "muted" }, "No workload figures: the plan has none.");
    const top = Math.max(w.high, w.today, w.planned || 0) * 1.15 || 1;
    const pct = (v) => `${(100 * v / top).toFixed(1)}%`;
    const inside = (v) => v >= w.low && v <= w.high;
    const word = (v) => el("span", { class: inside(v) ? "within" : "outside" }, inside(v) ? "within the band" : "outside the band");
    return el("div", {},
      el("div", { class: "band-bar", role: "img", "aria-label": "workload against the band" },
        styled(el("span", { class: "band" }), { left: pct(w.low), width: pct(w.high - w.low) }),
        styled(el("span", { class: "mark today", title: "today" }), { left: pct(w.today) }),
        w.planned !== null ? styled(el("span", { class: "mark planned", title: "planned" }), { left: pct(w.planned) }) : null),
      el("p", {}, `Today ${w.today.toFixed(1)} (`, word(w.today), `); planned ${w.planned === null ? "–" : w.planned.toFixed(1)}`,
        w.planned === null ? "" : [" (", word(w.planned), ")"], "."),
      el("p", { class: "muted" }, `Band ${w.low.toFixed(1)}–${w.high.toFixed(1)} around ${w.target.toFixed(1)}: ${w.band_source}.`));
  }

  function change(move, other) {
    return el("li", { class: "change", "data-account": move.account_id },
      el("strong", {}, move.account_name), " ", el("span", { class: "muted" }, move.account_id),
      el("div", {}, other(move), " · ", money(move.potential), " potential"),
      el("div", { class: "muted when" }, move.when));
  }

  async function start() {
    $("login").classList.add("hidden");
    try {
      const me = await api("/whoami");
      const asked = new URLSearchParams(location.search).get("rep");
      const repId = me.role === "rep" ? me.rep_id : asked;
      if (!repId) { banner("This page shows a rep's own book: open it with a rep's key (managers add ?rep=REP_ID)."); return; }
      const book = await api("/rep_book", { rep_id: repId, calls: 10 });
      $("rep-title").textContent = `${book.rep.name}: my book`;
      $("rep-line").textContent = `${book.accounts_total} accounts · ${money(book.potential_total)} potential · plan ${book.plan_id || "none"} (${book.plan_status || "–"})`;
      $("workload").replaceChildren(workload(book.workload));
      $("call-plan").replaceChildren(...book.call_plan.map((c) => el("li", { class: "call" },
        el("strong", {}, c.name), " ", el("span", { class: "muted" }, c.account_id), " · ", money(c.potential && c.potential.value),
        c.why.length ? el("ul", { class: "why" }, c.why.map((w) => el("li", {}, w))) : null)));
      $("joining").replaceChildren(...(book.joining.length ? book.joining.map((m) => change(m, (x) => `from ${x.from_rep ? x.from_rep.name : "no owner"}`))
        : [el("li", { class: "muted" }, "No accounts join your book in this plan.")]));
      $("leaving").replaceChildren(...(book.leaving.length ? book.leaving.map((m) => change(m, (x) => `to ${x.to_rep.name}`))
        : [el("li", { class: "muted" }, "No accounts leave your book in this plan.")]));
      $("book").classList.remove("hidden");
    } catch (err) { banner(err.message); }
  }

  $("login").addEventListener("submit", (ev) => { ev.preventDefault(); Territory.setKey($("key-input").value); start(); });
  if (Territory.takeKeyFromHash()) start(); else $("login").classList.remove("hidden");
})();
