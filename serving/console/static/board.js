// National board (ops head): every province, national KPIs with their 24 h trend, sharing and emergency
// toggles behind a confirmation (PUT /policy), the audit list. One GET /console/api/board per refresh.
import { api, ask, el, every, failed, fmt, toast } from "./console.js";
import { sparkline } from "./charts.js";

const KPIS = [
  ["arrivals", "arrivals, 24 h", (k) => fmt.num(k.arrivals), "arrivals"],
  ["done", "completed, 24 h", (k) => fmt.num(k.done), "done"],
  ["mean_turnaround_hours", "mean turnaround", (k) => (k.mean_turnaround_hours === null ? "–" : `${k.mean_turnaround_hours} h`), "mean_turnaround_hours"],
  ["sla_met", "SLA met", (k) => fmt.pct(k.sla_met), "sla_met"],
  ["qa_pass", "QA pass", (k) => fmt.pct(k.qa_pass), "qa_pass"],
  ["complaints", "complaints, 24 h", (k) => fmt.num(k.complaints), "complaints"],
];

const COLUMNS = ["Province", "Backlog", "In progress", "On shift / staff", "At capacity", "Utilisation",
  "SLA overdue", "SLA near", "Oldest waiting", "Share in", "Share out", "Emergency"];

export function mountBoard(section, ctx) {
  const tbody = el("tbody", { id: "board-rows" });
  const kpis = el("div", { class: "kpis", id: "board-kpis" });
  const audit = el("ul", { class: "plain", id: "board-audit" });
  const stamp = el("span", { class: "muted", id: "board-stamp" });
  const numeric = new Set([1, 2, 3, 4, 6, 7, 8]);
  section.classList.add("grid-board");
  section.append(
    el("div", { class: "panel" },
      el("div", { class: "toolbar" }, el("h2", {}, "Provinces"), stamp),
      el("div", { class: "scroll" },
        el("table", { id: "board-table" },
          el("thead", {}, el("tr", {}, COLUMNS.map((c, i) => el("th", { class: numeric.has(i) ? "num" : "" }, c)))),
          tbody))),
    el("div", { class: "panel" },
      el("h2", {}, "National"), kpis,
      el("h3", {}, "Audit: policy changes, closes, acks"), el("div", { class: "scroll half" }, audit)),
  );
  let board = null;

  async function change(p, field, value, title, text) {
    const answer = await ask({ title, text, fields: [{ name: "note", label: "Note for the audit (optional)" }] });
    if (answer === null) return;
    const note = answer.note || `${field} ${value} from the console`;
    try {
      await api("PUT", "/policy", { provinces: { [p.province_id]: { [field]: value } }, note });
      toast(`${p.province_id}: ${field} set to ${value}`);
      if (field === "closed" && value) await redispatch(p.province_id);
    } catch (err) {
      failed(`${p.province_id}: ${field}`, err);
    }
    await refresh();
  }

  // Emergency close: the province's waiting tasks go to the other provinces now (committed assignments).
  async function redispatch(province) {
    const waiting = await api("GET", `/tasks?status=waiting&province_id=${encodeURIComponent(province)}&limit=5000`);
    const ids = waiting.tasks.map((t) => t.task_id);
    if (!ids.length) return toast(`${province}: no waiting task to re-dispatch`);
    const out = await api("POST", "/assign", { task_ids: ids, commit: true });
    toast(`${province}: ${out.committed ?? out.n_assigned} of ${ids.length} waiting tasks re-dispatched`);
  }

  function toggle(p, field, label) {
    const on = p[field];
    return el("button", {
      type: "button", class: `small ${on ? "secondary" : ""}`, dataset: { action: field, province: p.province_id },
      title: `${label} is ${on ? "on" : "off"}: click to turn it ${on ? "off" : "on"}`,
      onclick: () => change(p, field, !on, `${on ? "Stop" : "Allow"} ${label} for ${p.name}?`,
        on ? `${p.province_id} will no longer ${field === "share_in" ? "take tasks from" : "send tasks to"} other provinces.`
          : `${p.province_id} will ${field === "share_in" ? "take tasks from" : "send tasks to"} other provinces again.`),
    }, on ? "on" : "off");
  }

  function emergency(p) {
    if (p.closed) {
      return el("button", { type: "button", class: "small", dataset: { action: "reopen", province: p.province_id },
        onclick: () => change(p, "closed", false, `Reopen ${p.name}?`, "Its workers rejoin the pool and its tasks stay at home again.") },
      "closed: reopen");
    }
    return el("button", { type: "button", class: "small secondary", dataset: { action: "close", province: p.province_id },
      onclick: () => change(p, "closed", true, `Emergency close ${p.name}?`,
        `${p.province_id}'s workers leave the pool and its ${p.backlog} waiting tasks are re-dispatched to other provinces now.`) },
    "close");
  }

  function row(p) {
    const util = p.utilisation;
    const bar = el("span", { class: `bar ${util !== null && util >= 0.9 ? "hot" : ""}` }, el("i"));
    bar.firstChild.style.width = `${Math.min(100, Math.round(100 * (util || 0)))}%`;
    return el("tr", { class: p.closed ? "closed" : "", dataset: { province: p.province_id } },
      el("td", { title: p.name }, `${p.province_id} `, el("span", { class: "muted" }, p.name !== p.province_id ? p.name : ""),
        ...(marks.get(p.province_id) || []).map((a) => el("span", { class: `tag ${a.severity}`, dataset: { indicator: a.kind }, title: a.message },
          a.kind.replaceAll("_", " ")))),
      el("td", { class: "num" }, p.backlog),
      el("td", { class: "num" }, p.in_progress),
      el("td", { class: "num" }, `${p.on_shift} / ${p.staff}`),
      el("td", { class: `num ${p.at_capacity ? "warn" : ""}` }, p.at_capacity),
      el("td", {}, bar, ` ${fmt.pct(util)}`),
      el("td", { class: `num ${p.sla_overdue ? "bad" : ""}` }, p.sla_overdue),
      el("td", { class: `num ${p.sla_near ? "warn" : ""}` }, p.sla_near),
      el("td", { class: "num", title: p.oldest_task_id || "" }, fmt.mins(p.oldest_minutes)),
      el("td", {}, toggle(p, "share_in", "sharing in")),
      el("td", {}, toggle(p, "share_out", "sharing out")),
      el("td", {}, emergency(p)),
    );
  }

  function renderKpis(b) {
    kpis.replaceChildren(...KPIS.map(([key, label, value, series]) =>
      el("div", { class: "kpi", dataset: { kpi: key } }, el("b", {}, value(b.kpis)), el("span", {}, label),
        sparkline(b.trend[series], `${label}, hourly over 24 h`))));
    kpis.append(el("div", { class: "kpi" }, el("b", {}, `${b.kpis.backlog}`), el("span", {}, "waiting now")),
      el("div", { class: "kpi" }, el("b", {}, `${b.kpis.sla_overdue}`), el("span", {}, "open tasks past SLA")));
  }

  async function loadAudit() {
    const got = await api("GET", "/console/api/audit?limit=40");
    audit.replaceChildren(...got.entries
      .filter((e) => !["outcomes", "worker_status"].includes(e.action))
      .map((e) => el("li", { dataset: { action: e.action } },
        el("span", { class: "muted" }, `${fmt.time(e.at)} `), el("b", {}, e.actor), ` ${e.action.replaceAll("_", " ")} `,
        e.target && e.target !== "console" ? e.target : "", e.detail && e.detail.note ? el("span", { class: "muted" }, ` “${e.detail.note}”`) : "")));
  }

  // the operating indicators past their thresholds mark their province (alerts.js has the list)
  let marks = new Map();
  async function loadMarks() {
    const got = await api("GET", `/alerts?state=active&limit=1000&role=ops_head`);
    marks = new Map();
    for (const a of got.alerts.filter((x) => ctx.words.indicators.includes(x.kind) && x.province_id)) {
      marks.set(a.province_id, [...(marks.get(a.province_id) || []), a]);
    }
  }

  async function refresh() {
    try {
      [board] = await Promise.all([api("GET", "/console/api/board"), loadMarks().catch(() => null)]);
    } catch (err) {
      return failed("board", err);
    }
    tbody.replaceChildren(...board.provinces.map(row));
    renderKpis(board);
    stamp.textContent = ` ${board.provinces.length} provinces · as of ${fmt.time(board.as_of)} UTC · server ${board.server_ms} ms · every ${board.refresh_seconds} s`;
    section.dataset.rendered = String(Date.now());
    if (!section.dataset.firstRenderMs) section.dataset.firstRenderMs = performance.now().toFixed(1);
    section.dataset.provinces = String(board.provinces.length);
    await loadAudit().catch((err) => failed("audit", err));
  }

  refresh();
  every(ctx.refresh, "board", refresh);
  return { shown: () => board && refresh() };
}
