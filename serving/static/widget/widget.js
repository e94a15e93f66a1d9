/* CRM sidebar widget: one account's card (POST /card), and a form to contest a proposed move
   (POST /contest). Holds no model logic: everything shown comes from the API. */
"use strict";

(() => {
  const { el, api, money, ordinal, date } = Territory;
  const app = document.getElementById("app");
  const login = document.getElementById("login");
  const query = new URLSearchParams(location.search);
  let me = null;

  function gauge(percentile, tier) {
    // A half-circle from 180° to 0°; the filled arc covers `percentile` of it.
    const r = 52, cx = 64, cy = 60;
    const angle = Math.PI * (1 - Math.max(0, Math.min(100, percentile)) / 100);
    const x = cx + r * Math.cos(angle), y = cy - r * Math.sin(angle);
    const track = `M ${cx - r} ${cy} A ${r} ${r} 0 0 1 ${cx + r} ${cy}`;
    const fill = `M ${cx - r} ${cy} A ${r} ${r} 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`;
    return el("svg", { class: "gauge", viewBox: "0 0 128 70", role: "img",
                       "aria-label": `tier ${tier}, ${ordinal(percentile)} percentile` },
      el("path", { d: track, class: "gauge-track" }),
      el("path", { d: fill, class: `gauge-fill tier-${tier}` }),
      el("text", { x: cx, y: cy - 8, class: "gauge-tier", "text-anchor": "middle" }, tier),
      el("text", { x: cx, y: cy + 8, class: "gauge-caption", "text-anchor": "middle" }, ordinal(percentile) + " pct"));
  }

  function repName(rep) { return rep ? rep.name : "nobody"; }

  function reasonList(reasons) {
    if (!reasons.length) return el("p", { class: "muted" }, "No single factor stands out.");
    return el("ul", { class: "reasons" }, reasons.map((r) => {
      const up = r.direction === "up";
      const effect = r.effect_multiplier ? `×${Number(r.effect_multiplier).toFixed(2)}` : "";
      return el("li", { class: up ? "up" : "down" },
        el("span", { class: "arrow", "aria-hidden": "true" }, up ? "▲" : "▼"),
        el("span", { class: "phrase" }, r.phrase),
        effect && el("span", { class: "effect", title: "effect on expected revenue" }, effect));
    }));
  }

  function contestForm(card) {
    const move = card.owner.move;
    const wrap = el("div", { class: "contest" });
    const button = el("button", { type: "button", class: "secondary", id: "contest-open" }, "Contest this move");
    const text = el("textarea", { id: "contest-reason", rows: "3", maxlength: "2000", required: true,
                                  placeholder: "Why should this account stay (or not move)?" });
    const status = el("p", { class: "note", role: "status", id: "contest-status" });
    const form = el("form", { class: "hidden", id: "contest-form" },
      el("label", { for: "contest-reason" }, "Your reason (goes to your manager)"), text,
      el("div", { class: "row" }, el("button", { type: "submit" }, "Send"),
        el("button", { type: "button", class: "link", onclick: () => { form.classList.add("hidden"); button.classList.remove("hidden"); } }, "Cancel")));
    button.addEventListener("click", () => { form.classList.remove("hidden"); button.classList.add("hidden"); text.focus(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = "Sending…";
      try {
        await api("/contest", { account_id: card.account_id, reason: text.value });
        form.classList.add("hidden");
        status.textContent = "Sent. Your manager will see it in the review queue.";
        status.className = "note ok";
      } catch (err) {
        status.textContent = err.message;
        status.className = "note error";
      }
    });
    if (move.open_contests > 0) wrap.append(el("p", { class: "note" }, `Contested (${move.open_contests} open).`));
    wrap.append(button, form, status);
    return wrap;
  }

  // What the move is worth and why the new owner fits (the API already words it for the caller:
  // a rep's card never lists a colleague's shortcomings, serving/cards.py).
  function moveFigures(move) {
    const x = move.explained;
    if (!x) return null;
    return el("div", { class: "move-figures" },
      el("p", {}, "Expected revenue a year: ", el("span", { class: "rev-now" }, money(x.revenue_now)), " now → ",
        el("strong", { class: "rev-new" }, money(x.revenue_new)), ` with ${move.to_rep.name}`,
        el("span", { class: "muted" }, ` (net ${x.net >= 0 ? "+" : ""}${money(x.net)})`)),
      x.fit_reasons.length ? el("ul", { class: "fit-reasons" }, x.fit_reasons.map((r) => el("li", {}, r.text))) : null);
  }

  function ownerSection(card) {
    const { current, recommended, move } = card.owner;
    const section = el("section", { class: "owner" },
      el("h2", {}, "Owner"),
      el("p", {}, el("span", { class: "label" }, "Current "), el("strong", {}, repName(current))));
    if (!move) {
      section.append(el("p", { class: "muted" }, recommended ? "The plan keeps this owner." : "No plan loaded."));
      return section;
    }
    section.append(
      el("div", { class: `move status-${move.status}` },
        el("p", {}, el("span", { class: "label" }, "Recommended "), el("strong", {}, repName(move.to_rep)),
          el("span", { class: `pill ${move.status}` }, move.status)),
        move.for_you ? el("p", { class: "for-you" }, move.for_you) : null,
        moveFigures(move),
        el("ul", { class: "move-reasons" }, move.reasons.map((r) => el("li", {}, el("span", { class: "chip" }, r.type), " ", r.text))),
        move.decision && move.decision.note ? el("p", { class: "note" }, `Manager: “${move.decision.note}”`) : null));
    const involved = me && me.role === "rep" && [move.from_rep && move.from_rep.rep_id, move.to_rep.rep_id].includes(me.rep_id);
    if (involved && move.status === "proposed") section.append(contestForm(card));
    return section;
  }

  function render(card) {
    const p = card.potential;
    const fresh = card.freshness;
    app.replaceChildren(
      el("header", {},
        el("h1", {}, card.name),
        el("p", { class: "muted" }, [card.industry, card.region, card.city].filter(Boolean).join(" · "))),
      el("section", { class: "score" },
        gauge(p.percentile, p.tier),
        el("div", { class: "potential" },
          el("span", { class: "value" }, money(p.value)),
          el("span", { class: "muted" }, "expected won revenue, next 12 months"))),
      ownerSection(card),
      el("section", { class: "why" }, el("h2", {}, "Why this score"), reasonList(card.reasons),
        card.narrative ? el("p", { class: "narrative" }, card.narrative) : null),
      el("footer", {},
        fresh.source === "computed on request" ? el("p", { class: "pill computed" }, "computed on request") : null,
        el("p", {}, fresh.source === "computed on request"
          ? `Scored just now from data to ${date(fresh.data_latest)} (batch scores as of ${date(fresh.scores_as_of)})`
          : `Scores as of ${date(fresh.scores_as_of)} · data to ${date(fresh.data_latest)}`),
        el("p", {}, card.model_version)));
  }

  /* The plan's state and this account's contests with their outcome (POST /contest_outcomes):
     once the plan is approved, its effective date, and contesting is closed. */
  async function showOutcomes(account) {
    const outcomes = await api("/contest_outcomes", { account_id: account });
    const section = el("section", { class: "outcomes", id: "outcomes" });
    if (outcomes.plan_status === "approved") {
      section.append(el("p", { class: "note ok", id: "effective" }, `Plan approved · effective ${date(outcomes.effective_date)}`));
      const open = document.getElementById("contest-open");
      if (open) open.closest(".contest").replaceChildren(el("p", { class: "note" }, "The plan is approved: moves can no longer be contested."));
    }
    for (const c of outcomes.contests) {
      const said = c.status === "open" ? "waiting for your manager" : `${c.status}${c.resolution ? ": " + c.resolution.replace(/^(accepted|rejected): ?/, "") : ""}`;
      const whose = me && me.role === "rep" ? "Your contest" : `${c.actor}'s contest`;
      section.append(el("p", { class: `note contest-outcome ${c.status}` }, `${whose} (“${c.reason}”): ${said}`));
    }
    if (section.childNodes.length) document.querySelector("section.owner").append(section);
  }

  function showLogin(message) {
    app.replaceChildren();
    login.classList.remove("hidden");
    document.getElementById("account-input").value = query.get("account") || "";
    document.getElementById("login-error").textContent = message || "";
  }

  async function load() {
    const account = query.get("account");
    if (!Territory.takeKeyFromHash() || !account) return showLogin(account ? "" : "Which account?");
    try {
      me = await api("/whoami");
      render(await api("/card", { account_id: account }));
      await showOutcomes(account).catch((err) => document.querySelector("section.owner").append(
        el("p", { class: "note error" }, `Contest outcomes unavailable: ${err.message}`)));
    } catch (err) {
      if (err.status === 401) { Territory.forgetKey(); return showLogin(err.message); }
      app.replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
    }
  }

  login.addEventListener("submit", (event) => {
    event.preventDefault();
    Territory.setKey(document.getElementById("key-input").value.trim());
    query.set("account", document.getElementById("account-input").value.trim());
    history.replaceState(null, "", location.pathname + "?" + query.toString());
    login.classList.add("hidden");
    load();
  });

  load();
})();
