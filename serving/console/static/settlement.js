// Settlement (ops head): a month's statement between provinces (GET /settlement): the net position per
// province, the matrix of who worked for whom, and the lines behind a province or a cell (paged);
// closing a month (POST /settlement/close, audited).
import { api, ask, el, failed, toast } from "./console.js";

const PAGE = 100;

function lastMonth(iso) {
  const d = new Date(iso);
  const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1));
  return m.toISOString().slice(0, 7);
}

const money = (text) => Number(text).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function mountSettlement(section, ctx) {
  const month = el("input", { id: "settlement-month", type: "month", value: lastMonth(ctx.me.now) });
  const provisional = el("input", { id: "settlement-provisional", type: "checkbox" });
  const head = el("p", { class: "muted", id: "settlement-head" });
  const net = el("tbody", { id: "settlement-net" });
  const matrix = el("div", { id: "settlement-matrix", class: "scroll half" });
  const linesHead = el("p", { class: "muted", id: "settlement-lines-head" }, "Click a province or a cell for its lines.");
  const lines = el("tbody", { id: "settlement-lines" });
  const prev = el("button", { type: "button", class: "secondary small", id: "settlement-prev", disabled: true }, "previous");
  const next = el("button", { type: "button", class: "secondary small", id: "settlement-next", disabled: true }, "next");
  const close = el("button", { type: "button", id: "settlement-close" }, "Close month");
  let drill = null; // { province_id, counterparty?, offset }

  section.classList.add("grid-two");
  section.append(
    el("div", { class: "panel" }, el("h2", {}, "Settlement between provinces"),
      el("div", { class: "toolbar" }, el("label", { for: "settlement-month" }, "Month"), month,
        el("label", {}, provisional, " provisional"),
        el("button", { type: "button", class: "secondary", onclick: () => load() }, "Show"), close),
      head,
      el("h3", {}, "Net position"),
      el("div", { class: "scroll half" }, el("table", { id: "settlement-net-table" },
        el("thead", {}, el("tr", {}, ["Province", "Credit", "Debit", "Net", "Tasks for others", "Tasks by others", "Own tasks"]
          .map((c, i) => el("th", { class: i ? "num" : "" }, c)))), net)),
      el("h3", {}, "Who worked for whom (rows: the worker's province, columns: the owner; yuan)"), matrix),
    el("div", { class: "panel" }, el("h2", {}, "Lines"), linesHead,
      el("div", { class: "toolbar" }, prev, next),
      el("div", { class: "scroll wide" }, el("table", { id: "settlement-lines-table" },
        el("thead", {}, el("tr", {}, ["Task", "Kind", "Worker", "Credit", "Debit", "Completed", "Type", "QA", "Std min", "Amount"]
          .map((c) => el("th", {}, c)))), lines))),
  );

  function query(extra = {}) {
    const q = new URLSearchParams({ month: month.value, ...extra });
    if (provisional.checked) q.set("provisional", "true");
    return `/settlement?${q}`;
  }

  function matrixTable(st) {
    const ids = st.provinces.map((p) => p.province_id);
    const cell = new Map(st.flows.map((f) => [`${f.worker_province}|${f.owner_province}`, f]));
    return el("table", { class: "matrix" },
      el("thead", {}, el("tr", {}, el("th", {}, "worker \\ owner"), ids.map((p) => el("th", { class: "num" }, p)))),
      el("tbody", {}, ids.map((w) => el("tr", {}, el("th", {}, w), ids.map((o) => {
        const f = cell.get(`${w}|${o}`);
        if (!f) return el("td", { class: "num muted" }, "");
        return el("td", { class: "num clickable", title: `${f.tasks} tasks of ${o} done by ${w}`,
          dataset: { worker: w, owner: o }, onclick: () => showLines({ province_id: w, counterparty: o, offset: 0 }) },
        money(f.amount));
      })))));
  }

  async function showLines(which) {
    drill = which;
    const extra = { province_id: which.province_id, offset: String(which.offset), limit: String(PAGE) };
    if (which.counterparty) extra.counterparty = which.counterparty;
    try {
      const st = await api("GET", query(extra));
      const between = which.counterparty ? ` and ${which.counterparty}` : "";
      linesHead.textContent = `${st.lines_total} lines of ${which.province_id}${between}` +
        (st.lines_total ? `, ${which.offset + 1}-${which.offset + st.lines.length}` : "");
      lines.replaceChildren(...st.lines.map((x) => el("tr", { dataset: { task: x.task_id } },
        el("td", {}, x.task_id), el("td", {}, x.kind === "work" ? "work" : `adjustment (${x.ref_month})`),
        el("td", {}, x.worker_id), el("td", {}, x.credit_province), el("td", {}, x.debit_province),
        el("td", {}, x.completed_at.slice(0, 16).replace("T", " ")), el("td", {}, `${x.task_type} (${x.complexity})`),
        el("td", {}, x.qa + (x.late ? ", late" : "")), el("td", { class: "num" }, x.standard_minutes),
        el("td", { class: "num" }, money(x.amount_cents / 100)))));
      prev.disabled = which.offset === 0;
      next.disabled = which.offset + st.lines.length >= st.lines_total;
      section.dataset.lines = String(Date.now());
    } catch (err) {
      failed("settlement lines", err);
    }
  }
  prev.addEventListener("click", () => drill && showLines({ ...drill, offset: Math.max(0, drill.offset - PAGE) }));
  next.addEventListener("click", () => drill && showLines({ ...drill, offset: drill.offset + PAGE }));

  async function load() {
    try {
      const st = await api("GET", query({ limit: "1" }));
      const who = st.status === "closed" ? `closed by ${st.closed_by} at ${st.closed_at.slice(0, 16).replace("T", " ")}` : st.status;
      head.textContent = `${st.month}: ${who}. ${st.national.tasks} tasks done for other provinces, ` +
        `${money(st.national.credit)} ${st.currency} credited = ${money(st.national.debit)} debited` +
        (st.national.adjustment_lines ? `; ${st.national.adjustment_lines} adjustments of closed months.` : ".");
      head.className = "";
      close.disabled = st.status !== "open";
      net.replaceChildren(...st.provinces.map((p) => el("tr", { class: "clickable", dataset: { province: p.province_id },
        onclick: () => showLines({ province_id: p.province_id, offset: 0 }) },
      el("td", {}, p.province_id), el("td", { class: "num" }, money(p.credit)), el("td", { class: "num" }, money(p.debit)),
      el("td", { class: `num ${p.net_cents < 0 ? "bad" : "ok"}` }, money(p.net)),
      el("td", { class: "num" }, p.tasks_for_others), el("td", { class: "num" }, p.tasks_by_others),
      el("td", { class: "num" }, p.own_tasks))));
      matrix.replaceChildren(matrixTable(st));
    } catch (err) {
      head.textContent = `No statement: ${err.message}`;
      head.className = "bad";
      net.replaceChildren();
      matrix.replaceChildren();
    }
    section.dataset.rendered = String(Date.now());
  }

  close.addEventListener("click", async () => {
    const answer = await ask({ title: `Close ${month.value}`, ok: "Close month",
      text: "The statement is frozen; events that arrive later adjust the next open month.",
      fields: [{ name: "note", label: "Note (optional)", multiline: true }] });
    if (answer === null) return;
    try {
      const body = { month: month.value };
      if (answer.note) body.note = answer.note;
      const out = await api("POST", "/settlement/close", body);
      toast(`${out.month} closed by ${out.closed_by}`);
    } catch (err) {
      failed("close", err);
    }
    await load();
  });

  load();
  return { shown: () => {} };
}
