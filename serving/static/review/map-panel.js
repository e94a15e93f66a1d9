/* The review page's map panel: the served plan on the territory map (../map/map.js), loaded once
   the page has a manager key (the page's own login). Its only hook is #plan-map in index.html. */
"use strict";

(() => {
  const node = document.getElementById("plan-map");
  if (!node) return;
  let loaded = false;
  async function load() {
    if (loaded) return;
    loaded = true;
    node.replaceChildren(Territory.el("p", { class: "muted" }, "Loading the map…"));
    try {
      TerritoryMap.render(node, await Territory.api("/plan_map", {}), "the plan under review");
    } catch (err) {
      loaded = false;
      node.replaceChildren(Territory.el("p", { class: "error" }, err.message));
    }
  }
  const layout = document.getElementById("layout");
  const ready = () => layout && !layout.classList.contains("hidden");
  if (ready()) load();
  else if (layout) new MutationObserver(() => { if (ready()) load(); }).observe(layout, { attributes: true });
})();
