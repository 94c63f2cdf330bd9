// Risk team: today's watchlist (GET /watchlist) with the customer's context and reasons in business
// language, recording an intervention (POST /interventions), high-risk alerts with ack.
import { api, ask, el, every, failed, fmt, toast } from "./console.js";
import { ackAlert, alertTable } from "./alerts.js";

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `IV-console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function mountRisk(section, ctx) {
  const w = ctx.words;
  // The service's clock may be a demo clock: stamp interventions in its time, not the browser's.
  const offset = new Date(ctx.me.now).getTime() - Date.now();
  const head = el("p", { class: "muted", id: "watchlist-head" });
  const list = el("tbody", { id: "watchlist-rows" });
  const alerts = el("div", { id: "risk-alerts" });
  section.classList.add("grid-board");
  section.append(
    el("div", { class: "panel" }, el("h2", {}, "Today's watchlist"), head,
      el("div", { class: "scroll" }, el("table", { id: "watchlist-table" },
        el("thead", {}, el("tr", {}, ["#", "Customer", "P(complaint)", "Prevented", "Context", "Riskiest open task", "Why", ""].map((c) => el("th", {}, c)))),
        list))),
    el("div", { class: "panel" }, el("h2", {}, "Risk alerts"), el("div", { class: "scroll" }, alerts)),
  );

  async function record(row) {
    const answer = await ask({
      title: `Contact with ${row.customer_id}`,
      text: `${row.task.summary}`,
      ok: "Record",
      fields: [
        { name: "kind", label: "Contact", options: Object.fromEntries(w.intervention_kinds.map((k) => [k, k])), required: true },
        { name: "outcome", label: "Outcome", options: Object.fromEntries(w.intervention_outcomes.map((k) => [k, k.replaceAll("_", " ")])), required: true },
        { name: "note", label: "Note (optional)", multiline: true },
      ],
    });
    if (answer === null) return;
    const item = { intervention_id: newId(), customer_id: row.customer_id, task_id: row.task.task_id,
      at: new Date(Date.now() + offset - 1000).toISOString(), kind: answer.kind, outcome: answer.outcome };
    if (answer.note) item.note = answer.note;
    try {
      const out = await api("POST", "/interventions", { interventions: [item] });
      toast(`${row.customer_id}: ${answer.kind} recorded (${answer.outcome}) by ${out.actor}`);
    } catch (err) {
      failed("intervention", err);
    }
    await loadList();
  }

  async function loadList() {
    let wl;
    try {
      wl = await api("GET", "/watchlist");
    } catch (err) {
      // e.g. 503 before the first complaint model is served: say why the list is empty, in the panel
      head.textContent = `No watchlist now: ${err.message}`;
      head.className = "bad";
      list.replaceChildren();
      section.dataset.rendered = String(Date.now());
      return failed("watchlist", err);
    }
    head.className = "muted";
    head.textContent = `${wl.date}: ${wl.contacts} contacts for a capacity of ${wl.capacity} (${wl.held_out} held out at random for measurement, ` +
      `${wl.recently_contacted} contacted recently); ${wl.eligible_customers} customers with ${wl.open_tasks} open tasks.`;
    list.replaceChildren(...wl.rows.map((r) => el("tr", { dataset: { customer: r.customer_id } },
      el("td", {}, r.rank),
      el("td", {}, r.customer_id, el("div", { class: "muted" }, r.province_id)),
      el("td", {}, el("span", { class: `tag ${r.tier}` }, fmt.pct(r.p_complaint))),
      el("td", { class: "num" }, fmt.num(r.expected_complaints_prevented, 3)),
      el("td", { class: "wrap" }, `${r.context.prior_complaints} prior complaints · ${r.context.tasks_waiting} open (${fmt.num(r.context.hours_waiting, 1)} h) · `,
        `${r.context.contacts_30d} contacts in 30 d${r.context.last_contact_at ? `, last ${fmt.time(r.context.last_contact_at)}` : ""}`),
      el("td", { class: "wrap" }, `${r.task.task_id}: ${r.task.summary}`),
      el("td", { class: "wrap" }, el("ul", { class: "reasons" }, r.reasons.slice(0, 3).map((x) => el("li", {}, x.text)))),
      el("td", {}, r.held_out ? el("span", { class: "tag", title: "random holdout: not contacted, so the effect can be measured" }, "holdout")
        : el("button", { type: "button", class: "small", dataset: { action: "intervene" }, onclick: () => record(r) }, "record contact")),
    )));
    section.dataset.rendered = String(Date.now());
  }

  async function loadAlerts() {
    try {
      const got = await api("GET", "/alerts?kind=high_risk&acked=false&limit=100");
      alerts.replaceChildren(got.alerts.length ? alertTable(got.alerts, { onAck: async (a) => { if (await ackAlert(a)) loadAlerts(); } })
        : el("p", { class: "muted" }, "No open high-risk alert."));
    } catch (err) {
      failed("risk alerts", err);
    }
  }

  loadList();
  loadAlerts();
  every(ctx.refresh * 4, "risk", async () => { await loadList(); await loadAlerts(); });
  return { shown: loadAlerts };
}
