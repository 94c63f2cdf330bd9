// opsmatch console: the frame (who am I, which views, hash routing), the API helper, dialogs, toasts.
// Plain ES modules, no framework and no CDN. Data is always put in the page as text nodes, never as HTML.
import { mountBoard } from "./board.js";
import { mountDispatch } from "./dispatch.js";
import { mountRisk } from "./risk.js";
import { mountAlerts } from "./alerts.js";
import { mountModels } from "./models.js";
import { mountSettlement } from "./settlement.js";
import { mountPlanning } from "./planning.js";

const MOUNTS = { board: mountBoard, dispatch: mountDispatch, risk: mountRisk, alerts: mountAlerts, models: mountModels, settlement: mountSettlement, planning: mountPlanning };

/** An element with attributes (on* = listeners, dataset.*) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "class") node.className = v;
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Call the service; errors carry the API's one error shape ({error, kind, loc, detail}). */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-OpsMatch-Console"] = "1";
  const opts = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.status === 401) {
    location.assign("/console");
    throw Object.assign(new Error("signed out"), { status: 401, body: data });
  }
  if (!r.ok) {
    const msg = (data && data.error) || `HTTP ${r.status}`;
    throw Object.assign(new Error(msg), { status: r.status, body: data });
  }
  return data;
}

export function toast(message, bad = false) {
  const box = document.getElementById("toast");
  const item = el("div", { class: bad ? "bad" : "" }, message);
  box.append(item);
  setTimeout(() => item.remove(), bad ? 9000 : 5000);
}

/** Report a failed action in the page (not the JS console: a refused request is not a page error). */
export function failed(what, err) {
  toast(`${what}: ${err.message}`, true);
}

/** A confirmation dialog with optional fields; resolves to the fields' values, or null when cancelled. */
export function ask({ title, text, fields = [], ok = "Confirm" }) {
  const dialog = document.getElementById("ask");
  document.getElementById("ask-title").textContent = title;
  document.getElementById("ask-text").textContent = text || "";
  document.getElementById("ask-ok").textContent = ok;
  const box = document.getElementById("ask-fields");
  box.replaceChildren();
  for (const f of fields) {
    const id = `ask-${f.name}`;
    box.append(el("label", { for: id }, f.label));
    if (f.options) {
      const select = el("select", { id, name: f.name, required: f.required || false },
        el("option", { value: "" }, "choose..."),
        Object.entries(f.options).map(([v, label]) => el("option", { value: v }, label)));
      box.append(select);
    } else {
      box.append(el(f.multiline ? "textarea" : "input", { id, name: f.name, required: f.required || false, maxlength: 500 }));
    }
  }
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue !== "ok") return resolve(null);
      const out = {};
      for (const f of fields) out[f.name] = document.getElementById(`ask-${f.name}`).value.trim();
      resolve(out);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

export const fmt = {
  pct: (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`),
  num: (x, d = 0) => (x === null || x === undefined ? "–" : Number(x).toFixed(d)),
  mins: (m) => {
    if (m === null || m === undefined) return "–";
    if (m < 90) return `${Math.round(m)} min`;
    if (m < 60 * 48) return `${(m / 60).toFixed(1)} h`;
    return `${(m / 1440).toFixed(1)} d`;
  },
  time: (iso) => (iso ? new Date(iso).toISOString().slice(5, 16).replace("T", " ") : "–"),
};

/** A periodic refresh that runs only while its view is shown. */
export function every(seconds, view, fn) {
  let timer = null;
  const tick = async () => {
    if (!document.getElementById(`view-${view}`).hidden) await fn();
    timer = setTimeout(tick, seconds * 1000);
  };
  timer = setTimeout(tick, seconds * 1000);
  return () => clearTimeout(timer);
}

const mounted = new Map();

function show(views, ctx) {
  const wanted = location.hash.slice(1);
  const current = views.find((v) => v.id === wanted) || views[0];
  for (const v of views) {
    const section = document.getElementById(`view-${v.id}`);
    const on = v.id === current.id;
    section.hidden = !on;
    document.querySelector(`nav a[data-view="${v.id}"]`).classList.toggle("active", on);
    if (on && !mounted.has(v.id)) mounted.set(v.id, MOUNTS[v.id](section, ctx));
    if (on && mounted.has(v.id)) Promise.resolve(mounted.get(v.id)).then((m) => m && m.shown && m.shown());
  }
  document.body.dataset.view = current.id;
}

async function start() {
  const me = await api("GET", "/console/api/me");
  document.getElementById("who").textContent = `${me.name} (${me.role})`;
  document.getElementById("sign-out").addEventListener("click", async () => {
    await api("POST", "/console/logout");
    location.assign("/console");
  });
  const nav = document.getElementById("nav");
  for (const v of me.views) nav.append(el("a", { href: `#${v.id}`, dataset: { view: v.id } }, v.title));
  for (const section of document.querySelectorAll(".view")) {
    if (!me.views.some((v) => `view-${v.id}` === section.id)) section.remove();
  }
  if (!me.views.length) {
    document.getElementById("no-views").hidden = false;
    return;
  }
  const ctx = { me, words: me.words, refresh: me.refresh_seconds };
  window.addEventListener("hashchange", () => show(me.views, ctx));
  show(me.views, ctx);
  document.body.dataset.ready = "1";
}

start().catch((err) => { if (err.status !== 401) toast(`console failed to start: ${err.message}`, true); });
