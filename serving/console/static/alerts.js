// Alerts as incidents: one row per condition and scope (kind, province), with its count, worst examples
// and trend, one line each (the words in a tooltip); a summary by kind on top so that the night fits a
// screen; ack and silence (with a reason and an end); the recently resolved ones beside.
import { api, ask, el, every, failed, fmt, toast } from "./console.js";

const PAGE = 20; // one line each: the summary and a page fit a 1366 x 768 screen
const words = (k) => k.replaceAll("_", " ");
const TREND = { rising: "↑ rising", falling: "↓ falling", steady: "→ steady", new: "new" };

function examples(a) {
  if (!a.examples || !a.examples.length || a.count <= 1) return "";
  return a.examples.slice(0, 3).map((e) => `${e.subject_id} (${fmt.num(e.value, e.value < 1 ? 2 : 1)})`).join(", ");
}

/** An incidents table; ``onAck`` / ``onSilence`` add the buttons (roles that may use them). */
export function alertTable(alerts, { onAck, onSilence, showAck = true } = {}) {
  return el("table", { class: "alerts" },
    el("thead", {}, el("tr", {}, ["", "Kind", "Prov.", "Count", "Trend", "What", "Since", showAck ? "" : "Resolved"].map((c) => el("th", {}, c)))),
    el("tbody", {}, alerts.map((a) => el("tr", { dataset: { alert: a.id, state: a.state } },
      el("td", {}, el("span", { class: `tag ${a.severity}`, title: a.severity }, a.severity.slice(0, 4))),
      el("td", {}, words(a.kind)),
      el("td", {}, a.province_id || "–"),
      el("td", { class: "num" }, String(a.count)),
      el("td", { title: `first ${fmt.num(a.value_first, 2)}, peak ${fmt.num(a.value_peak, 2)}` }, TREND[a.trend] || a.trend),
      el("td", { class: "clip", title: examples(a) ? `${a.message}\nworst: ${examples(a)}` : a.message }, a.message),
      el("td", { title: `last seen ${fmt.time(a.last_seen)}` }, fmt.time(a.first_seen)),
      showAck ? el("td", {},
        a.silenced ? el("span", { class: "muted", title: a.silence.reason }, `silenced to ${fmt.time(a.silence.ends_at)}`) : "",
        a.state === "acked" ? el("span", { class: "muted" }, ` acked by ${a.acked_by}`) : "",
        a.inhibited_by ? el("span", { class: "muted", title: a.inhibited_by }, " explained by the province backlog") : "",
        a.state === "open" && onAck ? el("button", { type: "button", class: "small", dataset: { action: "ack" }, onclick: () => onAck(a) }, "ack") : "",
        !a.silenced && onSilence ? el("button", { type: "button", class: "small secondary", dataset: { action: "silence" }, onclick: () => onSilence(a) }, "silence") : "")
        : el("td", { class: "wrap" }, a.state === "resolved" ? `${a.resolved_by || ""} ${fmt.time(a.resolved_at)}` : "open",
          a.acked_by ? el("div", { class: "muted" }, `acked by ${a.acked_by}${a.ack_note ? `: ${a.ack_note}` : ""}`) : ""),
    ))));
}

/** Ask for a note and acknowledge; true when done. */
export async function ackAlert(a) {
  const answer = await ask({ title: `Acknowledge ${words(a.kind)}`, text: a.message, ok: "Acknowledge",
    fields: [{ name: "note", label: "Note (what you did)", required: true, multiline: true }] });
  if (answer === null) return false;
  try {
    await api("POST", `/alerts/${encodeURIComponent(a.id)}/ack`, { note: answer.note });
    toast(`acknowledged: ${words(a.kind)} ${a.province_id || ""}`);
    return true;
  } catch (err) {
    failed("ack", err);
    return false;
  }
}

/** Ask for a reason and a duration and silence the incident's scope; true when done. */
export async function silenceAlert(a) {
  const answer = await ask({ title: `Silence ${words(a.kind)} ${a.province_id || ""}`, text: a.message, ok: "Silence",
    fields: [{ name: "reason", label: "Reason", required: true, multiline: true },
      { name: "hours", label: "For", required: true, options: { 1: "1 hour", 4: "4 hours", 12: "12 hours", 24: "1 day", 72: "3 days" } }] });
  if (answer === null) return false;
  try {
    await api("POST", `/alerts/${encodeURIComponent(a.id)}/silence`, { reason: answer.reason, minutes: 60 * Number(answer.hours) });
    toast(`silenced for ${answer.hours} h: ${words(a.kind)} ${a.province_id || ""}`);
    return true;
  } catch (err) {
    failed("silence", err);
    return false;
  }
}

