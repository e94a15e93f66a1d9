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

  /* Grouped horizontal bars: one group per rep, bars for today / proposed / decided. */
  function repBalance(reps, metric) {
    const rows = reps.filter((r) => r.before[metric] !== null && r.before[metric] !== undefined);
    if (!rows.length) return el("p", { class: "muted" }, `No ${metric} figures in this plan.`);
    const max = Math.max(...rows.flatMap((r) => [r.before[metric], r.proposed[metric], r.decided[metric]]), 1);
    const labelW = 120, barW = 190, valueW = 70, rowH = 30, bar = 7;
    const width = labelW + barW + valueW;
    const svg = el("svg", { class: "bars", viewBox: `0 0 ${width} ${rows.length * rowH + 4}`,
                            role: "img", "aria-label": `${metric} per rep: today, proposed and decided` });
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
