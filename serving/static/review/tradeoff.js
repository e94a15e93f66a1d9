/* The value-versus-moves panel (POST /plan_tradeoff): the plan's value at several disruption
   budgets, the served plan's own budget marked, so the manager picks the budget knowingly.
   Inline SVG, no chart library. */
"use strict";

(() => {
  const { el, api, money } = Territory;

  function chart(points) {
    const ok = points.filter((p) => p.objective !== null);
    if (!ok.length) return el("p", { class: "muted" }, "No budget in the curve meets the bands.");
    const W = 320, H = 150, L = 62, B = 24, T = 8;
    const xs = points.map((p) => p.max_moved_share), ys = ok.map((p) => p.objective);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const x = (v) => L + ((v - x0) / Math.max(x1 - x0, 1e-9)) * (W - L - 8);
    const y = (v) => T + (1 - (v - y0) / Math.max(y1 - y0, 1e-9)) * (H - T - B);
    const svg = el("svg", { class: "tradeoff", viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": "plan value per year against the share of accounts moved" });
    svg.append(el("path", { class: "tradeoff-line", fill: "none", stroke: "#1d4fa8",
      d: ok.map((p, i) => `${i ? "L" : "M"} ${x(p.max_moved_share).toFixed(1)} ${y(p.objective).toFixed(1)}`).join(" ") }));
    points.forEach((p) => {
      const cx = x(p.max_moved_share);
      if (p.objective === null) {
        svg.append(el("text", { x: cx, y: H - B - 2, "text-anchor": "middle", class: "infeasible" }, "×",
          el("title", {}, `${Math.round(p.max_moved_share * 100)}%: no plan meets the bands`)));
      } else {
        svg.append(el("circle", { cx, cy: y(p.objective), r: p.chosen ? 5 : 3, class: p.chosen ? "chosen" : "point",
          fill: p.chosen ? "#c0392b" : "#1d4fa8" },
          el("title", {}, `${Math.round(p.max_moved_share * 100)}%: ${money(p.objective)} a year, ${p.moves_by_choice} moves`)));
      }
      svg.append(el("text", { x: cx, y: H - 6, "text-anchor": "middle", class: "axis" }, `${Math.round(p.max_moved_share * 100)}%`));
    });
    svg.append(el("text", { x: 2, y: y(y1) + 4, class: "axis" }, money(y1)));
    svg.append(el("text", { x: 2, y: y(y0) + 4, class: "axis" }, money(y0)));
    return svg;
  }

  async function load() {
    const box = document.getElementById("tradeoff");
    if (!box) return;
    try {
      const curve = await api("/plan_tradeoff");
      if (!curve.points.length) { box.replaceChildren(el("p", { class: "muted" }, curve.note)); return; }
      const own = curve.points.find((p) => p.chosen);
      box.replaceChildren(chart(curve.points),
        own ? el("p", { class: "muted" }, `This plan: at most ${Math.round(own.max_moved_share * 100)}% of accounts moved by choice (red).`) : null);
    } catch (err) {
      box.replaceChildren(el("p", { class: "muted" }, err.message));
    }
  }

  window.addEventListener("load", () => setTimeout(load, 0));
})();
