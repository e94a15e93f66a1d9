/* Shared by the widget and the review page: the API key, API calls, small DOM helpers.
   The key comes from the URL fragment (#key=..., never sent to the server in a URL) or a form,
   and stays in sessionStorage for this tab only. A CRM sign-in (HubSpot card action, Salesforce
   Canvas) opens the widget with #token=...: a short-lived signed token for one rep and one
   account (docs/crm.md), used the same way and never an API key. */
"use strict";

const Territory = (() => {
  const STORE = "territory.key";

  function takeKeyFromHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const key = params.get("token") || params.get("key");
    if (key) {
      sessionStorage.setItem(STORE, key);
      params.delete("key");
      params.delete("token");
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    }
    return sessionStorage.getItem(STORE);
  }

  function setKey(key) { sessionStorage.setItem(STORE, key); }
  function forgetKey() { sessionStorage.removeItem(STORE); }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, body) {
    const key = sessionStorage.getItem(STORE);
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + (key || "") },
      body: JSON.stringify(body || {}),
    });
    const type = response.headers.get("content-type") || "";
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      if (type.includes("json")) {
        const data = await response.json();
        const first = Array.isArray(data) ? data[0] : data;
        message = (first && (first.error || first.detail)) ? String(first.error || JSON.stringify(first.detail)) : message;
      }
      throw new ApiError(response.status, message);
    }
    return type.includes("json") ? response.json() : response.text();
  }

  /* el("div", {class: "x", onclick: fn}, child, "text", ...) */
  function el(tag, attrs, ...children) {
    const isSvg = ["svg", "path", "circle", "rect", "line", "text", "g", "title"].includes(tag);
    const node = isSvg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "class") node.setAttribute("class", value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function money(value) {
    if (value === null || value === undefined) return "–";
    const abs = Math.abs(value), sign = value < 0 ? "-" : "";
    if (abs >= 1e6) return sign + "$" + (abs / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M";
    if (abs >= 1e3) return sign + "$" + (abs / 1e3).toFixed(abs >= 1e4 ? 0 : 1) + "k";
    return sign + "$" + abs.toFixed(0);
  }

  function ordinal(n) {
    // Floor, capped at 99: the top account ranks 100 but "100th percentile" reads as a bug.
    const v = Math.min(99, Math.floor(n));
    const s = ["th", "st", "nd", "rd"], m = v % 100;
    return v + (s[(m - 20) % 10] || s[m] || s[0]);
  }

  function date(iso) { return iso ? String(iso).slice(0, 10) : "–"; }

  return { takeKeyFromHash, setKey, forgetKey, api, ApiError, el, money, ordinal, date };
})();
