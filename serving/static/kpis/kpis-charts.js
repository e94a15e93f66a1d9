/* Inline SVG charts for the KPI page (no chart library: nothing is fetched from the network). */
"use strict";

const KpiCharts = (() => {
  const { el } = Territory;

  function finite(v) { return v !== null && v !== undefined && Number.isFinite(Number(v)); }

  /* Columns per period with a line through their tops; `format` writes the values. */
  function trend(rows, metric, format) {
    const pts = rows.map((r) => ({ label: r.period_start, value: r[metric] }));
    const values = pts.filter((p) => finite(p.value)).map((p) => Number(p.value));
    if (!values.length) return el("p", { class: "muted" }, `No ${metric} figures in these periods.`);
    const W = 520, H = 220, left = 64, bottom = 34, top = 12;
    const max = Math.max(...values, 0) || 1;
    const step = (W - left - 8) / pts.length;
    const y = (v) => top + (H - top - bottom) * (1 - v / max);
    const svg = el("svg", { class: "trend", viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": `${metric} per period` });
    [0, 0.5, 1].forEach((f) => {
      svg.append(el("line", { x1: left, x2: W, y1: y(max * f), y2: y(max * f), class: "axis" }));
      svg.append(el("text", { x: left - 6, y: y(max * f) + 3, "text-anchor": "end", class: "tick" }, format(max * f)));
    });
    const line = [];
    pts.forEach((p, i) => {
      const x = left + i * step;
      if (finite(p.value)) {
        const v = Number(p.value);
        svg.append(el("g", { class: "period" },
          el("title", {}, `${p.label}: ${format(v)}`),
          el("rect", { x: (x + step * 0.15).toFixed(1), y: y(v).toFixed(1), width: (step * 0.7).toFixed(1),
                       height: Math.max(0.5, y(0) - y(v)).toFixed(1), class: "bar" })));
        line.push(`${(x + step / 2).toFixed(1)},${y(v).toFixed(1)}`);
      }
      if (pts.length <= 12 || i % 2 === 0) {
        svg.append(el("text", { x: x + step / 2, y: H - bottom + 14, "text-anchor": "middle", class: "tick" }, p.label.slice(0, 7)));
      }
    });
    svg.append(el("path", { d: "M" + line.join(" L"), class: "line" }));
    return svg;
  }

  /* Histogram of one KPI across groups, with the median marked; each bar lists its groups. */
  function distribution(rows, metric, format, labelOf) {
    const items = rows.filter((r) => finite(r[metric])).map((r) => ({ name: labelOf(r), value: Number(r[metric]) }));
    if (items.length < 2) return el("p", { class: "muted" }, `Too few groups with ${metric} to show a spread.`);
    const W = 520, H = 220, left = 30, bottom = 34, top = 12, right = 30;
    const lo = Math.min(...items.map((d) => d.value)), hi = Math.max(...items.map((d) => d.value));
    const bins = Math.min(12, Math.max(4, Math.ceil(Math.sqrt(items.length))));
    const width = (hi - lo) / bins || 1;
    const counts = Array.from({ length: bins }, () => []);
    items.forEach((d) => counts[Math.min(bins - 1, Math.floor((d.value - lo) / width))].push(d));
    const most = Math.max(...counts.map((c) => c.length));
    const step = (W - left - right) / bins;
    const y = (n) => top + (H - top - bottom) * (1 - n / most);
    const svg = el("svg", { class: "dist", viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": `distribution of ${metric} across ${items.length} groups` });
    svg.append(el("line", { x1: left, x2: W, y1: y(0), y2: y(0), class: "axis" }));
    svg.append(el("text", { x: left - 6, y: y(most) + 3, "text-anchor": "end", class: "tick" }, String(most)));
    counts.forEach((group, i) => {
      const x = left + i * step;
      const names = group.map((d) => `${d.name} (${format(d.value)})`).join(", ");
      svg.append(el("g", {}, el("title", {}, `${format(lo + i * width)} – ${format(lo + (i + 1) * width)}: ${group.length} · ${names}`),
        el("rect", { x: (x + 1).toFixed(1), y: y(group.length).toFixed(1), width: (step - 2).toFixed(1),
                     height: Math.max(0, y(0) - y(group.length)).toFixed(1), class: "bar" })));
    });
    [0, bins / 2, bins].forEach((k) => svg.append(el("text", { x: left + k * step, y: H - bottom + 14,
      "text-anchor": "middle", class: "tick" }, format(lo + k * width))));
    const sorted = items.map((d) => d.value).sort((a, b) => a - b);
    const median = sorted[Math.floor((sorted.length - 1) / 2)] / 2 + sorted[Math.ceil((sorted.length - 1) / 2)] / 2;
    const mx = left + ((median - lo) / (width * bins)) * (W - left - right);
    svg.append(el("line", { x1: mx, x2: mx, y1: top, y2: y(0), class: "median" }));
    svg.append(el("text", { x: mx + 4, y: top + 10, class: "label" }, `median ${format(median)}`));
    return svg;
  }

  /* A tiny line of the last periods, for a KPI tile. */
  function spark(values) {
    const pts = values.map(Number).filter(Number.isFinite);
    if (pts.length < 2) return null;
    const max = Math.max(...pts), min = Math.min(...pts), span = max - min || 1;
    const d = pts.map((v, i) => `${(i * 100 / (pts.length - 1)).toFixed(1)},${(26 - 24 * (v - min) / span).toFixed(1)}`);
    return el("svg", { class: "spark", viewBox: "0 0 100 28", preserveAspectRatio: "none", "aria-hidden": "true" },
      el("path", { d: "M" + d.join(" L"), class: "line" }));
  }

  return { trend, distribution, spark };
})();
