// Alerts for everyone: filter by kind, province and state; ack with a note; the history of acks.
import { api, ask, el, every, failed, fmt, toast } from "./console.js";

/** An alerts table; ``ackable`` adds the ack button (roles that may POST /alerts/{id}/ack). */
export function alertTable(alerts, { onAck, showAck = true } = {}) {
  return el("table", { class: "alerts" },
    el("thead", {}, el("tr", {}, ["Seen", "Kind", "Severity", "Province", "Subject", "Message", showAck ? "" : "Acked by"].map((c) => el("th", {}, c)))),
    el("tbody", {}, alerts.map((a) => el("tr", { dataset: { alert: a.id } },
      el("td", {}, fmt.time(a.last_seen)),
      el("td", {}, a.kind.replaceAll("_", " ")),
      el("td", {}, el("span", { class: `tag ${a.severity}` }, a.severity)),
      el("td", {}, a.province_id || "–"),
      el("td", {}, a.subject_id),
      el("td", { class: "wrap" }, a.message),
      showAck
        ? el("td", {}, a.acked ? el("span", { class: "muted" }, `acked by ${a.acked_by}`)
          : el("button", { type: "button", class: "small", dataset: { action: "ack" }, onclick: () => onAck(a) }, "ack"))
        : el("td", { class: "wrap" }, `${a.acked_by || ""} ${fmt.time(a.acked_at)}`, a.ack_note ? el("div", { class: "muted" }, a.ack_note) : ""),
    ))));
}

/** Ask for a note and acknowledge; true when done. */
export async function ackAlert(a) {
  const answer = await ask({ title: `Acknowledge ${a.kind.replaceAll("_", " ")}`, text: a.message, ok: "Acknowledge",
    fields: [{ name: "note", label: "Note (what you did)", required: true, multiline: true }] });
  if (answer === null) return false;
  try {
    await api("POST", `/alerts/${encodeURIComponent(a.id)}/ack`, { note: answer.note });
    toast(`alert acknowledged: ${a.subject_id}`);
    return true;
  } catch (err) {
    failed("ack", err);
    return false;
  }
}

export function mountAlerts(section, ctx) {
  const canAck = ["risk", "ops_head", "admin"].includes(ctx.me.role);
  const kind = el("select", { id: "alerts-kind" }, el("option", { value: "" }, "all kinds"),
    ctx.words.alert_kinds.map((k) => el("option", { value: k }, k.replaceAll("_", " "))));
  const province = el("input", { id: "alerts-province", placeholder: "province, e.g. P01", size: 12 });
  const state = el("select", { id: "alerts-state" }, el("option", { value: "false" }, "open"),
    el("option", { value: "" }, "open and acked"));
  const open = el("div", { id: "alerts-open" });
  const history = el("div", { id: "alerts-history" });
  section.classList.add("grid-two");
  section.append(
    el("div", { class: "panel" }, el("h2", {}, "Alerts"),
      el("div", { class: "toolbar" }, kind, province, state, el("button", { type: "button", class: "secondary", onclick: () => refresh() }, "Filter")),
      el("div", { class: "scroll" }, open)),
    el("div", { class: "panel" }, el("h2", {}, "History of acknowledgements"), el("div", { class: "scroll" }, history)),
  );

  function query(acked) {
    const q = new URLSearchParams({ limit: "200" });
    if (kind.value) q.set("kind", kind.value);
    if (province.value.trim()) q.set("province_id", province.value.trim());
    if (acked !== "") q.set("acked", acked);
    return `/alerts?${q}`;
  }

  async function refresh() {
    try {
      const [now, acked] = await Promise.all([api("GET", query(state.value)), api("GET", query("true"))]);
      open.replaceChildren(now.alerts.length ? alertTable(now.alerts, { showAck: canAck, onAck: async (a) => { if (await ackAlert(a)) refresh(); } })
        : el("p", { class: "muted" }, "No alert matches."));
      const done = [...acked.alerts].sort((a, b) => (b.acked_at || "").localeCompare(a.acked_at || ""));
      history.replaceChildren(done.length ? alertTable(done, { showAck: false }) : el("p", { class: "muted" }, "Nothing acknowledged yet."));
      section.dataset.rendered = String(Date.now());
    } catch (err) {
      failed("alerts", err);
    }
  }
  refresh();
  every(ctx.refresh * 2, "alerts", refresh);
  return { shown: refresh };
}
