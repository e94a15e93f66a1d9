/* Inline SVG charts for the review page (no chart library: there is no CDN to load one from). */
"use strict";

const Charts = (() => {
  const { el } = Territory;

  function fmt(metric, value) {
    if (value === null || value === undefined) return "–";
    if (metric === "potential") return Territory.money(value);
    if (metric === "travel_km") return Math.round(value).toLocaleString() + " km";
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: 1 });
  }

  /* Grouped horizontal bars: one group per rep (largest decided figure first), bars for today /
     proposed / decided, and the target band (low-high) shaded behind them when given. */
  function repBalance(reps, metric, band) {
    const rows = reps.filter((r) => r.before[metric] !== null && r.before[metric] !== undefined)
      .sort((a, b) => b.decided[metric] - a.decided[metric] || a.name.localeCompare(b.name));
    if (!rows.length) return el("p", { class: "muted" }, `No ${metric} figures in this plan.`);
    const max = Math.max(...rows.flatMap((r) => [r.before[metric], r.proposed[metric], r.decided[metric]]), band ? band.high : 1, 1);
    const labelW = 120, barW = 190, valueW = 70, rowH = 30, bar = 7;
    const width = labelW + barW + valueW;
    const svg = el("svg", { class: "bars", viewBox: `0 0 ${width} ${rows.length * rowH + 4}`,
                            role: "img", "aria-label": `${metric} per rep: today, proposed and decided` });
    if (band) {
      const x0 = labelW + (band.low / max) * barW, x1 = labelW + (band.high / max) * barW, h = rows.length * rowH + 4;
      svg.append(el("rect", { x: x0.toFixed(1), y: 0, width: Math.max(1, x1 - x0).toFixed(1), height: h, class: "band-rect" },
        el("title", {}, `target band ${fmt(metric, band.low)} – ${fmt(metric, band.high)} (mean ${fmt(metric, band.mean)})`)));
      for (const x of [x0, x1]) svg.append(el("line", { x1: x.toFixed(1), x2: x.toFixed(1), y1: 0, y2: h, class: "band-line" }));
    }
    rows.forEach((rep, i) => {
      const y = i * rowH + 4;
      const name = rep.name.length > 17 ? rep.name.slice(0, 16) + "…" : rep.name;
      const group = el("g", {}, el("title", {}, `${rep.name}: today ${fmt(metric, rep.before[metric])}, proposed ${fmt(metric, rep.proposed[metric])}, decided ${fmt(metric, rep.decided[metric])}`));
      group.append(el("text", { x: 0, y: y + 13, class: "bar-label" }, name));
      ["before", "proposed", "decided"].forEach((kind, k) => {
        const w = Math.max(1, (rep[kind][metric] / max) * barW);
        group.append(el("rect", { x: labelW, y: y + k * (bar + 1), width: w.toFixed(1), height: bar, class: `bar ${kind}` }));
      });
      const delta = rep.decided[metric] - rep.before[metric];
      const sign = delta > 0 ? "+" : "";
      group.append(el("text", { x: labelW + barW + 6, y: y + 13, class: "bar-value" }, fmt(metric, rep.decided[metric])));
      if (Math.abs(delta) > 1e-9) group.append(el("text", { x: labelW + barW + 6, y: y + 24, class: delta > 0 ? "bar-delta up" : "bar-delta down" }, sign + fmt(metric, delta)));
      svg.append(group);
    });
    return svg;
  }

  return { repBalance, fmt };
})();
