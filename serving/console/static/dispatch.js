// Dispatcher: the waiting queue (GET /tasks), ranked workers for a task (POST /rank) with reasons in
// words, assign the top choice or override with a reason (POST /assignments), the monitor's re-dispatches.
import { api, ask, el, every, failed, fmt, toast } from "./console.js";

const SORTS = { sla_due_at: "SLA due, soonest first", "-sla_due_at": "SLA due, latest first",
  created_at: "oldest first", "-created_at": "newest first" };

function partsBar(parts, words) {
  const entries = Object.entries(parts);
  const total = entries.reduce((s, [, v]) => s + Math.max(0, v), 0) || 1;
  const bar = el("span", { class: "parts", title: entries.map(([k, v]) => `${words[k] || k}: ${v.toFixed(3)}`).join("\n") });
  entries.forEach(([, v], i) => {
    const seg = el("i", { class: `p${i}` });
    seg.style.width = `${(100 * Math.max(0, v)) / total}%`;
    bar.append(seg);
  });
  return bar;
}

export function mountDispatch(section, ctx) {
  const w = ctx.words;
  const province = el("input", { id: "queue-province", placeholder: "province", size: 8 });
  const type = el("select", { id: "queue-type" }, el("option", { value: "" }, "all types"),
    w.task_types.map((t) => el("option", { value: t }, t.replaceAll("_", " "))));
  const sort = el("select", { id: "queue-sort" }, Object.entries(SORTS).map(([v, t]) => el("option", { value: v }, t)));
  const urgency = el("select", { id: "queue-urgency" }, el("option", { value: "" }, "any SLA state"),
    ["overdue", "near_sla", "normal"].map((u) => el("option", { value: u }, u.replace("_", " "))));
  const count = el("span", { class: "muted" });
  const queue = el("tbody", { id: "queue-rows" });
  const detail = el("div", { id: "rank-panel" }, el("p", { class: "muted" }, "Choose a task in the queue to see the ranked workers."));
  const moves = el("div", { id: "redispatches" });
  let selected = null;
  section.classList.add("grid-dispatch");
  section.append(
    el("div", { class: "panel" }, el("div", { class: "toolbar" }, el("h2", {}, "Waiting tasks"), count),
      el("div", { class: "toolbar" }, province, type, urgency, sort,
        el("button", { type: "button", class: "secondary", id: "queue-filter", onclick: () => loadQueue() }, "Filter")),
      el("div", { class: "scroll half" }, el("table", { id: "queue-table" },
        el("thead", {}, el("tr", {}, ["Task", "Type", "Province", "SLA in", "Waiting", "Risk", "Tries"].map((c) => el("th", {}, c)))), queue)),
      el("h3", {}, "Re-dispatched by the monitor"), el("div", { class: "scroll half" }, moves)),
    el("div", { class: "panel" }, detail),
  );

  async function loadQueue() {
    const q = new URLSearchParams({ status: "waiting", sort: sort.value, limit: "300" });
    if (province.value.trim()) q.set("province_id", province.value.trim());
    if (type.value) q.set("task_type", type.value);
    let got;
    try {
      got = await api("GET", `/tasks?${q}`);
    } catch (err) {
      return failed("queue", err);
    }
    const tasks = urgency.value ? got.tasks.filter((t) => t.urgency === urgency.value) : got.tasks;
    count.textContent = ` ${tasks.length} shown of ${got.total}`;
    queue.replaceChildren(...tasks.map((t) => el("tr", {
      class: `clickable ${selected === t.task_id ? "selected" : ""}`, dataset: { task: t.task_id }, onclick: () => openTask(t),
    },
    el("td", {}, t.task_id), el("td", {}, t.task_type.replaceAll("_", " ")), el("td", {}, t.province_id),
    el("td", { class: `num ${t.urgency === "overdue" ? "bad" : t.urgency === "near_sla" ? "warn" : ""}` }, `${fmt.num(t.hours_to_sla, 1)} h`),
    el("td", {}, fmt.time(t.since)),
    el("td", {}, t.risk_tier ? el("span", { class: `tag ${t.risk_tier}` }, t.risk_tier) : "–"),
    el("td", { class: "num" }, t.assignments))));
    section.dataset.rendered = String(Date.now());
  }

  async function commit(task, worker, top, reason, note) {
    const body = { task_id: task.task_id, worker_id: worker.worker_id, source: reason ? "person" : "rank", ranked_worker_id: top.worker_id };
    if (reason) body.override_reason = reason;
    if (note) body.note = note;
    try {
      const out = await api("POST", "/assignments", body);
      toast(`${task.task_id} assigned to ${out.worker_id}${reason ? ` (override: ${w.override_reasons[reason]})` : ""}`);
      selected = null;
      detail.replaceChildren(el("p", { class: "ok", id: "assigned-note" }, `${task.task_id} → ${out.worker_id} (${out.assignment_id})`));
    } catch (err) {
      failed(`assign ${task.task_id}`, err);
    }
    await loadQueue();
  }

  async function override(task, worker, top) {
    const answer = await ask({
      title: `Give ${task.task_id} to ${worker.worker_id} instead of ${top.worker_id}?`,
      text: "Choosing another worker than the top-ranked one needs a reason; it is recorded with the assignment.",
      ok: "Assign with this reason",
      fields: [{ name: "reason", label: "Reason", options: w.override_reasons, required: true }, { name: "note", label: "Note (optional)" }],
    });
    if (answer === null) return;
    await commit(task, worker, top, answer.reason, answer.note);
  }

  async function openTask(task) {
    selected = task.task_id;
    for (const tr of queue.children) tr.classList.toggle("selected", tr.dataset.task === task.task_id);
    detail.replaceChildren(el("p", { class: "muted" }, `ranking workers for ${task.task_id}…`));
    let r;
    try {
      r = await api("POST", "/rank", { task_id: task.task_id, top_k: 8 });
    } catch (err) {
      detail.replaceChildren(el("p", { class: "bad" }, `rank: ${err.message}`));
      return;
    }
    if (selected !== task.task_id) return;
    const excluded = Object.entries(r.excluded).filter(([, n]) => n).map(([k, n]) => `${n} ${k.replaceAll("_", " ")}`).join(", ");
    const top = r.workers[0];
    detail.replaceChildren(
      el("h2", {}, `${task.task_id}: ${task.task_type.replaceAll("_", " ")} in ${task.province_id}`),
      el("p", { class: "muted" }, `${r.eligible} eligible workers; left out: ${excluded || "none"}.`),
      top ? el("button", { type: "button", id: "assign-top", onclick: () => commit(task, top, top) }, `Assign top choice: ${top.worker_id}`)
        : el("p", { class: "bad" }, "No eligible worker now."),
      el("div", { class: "scroll wide" }, el("table", { id: "rank-table" },
        el("thead", {}, el("tr", {}, ["#", "Worker", "Minutes", "P(QA pass)", "P(complaint)", "Cost", "Why"].map((c) => el("th", {}, c)))),
        el("tbody", {}, r.workers.map((wk, i) => el("tr", { dataset: { worker: wk.worker_id, rank: wk.rank } },
          el("td", {}, wk.rank),
          el("td", {}, wk.worker_id, " ", i === 0 ? el("span", { class: "tag on" }, "top")
            : el("button", { type: "button", class: "small secondary", dataset: { action: "override" }, onclick: () => override(task, wk, top) }, "choose"),
          el("div", { class: "muted" }, `${wk.province_id} · ${wk.open_tasks}/${wk.capacity} open`)),
          el("td", { class: "num" }, fmt.num(wk.predicted_minutes, 0)),
          el("td", { class: "num" }, fmt.pct(wk.p_qa_pass)),
          el("td", { class: "num" }, fmt.pct(wk.p_complaint)),
          el("td", {}, fmt.num(wk.cost, 2), " ", partsBar(wk.cost_parts, w.cost_parts)),
          el("td", { class: "wrap why" }, wk.reason_codes.map((c) => w.rank_reasons[c] || c.replaceAll("_", " ")).join("; ")),
        ))))),
      el("div", { class: "legend" }, Object.entries(w.cost_parts).map(([, t], i) => el("span", {}, el("i", { class: `p${i}` }), t))),
    );
  }

  async function loadMoves() {
    if (!w.alert_kinds.includes("redispatch")) {
      moves.replaceChildren(el("p", { class: "muted" }, "The monitor's re-dispatches appear here."));
      return;
    }
    try {
      const got = await api("GET", "/alerts?kind=redispatch&limit=50");
      // one incident per province; its examples are the moves, each in words: the task, whom it was
      // taken from, why, how long it waited
      const items = got.alerts.flatMap((a) => a.examples.map((e) => [a, e]));
      moves.replaceChildren(items.length ? el("ul", { class: "plain" }, items.map(([a, e]) => {
        const reason = (e.details && e.details.reason) || "";
        return el("li", { dataset: { alert: a.id, task: e.subject_id, reason } }, el("span", { class: "muted" }, `${fmt.time(a.last_seen)} `),
          e.message);
      })) : el("p", { class: "muted" }, "No re-dispatch yet."));
    } catch (err) {
      failed("re-dispatches", err);
    }
  }

  loadQueue();
  loadMoves();
  every(ctx.refresh * 2, "dispatch", async () => { await loadQueue(); await loadMoves(); });
  return { shown: loadQueue };
}
