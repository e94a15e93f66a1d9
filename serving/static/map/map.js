/* Territory map: accounts coloured by owner, moves drawn, rep homes, filters by rep and region,
   a before/after toggle. Drawn here as SVG from /plan_map's data (no tiles, no CDN, no library).
   Used by the review page's map panel and the Scenarios page: TerritoryMap.mount(node, loadFn). */
"use strict";

const TerritoryMap = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 400, PAD = 14;

  function svg(tag, attrs) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function html(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "style") node.style.cssText = v;  // CSSOM: allowed by the pages' CSP
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  /* A colour per rep index: golden-angle hues, three lightness steps, so neighbours differ. */
  function colour(i) {
    if (i < 0) return "#9aa5b1";
    const hue = (i * 137.508) % 360, light = [42, 58, 34][i % 3];
    return `hsl(${hue.toFixed(0)}, 68%, ${light}%)`;
  }

  function quantile(sorted, q) {
    if (!sorted.length) return 0;
    const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }

  /* Equirectangular, x scaled by cos(mid latitude); frames the middle 99% of accounts. */
  function projection(lat, lon) {
    const la = [...lat].sort((a, b) => a - b), lo = [...lon].sort((a, b) => a - b);
    let [s, n, w, e] = [quantile(la, 0.005), quantile(la, 0.995), quantile(lo, 0.005), quantile(lo, 0.995)];
    const padLat = Math.max(n - s, 0.5) * 0.05, padLon = Math.max(e - w, 0.5) * 0.05;
    s -= padLat; n += padLat; w -= padLon; e += padLon;
    const k = Math.cos(((s + n) / 2) * Math.PI / 180);
    const scale = Math.min((W - 2 * PAD) / ((e - w) * k || 1), (H - 2 * PAD) / ((n - s) || 1));
    const x0 = (W - (e - w) * k * scale) / 2, y0 = (H - (n - s) * scale) / 2;
    return (la1, lo1) => [x0 + (lo1 - w) * k * scale, y0 + (n - la1) * scale];
  }

  function draw(state) {
    const { data, view, rep, region } = state;
    const a = data.accounts, reps = data.reps;
    const owner = view === "after" ? a.after : a.before;
    const project = projection(a.lat, a.lon);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "territory-map", role: "img",
      "aria-label": `accounts by owner, ${view === "after" ? "planned" : "today"}` });
    root.append(svg("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }));
    const ref = svg("g", { class: "places" });
    const labelled = [];  // largest first: a city too close to a bigger one keeps no label
    for (const p of data.places || []) {
      const [x, y] = project(p.lat, p.lon);
      if (x < 0 || x > W || y < 0 || y > H) continue;
      if (labelled.some(([lx, ly]) => Math.abs(lx - x) < 40 && Math.abs(ly - y) < 10)) continue;
      labelled.push([x, y]);
      const label = svg("text", { x: (x + 3).toFixed(1), y: (y - 2).toFixed(1), class: "place-name" });
      label.textContent = p.name;
      ref.append(svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 1.6, class: "place" }), label);
    }
    root.append(ref);
    const lines = svg("g", { class: "moves" }), dots = svg("g", { class: "accounts" }), homes = svg("g", { class: "homes" });
    let shown = 0, moved = 0;
    for (let i = 0; i < a.id.length; i++) {
      if (region !== "" && String(a.region[i]) !== region) continue;
      if (rep !== "" && String(a.before[i]) !== rep && String(a.after[i]) !== rep) continue;
      const [x, y] = project(a.lat[i], a.lon[i]);
      const isMove = a.before[i] !== a.after[i];
      const dot = svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: isMove ? 3.6 : 2.4,
        fill: colour(owner[i]), class: isMove ? "account moved" : "account", "data-account": a.id[i] });
      const who = reps[owner[i]];
      const title = svg("title");
      title.textContent = `${a.id[i]} · ${who ? who.name : "no owner"}` +
        (isMove ? ` · moves ${reps[a.before[i]] ? reps[a.before[i]].name : "–"} → ${reps[a.after[i]] ? reps[a.after[i]].name : "–"}` : "");
      dot.append(title);
      dots.append(dot);
      shown++;
      if (isMove) {
        moved++;
        const home = reps[a.after[i]];
        if (view === "after" && home && home.lat !== null) {
          const [hx, hy] = project(home.lat, home.lon);
          lines.append(svg("line", { x1: x.toFixed(1), y1: y.toFixed(1), x2: hx.toFixed(1), y2: hy.toFixed(1),
            stroke: colour(a.after[i]), class: "move-line" }));
        }
      }
    }
    reps.forEach((r, i) => {
      if (r.lat === null || r.lon === null) return;
      if (rep !== "" && String(i) !== rep) return;
      const [x, y] = project(r.lat, r.lon);
      const mark = svg("path", { d: `M${x} ${y - 6} L${x + 5.5} ${y + 4} L${x - 5.5} ${y + 4} Z`,
        fill: colour(i), class: r.added ? "rep-home added" : "rep-home", "data-rep": r.rep_id });
      const title = svg("title");
      title.textContent = `${r.name} (${r.rep_id})${r.added ? ", added by the scenario" : ""}: home base`;
      mark.append(title);
      homes.append(mark);
    });
    root.append(lines, dots, homes);
    return { root, shown, moved };
  }

  function legend(data, state) {
    const used = new Set(), owner = state.view === "after" ? data.accounts.after : data.accounts.before;
    owner.forEach((o) => used.add(o));
    const items = data.reps.map((r, i) => [r, i]).filter(([, i]) => used.has(i) && (state.rep === "" || String(i) === state.rep));
    return html("div", { class: "map-legend" },
      html("span", { class: "key" }, html("span", { class: "sw tri" }, "▲"), "rep home"),
      html("span", { class: "key" }, html("span", { class: "sw ring" }), "moved account"),
      ...items.map(([r, i]) => html("span", { class: "key" }, html("span", { class: "sw", style: `background:${colour(i)}` }), r.name)));
  }

  /* Render /plan_map's answer into `node` with its own controls; returns the state. */
  function render(node, data, caption) {
    node.replaceChildren();
    if (!data.geography) {
      node.append(html("p", { class: "map-message no-geography", role: "status" }, data.message));
      return null;
    }
    const state = { data, view: "after", rep: "", region: "" };
    const repSelect = html("select", { class: "map-rep", "aria-label": "rep" }, html("option", { value: "" }, "all reps"),
      ...data.reps.map((r, i) => html("option", { value: String(i) }, r.name)));
    const regionSelect = html("select", { class: "map-region", "aria-label": "region" }, html("option", { value: "" }, "all regions"),
      ...data.regions.map((r, i) => html("option", { value: String(i) }, r || "(none)")));
    const toggle = html("div", { class: "map-toggle", role: "group", "aria-label": "before or after" },
      html("button", { type: "button", class: "map-before", "data-view": "before" }, "Today"),
      html("button", { type: "button", class: "map-after active", "data-view": "after" }, "Planned"));
    const stage = html("div", { class: "map-stage" });
    const note = html("p", { class: "muted map-note" });
    const redraw = () => {
      const { root, shown, moved } = draw(state);
      stage.replaceChildren(root, legend(data, state));
      note.textContent = `${shown} accounts drawn, ${moved} moving` +
        (data.unplaced ? `; ${data.unplaced} without coordinates not drawn` : "") + (caption ? ` · ${caption}` : "");
      node.dataset.shown = String(shown);
    };
    repSelect.addEventListener("change", () => { state.rep = repSelect.value; redraw(); });
    regionSelect.addEventListener("change", () => { state.region = regionSelect.value; redraw(); });
    toggle.addEventListener("click", (ev) => {
      const view = ev.target.dataset && ev.target.dataset.view;
      if (!view) return;
      state.view = view;
      toggle.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
      redraw();
    });
    node.append(html("div", { class: "map-controls" }, repSelect, regionSelect, toggle), stage, note);
    redraw();
    return state;
  }

  return { render, colour };
})();
