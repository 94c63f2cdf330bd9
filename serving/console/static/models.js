// Models and proof: champions and gate decisions, the last retrains, the twin A/B headline and the
// field uplift as charts, links into the MLflow UI.
import { api, el, failed, fmt } from "./console.js";
import { intervalBars } from "./charts.js";

const LOWER_IS_BETTER = new Set(["mean_turnaround_h", "p90_turnaround_h", "complaint_rate", "escalated_rate", "true_cost_total", "mean_p_complaint", "peak_backlog"]);
const KPI_WORDS = { mean_turnaround_h: "mean turnaround", sla_attainment: "SLA met", qa_pass_rate: "QA pass rate",
  complaint_rate: "complaint rate", true_cost_total: "total cost" };

function link(href, text) {
  return href ? el("a", { href, target: "_blank", rel: "noopener" }, text) : text;
}

function registry(models) {
  return el("table", { id: "models-registry" },
    el("thead", {}, el("tr", {}, ["Model", "Served", "Champion", "Latest versions: gate decision", ""].map((c) => el("th", {}, c)))),
    el("tbody", {}, models.map((m) => el("tr", { dataset: { model: m.model } },
      el("td", {}, m.model),
      el("td", { dataset: { served: m.served_version || "" } }, m.served_version ? `v${m.served_version}` : "–"),
      el("td", {}, m.aliases.champion ? `v${m.aliases.champion}` : "–"),
      el("td", { class: "wrap" }, el("ul", { class: "plain" }, m.versions.map((v) => el("li", {},
        link(v.link, `v${v.version}`), " ", el("span", { class: `tag ${v.gate === "promoted" ? "on" : v.gate ? "off" : ""}` }, v.gate || "no gate"),
        v.gate_at ? el("span", { class: "muted" }, ` ${fmt.time(v.gate_at)}`) : "",
        v.gate_reasons ? el("div", { class: "muted" }, v.gate_reasons.slice(0, 220)) : "")))),
      el("td", {}, link(m.link, "MLflow")),
    ))));
}

// The loop writes seconds per stage and their "total" (apps/retrain.py); older lines may hold one number.
function retrainSeconds(seconds) {
  const total = seconds && typeof seconds === "object" ? seconds.total : seconds;
  if (typeof total !== "number" || !Number.isFinite(total)) return el("td", { class: "num" }, "–");
  const stages = seconds && typeof seconds === "object"
    ? Object.entries(seconds).filter(([k]) => k !== "total").map(([k, v]) => `${k} ${fmt.num(v, 1)} s`).join(", ")
    : "";
  return el("td", { class: "num", title: stages }, fmt.num(total, 0));
}

function retrains(rows) {
  if (!rows.length) return el("p", { class: "muted" }, "No retrain has run yet (opsmatch retrain, or the demo's loop).");
  return el("table", { id: "models-retrains" },
    el("thead", {}, el("tr", {}, ["Finished", "Changed tables", "Verdicts", "Seconds"].map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((r) => el("tr", {},
      el("td", {}, fmt.time(r.finished_at)),
      el("td", { class: "wrap" }, (r.changed_tables || []).join(", ") || "–"),
      el("td", { class: "wrap" }, Object.entries(r.models || {}).map(([m, v]) =>
        el("div", {}, `${m}: `, el("span", { class: `tag ${v.promoted ? "on" : "off"}` }, v.promoted ? `promoted v${v.champion_version}` : `kept v${v.champion_version}`)))),
      retrainSeconds(r.seconds),
    ))));
}

function abCharts(ab) {
  if (!ab) return el("p", { class: "muted", id: "models-ab-missing" }, "No twin A/B report yet (opsmatch evaluate writes summary.json).");
  const box = el("div", { id: "models-ab" }, el("p", { class: "muted" },
    `Scenario ${ab.scenario}, ${ab.days} days, seeds ${(ab.seeds || []).join(", ")}: ratio ML / reference with 95 % interval (1 = no change).`));
  const refs = [...new Set(ab.ratios.map((r) => r.reference))];
  for (const ref of refs) {
    const rows = ab.ratios.filter((r) => r.reference === ref).map((r) => ({
      label: `${r.policy} · ${KPI_WORDS[r.kpi] || r.kpi}`, estimate: r.estimate, low: r.low, high: r.high,
      good: LOWER_IS_BETTER.has(r.kpi) ? r.estimate <= 1 : r.estimate >= 1,
    }));
    box.append(el("h3", {}, `against ${ref.replaceAll("_", " ")}`), intervalBars(rows));
  }
  const targets = ab.targets || [];
  if (targets.length) {
    box.append(el("h3", {}, "targets"), el("ul", { class: "plain" }, targets.map((t) =>
      el("li", {}, el("span", { class: `tag ${t.met ? "on" : "off"}` }, t.met ? "met" : "not met"), ` ${t.policy}: ${t.target} — ${t.measured}`))));
  }
  return box;
}

function upliftChart(uplift) {
  if (!uplift || !uplift.lifts) {
    return el("p", { class: "muted", id: "models-uplift-missing" },
      "No field measurement yet: run an experiment (PUT /policy experiment), then opsmatch uplift --policy-on ml --out.");
  }
  const rows = uplift.lifts.map((k) => ({ label: k.kpi, estimate: k.relative, low: k.off ? k.low / k.off : null,
    high: k.off ? k.high / k.off : null, good: LOWER_IS_BETTER.has(k.kpi) || /turnaround|complaint|cost/.test(k.kpi) ? k.relative <= 0 : k.relative >= 0 }));
  return el("div", { id: "models-uplift" }, el("p", { class: "muted" },
    `${uplift.policy_on} against ${uplift.policy_off}: ${uplift.slice_minutes}-minute alternating slices, relative lift with 95 % interval.`),
  intervalBars(rows, { ref: 0, fmt: (v) => `${(100 * v).toFixed(1)} %` }));
}

export function mountModels(section) {
  const body = el("div", { class: "grid-two view" });
  section.append(body);
  async function refresh() {
    let m;
    try {
      m = await api("GET", "/console/api/models");
    } catch (err) {
      return failed("models", err);
    }
    body.replaceChildren(
      el("div", { class: "panel" }, el("h2", {}, "Champions and gate decisions ", link(m.mlflow_ui, "(MLflow UI)")),
        m.registry_error ? el("p", { class: "bad" }, m.registry_error) : registry(m.registry),
        el("h3", {}, "Last retrains"), retrains(m.retrains)),
      el("div", { class: "panel" }, el("h2", {}, "Proof"), el("h3", {}, "Twin A/B: the same arrivals under each policy"), abCharts(m.ab),
        el("h3", {}, "Field uplift: alternating slices"), upliftChart(m.uplift)),
    );
    section.dataset.rendered = String(Date.now());
  }
  refresh();
  return { shown: refresh };
}