export function mountAlerts(section, ctx) {
  const canAct = ["risk", "ops_head", "admin"].includes(ctx.me.role);
  const kind = el("select", { id: "alerts-kind" }, el("option", { value: "" }, "all kinds"),
    ctx.words.alert_kinds.map((k) => el("option", { value: k }, words(k))));
  const province = el("input", { id: "alerts-province", placeholder: "province, e.g. P01", size: 10 });
  const state = el("select", { id: "alerts-state" }, ["open", "acked", "silenced", "inhibited", "active"].map((s) => el("option", { value: s }, s)));
  const mine = el("select", { id: "alerts-role" }, el("option", { value: "" }, "for everyone"), el("option", { value: ctx.me.role }, "for my role"));
  const summary = el("div", { id: "alerts-summary", class: "toolbar" });
  const open = el("div", { id: "alerts-open" });
  const pager = el("div", { class: "toolbar" });
  const history = el("div", { id: "alerts-history" });
  let offset = 0;
  section.classList.add("grid-alerts");
  section.append(
    el("div", { class: "panel" }, el("h2", {}, "Alerts"), summary,
      el("div", { class: "toolbar" }, state, kind, province, mine,
        el("button", { type: "button", class: "secondary", onclick: () => { offset = 0; refresh(); } }, "Filter")),
      el("div", { class: "scroll" }, open), pager),
    el("div", { class: "panel" }, el("h2", {}, "Acknowledged and resolved"), el("div", { class: "scroll" }, history)),
  );

  function query(extra) {
    const q = new URLSearchParams({ limit: String(PAGE), ...extra });
    if (kind.value) q.set("kind", kind.value);
    if (province.value.trim()) q.set("province_id", province.value.trim());
    if (mine.value && !["ops_head", "admin"].includes(mine.value)) q.set("role", mine.value);
    return `/alerts?${q}`;
  }

  async function refresh() {
    try {
      const [now, all, acked, resolved] = await Promise.all([api("GET", query({ state: state.value, offset: String(offset) })),
        api("GET", query({ state: "active", limit: "1000" })), api("GET", query({ state: "acked" })), api("GET", query({ state: "resolved" }))]);
      const done = { alerts: [...acked.alerts, ...resolved.alerts] };
      const byKind = new Map();
      for (const a of all.alerts) {
        const k = byKind.get(a.kind) || { incidents: 0, count: 0 };
        byKind.set(a.kind, { incidents: k.incidents + 1, count: k.count + a.count });
      }
      summary.replaceChildren(...[...byKind.entries()].map(([k, v]) => el("button", { type: "button", class: "small secondary", dataset: { kind: k },
        onclick: () => { kind.value = k; offset = 0; refresh(); } }, `${words(k)}: ${v.incidents} × ${v.count}`)));
      const act = canAct ? { onAck: async (a) => { if (await ackAlert(a)) refresh(); }, onSilence: async (a) => { if (await silenceAlert(a)) refresh(); } } : {};
      open.replaceChildren(now.alerts.length ? alertTable(now.alerts, act) : el("p", { class: "muted" }, "No alert matches."));
      pager.replaceChildren(el("span", { class: "muted" }, `${now.offset + 1}–${now.offset + now.count} of ${now.total}`),
        now.offset > 0 ? el("button", { type: "button", class: "small secondary", onclick: () => { offset = Math.max(0, offset - PAGE); refresh(); } }, "previous") : "",
        now.next_offset !== null ? el("button", { type: "button", class: "small secondary", onclick: () => { offset = now.next_offset; refresh(); } }, "next") : "");
      history.replaceChildren(done.alerts.length ? alertTable(done.alerts, { showAck: false }) : el("p", { class: "muted" }, "Nothing acknowledged or resolved yet."));
      section.dataset.rendered = String(Date.now());
    } catch (err) {
      failed("alerts", err);
    }
  }
  refresh();
  every(ctx.refresh * 2, "alerts", refresh);
  return { shown: refresh };
}
