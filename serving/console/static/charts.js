// Inline SVG charts: a sparkline for the 24 h trends, ratio bars with intervals for the A/B and uplift.
const NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) if (c) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A line over ``values`` (nulls leave gaps) scaled to its own range; the title says first and last. */
export function sparkline(values, label, w = 160, h = 26) {
  const box = svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", role: "img", "aria-label": label });
  const nums = values.filter((v) => v !== null && v !== undefined);
  if (!nums.length) return box;
  const lo = Math.min(...nums), hi = Math.max(...nums), span = hi - lo || 1;
  const x = (i) => (values.length < 2 ? w / 2 : (i * w) / (values.length - 1));
  const y = (v) => h - 2 - ((v - lo) / span) * (h - 4);
  let d = "", pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) { pen = false; return; }
    d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  box.append(svg("path", { d, class: "spark" }), svg("title", {}, label));
  return box;
}

/**
 * Horizontal bars of ratios with their interval around a reference line at 1 (or 0 for lifts).
 * rows: [{label, estimate, low, high, good}] where good says whether the estimate is the desired side.
 */
export function intervalBars(rows, { ref = 1, width = 520, fmt = (v) => v.toFixed(3) } = {}) {
  const rowH = 20, left = 230, right = 70, top = 14;
  const h = top + rows.length * rowH + 6;
  const vals = rows.flatMap((r) => [r.low, r.high, r.estimate]).filter((v) => v !== null && v !== undefined);
  const lo = Math.min(ref, ...vals), hi = Math.max(ref, ...vals), span = hi - lo || 1;
  const plotW = width - left - right;
  const x = (v) => left + ((v - lo) / span) * plotW;
  const box = svg("svg", { viewBox: `0 0 ${width} ${h}`, width, height: h, role: "img" });
  box.append(svg("line", { x1: x(ref), x2: x(ref), y1: 4, y2: h - 2, class: "ref" }));
  box.append(svg("text", { x: x(ref) + 3, y: 10 }, `reference ${ref}`));
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    box.append(svg("text", { x: 0, y: y + 13 }, r.label));
    if (r.estimate === null || r.estimate === undefined) return;
    const a = x(Math.min(ref, r.estimate)), b = x(Math.max(ref, r.estimate));
    box.append(svg("rect", { x: a, y: y + 4, width: Math.max(1, b - a), height: rowH - 8, class: r.good ? "bar-good" : "bar-bad" }));
    if (r.low !== null && r.high !== null && r.low !== undefined) {
      box.append(svg("line", { x1: x(r.low), x2: x(r.high), y1: y + rowH / 2, y2: y + rowH / 2, class: "ci" }));
    }
    box.append(svg("text", { x: width - right + 6, y: y + 13 }, fmt(r.estimate)));
  });
  return box;
}
