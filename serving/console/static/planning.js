// Planning (ops head, dispatcher): the arrival forecast against the arrivals so far with its 80 %
// interval (GET /forecast), the staffing gap as a province x hour heat map (GET /staffing) and the
// sharing recommendations, each applied through PUT /policy after a confirmation (audited).
import { api, ask, el, failed, toast } from "./console.js";
import { svg } from "./charts.js";

function chart(rows, label, w = 720, h = 180) {
  const box = svg("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: "img", "aria-label": label, id: "planning-chart" });
  if (!rows.length) return box;
  const hi = Math.max(1, ...rows.map((r) => Math.max(r.high, r.actual ?? 0)));
  const x = (i) => (rows.length < 2 ? w / 2 : 30 + (i * (w - 40)) / (rows.length - 1));
  const y = (v) => h - 16 - (v / hi) * (h - 26);
  const band = rows.map((r, i) => `${x(i).toFixed(1)},${y(r.high).toFixed(1)}`)
    .concat(rows.map((r, i) => `${x(i).toFixed(1)},${y(r.low).toFixed(1)}`).reverse());
  box.append(svg("polygon", { points: band.join(" "), class: "spark-area" }));
  box.append(svg("path", { d: rows.map((r, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(r.expected).toFixed(1)}`).join(""), class: "spark" }));
  const seen = rows.map((r, i) => [r, i]).filter(([r]) => r.actual !== null && r.actual !== undefined);
  for (const [r, i] of seen) box.append(svg("circle", { cx: x(i), cy: y(r.actual), r: 2, class: "actual" }));
  box.append(svg("text", { x: 0, y: 10 }, `${Math.round(hi)} / 30 min`));
  box.append(svg("title", {}, label));
  return box;
}

function heat(rows) {
  const hours = [...new Set(rows.map((r) => r.start))].sort();
  const provs = [...new Set(rows.map((r) => r.province_id))].sort();
  const cell = new Map(rows.map((r) => [`${r.province_id}|${r.start}`, r]));
  const shade = (gap) => (gap < 0 ? `short-${Math.min(3, Math.ceil(-gap / 3))}` : gap > 0 ? "idle" : "even");
  return el("table", { class: "matrix heat", id: "planning-heat" },
    el("thead", {}, el("tr", {}, el("th", {}, "province \\ hour"),
      hours.map((hr) => el("th", { class: "num" }, new Date(hr).toISOString().slice(11, 13))))),
    el("tbody", {}, provs.map((p) => el("tr", {}, el("th", {}, p), hours.map((hr) => {
      const r = cell.get(`${p}|${hr}`);
      if (!r) return el("td", {});
      return el("td", { class: `num ${shade(r.gap)}`, title: `needed ${r.needed}, rostered ${r.rostered}` }, String(r.gap));
    })))));
}

export function mountPlanning(section, ctx) {
  const province = el("input", { id: "planning-province", placeholder: "province (all)", size: 8 });
  const head = el("p", { class: "muted", id: "planning-head" });
  const plot = el("div", { id: "planning-plot" });
  const map = el("div", { class: "scroll half", id: "planning-map" });
  const recs = el("ul", { id: "planning-recs" });
  section.append(
    el("div", { class: "panel" }, el("h2", {}, "Arrivals: forecast (line, 80 % band) against actual (dots)"),
      el("div", { class: "toolbar" }, el("label", { for: "planning-province" }, "Province"), province,
        el("button", { type: "button", class: "secondary", onclick: () => load() }, "Show")),
      head, plot),
    el("div", { class: "panel" }, el("h2", {}, "Staffing gap, people (negative: short), next 24 h (UTC hours)"), map),
    el("div", { class: "panel" }, el("h2", {}, "Sharing recommendations"), recs),
  );

  async function apply(rec) {
    const ok = await ask({ title: "Apply sharing", text: `${rec.text}. Set ${JSON.stringify(rec.policy_patch.provinces)}?`, ok: "Apply" });
    if (!ok) return;
    try {
      await api("PUT", "/policy", { ...rec.policy_patch, note: `planning: ${rec.text}` });
      toast("sharing applied");
    } catch (err) { failed("applying the sharing", err); }
  }

  async function load() {
    const p = province.value.trim() || "all";
    try {
      const fc = await api("GET", `/forecast?${new URLSearchParams({ province_id: p, task_type: "all" })}`);
      const start = new Date(fc.origin);
      const until = new Date(start.getTime() + 3 * 86400e3);
      const rows = fc.rows.filter((r) => new Date(r.start) < until);
      head.textContent = `forecast from ${fc.origin} (${fc.zone}), ${p}: ${rows.length} half hours shown`;
      plot.replaceChildren(chart(rows, `forecast ${p}`));
      // the next 24 h, or the forecast's first day when the service's clock is outside the forecast
      const last = new Date(fc.rows.length ? fc.rows[fc.rows.length - 1].start : fc.origin);
      let now = new Date(ctx.me.now);
      if (now < start || now > last) now = start;
      const q = new URLSearchParams({ from: now.toISOString(), to: new Date(now.getTime() + 86400e3).toISOString() });
      if (p !== "all") q.set("province_id", p);
      const st = await api("GET", `/staffing?${q}`);
      map.replaceChildren(heat(st.rows));
      recs.replaceChildren(...(st.recommendations.length ? st.recommendations.slice(0, 12).map((r) =>
        el("li", { class: "rec" }, r.text, " ",
          el("button", { type: "button", class: "small", onclick: () => apply(r) }, "Apply"))) :
        [el("li", { class: "muted" }, "no shortage with an idle province beside it")]));
    } catch (err) {
      if (err.status === 404) head.textContent = "No forecast yet: `opsmatch forecast make` (the demo makes one daily).";
      else failed("loading the plan", err);
    }
    section.dataset.rendered = String(Date.now());
  }

  load();
  return { shown: load };
}
