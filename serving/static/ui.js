// kgrec explanation page: plain DOM and SVG, no dependencies. Every value from the API goes into
// the page through textContent or attributes, never as HTML.
"use strict";

const COLOURS = { User: "#4e79a7", Artist: "#f28e2b", Movie: "#f28e2b", Item: "#f28e2b", Tag: "#59a14f",
                  Genre: "#76b7b2", SatoriEntity: "#b07aa1", DbpediaEntity: "#e15759" };
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function short(text, n) {
  text = String(text);
  return text.length <= n ? text : text.slice(0, n - 1) + "…";
}

// In an A/B experiment the service says which arm served a list (X-Kgrec-Arm).
let lastArm = null;

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  lastArm = r.headers.get("X-Kgrec-Arm") ? `arm ${r.headers.get("X-Kgrec-Arm")} of experiment ${r.headers.get("X-Kgrec-Experiment")}` : null;
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.detail) ? `${r.status}: ${body.detail}` : `${r.status} ${r.statusText}`);
  return body;
}

// One explanation path as a left-to-right graph: a circle per node (coloured by label), an arrow
// per relation in its stored direction, the relation type above it.
function drawPath(path, index) {
  const step = 190, r = 20, top = 34, h = 112;
  const n = path.nodes.length;
  const width = 180 + (n - 1) * step;
  const s = svg("svg", { class: "path-graph", viewBox: `0 0 ${width} ${h}`, width, height: h, role: "img",
                         "aria-label": path.nodes.map((x) => `${x.label} ${x.name}`).join(" → ") });
  const defs = svg("defs");
  const marker = svg("marker", { id: `arrow-${index}`, viewBox: "0 0 10 10", refX: 10, refY: 5,
                                 markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.appendChild(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#777" }));
  defs.appendChild(marker);
  s.appendChild(defs);
  const cx = (i) => 90 + i * step;
  const cy = top + r;
  path.relations.forEach((rel, i) => {
    const x1 = cx(i) + r + 2, x2 = cx(i + 1) - r - 2;
    const line = svg("line", { class: "edge", x1, y1: cy, x2, y2: cy, stroke: "#999", "stroke-width": 1.5,
                               "data-relation": rel.type, "data-direction": rel.direction });
    line.setAttribute(rel.direction === "out" ? "marker-end" : "marker-start", `url(#arrow-${index})`);
    s.appendChild(line);
    s.appendChild(svg("text", { class: "rel", x: (x1 + x2) / 2, y: cy - 8, "text-anchor": "middle" },
                      short(rel.type, 30)));
  });
  path.nodes.forEach((node, i) => {
    const g = svg("g", { class: "node", "data-label": node.label, "data-id": node.id });
    const title = svg("title", {}, `${node.label} ${node.id}: ${node.name}`);
    g.appendChild(title);
    g.appendChild(svg("circle", { cx: cx(i), cy, r, fill: COLOURS[node.label] || "#bab0ac", stroke: "#fff",
                                  "stroke-width": 2 }));
    g.appendChild(svg("text", { class: "node-label", x: cx(i), y: top - 6, "text-anchor": "middle" }, node.label));
    g.appendChild(svg("text", { class: "node-name", x: cx(i), y: cy + r + 16, "text-anchor": "middle" },
                      short(node.name || node.id, 26)));
    s.appendChild(g);
  });
  return s;
}

function neo4jParams(parameters) {
  const parts = Object.entries(parameters).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return `:params {${parts.join(", ")}}`;
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {  // no clipboard API (plain http on another host): select and copy
    const area = el("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const old = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = old; }, 1200);
}

function copyBox(text, rows, label, cls) {
  const box = el("div", { class: "query" });
  const area = el("textarea", { readonly: "", rows: String(rows), class: cls, "aria-label": label, spellcheck: "false" });
  area.value = text;
  const button = el("button", { type: "button", class: "copy" }, "Copy");
  button.addEventListener("click", () => copy(area.value, button));
  box.append(area, button);
  return box;
}

function renderExplanation(e, key) {
  const div = el("div", { class: "explanation" });
  const p = el("p", { class: "sentence" }, e.sentence);
  p.appendChild(el("span", { class: "pscore" }, `path score ${e.score.toFixed(3)}`));
  div.appendChild(p);
  div.appendChild(drawPath(e.path, key));
  const rows = e.cypher.split("\n").reduce((a, line) => a + Math.ceil((line.length + 1) / 110), 0);
  div.appendChild(copyBox(e.cypher, Math.min(8, rows + 1), "Cypher query", "cypher"));
  div.appendChild(copyBox(neo4jParams(e.parameters), 1, "parameters for Neo4j Browser", "params"));
  return div;
}

function render(body) {
  const results = $("results");
  results.replaceChildren();
  if (!body.recommendations.length) {
    results.appendChild(el("p", { class: "empty" }, "No recommendations for this user."));
    return;
  }
  body.recommendations.forEach((rec) => {
    const card = el("section", { class: "rec", "data-item": rec.item.id });
    const h = el("h2");
    h.append(el("span", { class: "rank" }, `#${rec.rank}`), el("span", { class: "item" }, rec.item.name),
             el("span", { class: "score" }, `score ${rec.score.toFixed(4)} · id ${rec.item.id}`));
    card.appendChild(h);
    if (!rec.explanations.length) {
      card.appendChild(el("p", { class: "empty" }, "No path of at most three hops links this user to the item."));
    }
    rec.explanations.forEach((e, j) => card.appendChild(renderExplanation(e, `${rec.rank}-${j}`)));
    results.appendChild(card);
  });
}

// Fidelity (GET /v1/users/{id}/fidelity): how much each explanation's path weighs in its item's
// score once taken out of the user's vector. Each item gets a bar for its first explanation: the
// share of the item's lead over the first item outside the list that the path carries.
function fidelityText(f) {
  if (!f.measured) return "fidelity not measured: the path does not start with one of your interactions";
  if (f.kind === "held-out interaction") return "fidelity 0: the model was not trained on this interaction";
  const share = f.lead_share === null ? "" : ` (${Math.round(100 * f.lead_share)}% of its lead)`;
  return `fidelity: taking the path out lowers the score by ${f.score_drop.toFixed(4)}${share}` +
         (f.left_top_k ? ", and the item leaves the list" : "");
}

function fidelityBar(f) {
  const bar = el("span", { class: "fidelity", role: "meter", "aria-label": "fidelity of the first explanation",
                           title: f ? fidelityText(f) : "no explanation" });
  const share = f && f.measured && f.lead_share !== null ? Math.max(0, Math.min(1, f.lead_share)) : null;
  bar.dataset.value = share === null ? "n/a" : share.toFixed(3);
  if (share !== null) bar.setAttribute("aria-valuenow", share.toFixed(3));
  const fill = el("span", { class: share === null ? "fill none" : "fill" });
  fill.style.width = `${share === null ? 100 : Math.round(100 * share)}%`;
  bar.appendChild(fill);
  const wrap = el("span", { class: "fidelity-wrap" });
  wrap.append(el("span", { class: "flabel" }, "fidelity"), bar);
  return wrap;
}

async function showFidelity(user, k, paths) {
  try {
    const body = await getJSON(`/v1/users/${encodeURIComponent(user)}/fidelity?k=${k}&max_paths=${paths}`);
    for (const item of body.items) {
      const card = [...document.querySelectorAll("section.rec")].find((c) => c.dataset.item === item.item.id);
      if (!card) continue;
      card.querySelector("h2").appendChild(fidelityBar(item.explanations[0]));
      card.querySelectorAll(".explanation").forEach((div, j) => {
        const f = item.explanations[j];
        if (f) div.querySelector(".sentence").appendChild(el("span", { class: "fscore" }, fidelityText(f)));
      });
    }
  } catch (e) {
    $("message").textContent += ` (fidelity unavailable: ${e.message})`;
  }
}

async function recommend() {
  const user = $("user").value;
  if (!user) return;
  const k = Math.max(1, Math.min(50, parseInt($("k").value, 10) || 10));
  const paths = Math.max(1, Math.min(5, parseInt($("paths").value, 10) || 3));
  const query = $("query").value.trim();
  $("message").textContent = `recommending for user ${user}${query ? ` · search '${query}'` : ""}…`;
  $("message").className = "muted";
  try {
    const search = query ? `&query=${encodeURIComponent(query)}` : "";
    const body = await getJSON(`/v1/users/${encodeURIComponent(user)}/recommendations?k=${k}&max_paths=${paths}${search}`);
    render(body);
    renderMatches(body.intent);
    if (!query) await showFidelity(user, k, paths);  // the fidelity bars measure the list without a query
    const n = body.recommendations.reduce((a, r) => a + r.explanations.length, 0);
    $("message").textContent = `${body.recommendations.length} recommendations for user ${user}, ${n} explanation paths` +
      (lastArm ? ` (served by ${lastArm})` : "");
    document.body.dataset.arm = lastArm ? lastArm.split(" ")[1] : "";
    document.body.dataset.state = "ready";
  } catch (e) {
    $("message").textContent = `could not recommend: ${e.message}`;
    $("message").className = "error";
    document.body.dataset.state = "error";
  }
}

// What the search matched: the attributes whose names are nearest the query, with their cosine.
function renderMatches(intent) {
  const p = $("matches");
  p.replaceChildren();
  p.hidden = !(intent && intent.query);
  if (p.hidden) return;
  p.appendChild(el("span", {}, `'${intent.query}' matches `));
  if (!intent.matches.length) p.appendChild(el("span", {}, "no attribute (the items' text alone ranks them)"));
  intent.matches.forEach((m, i) => {
    if (i) p.appendChild(el("span", {}, ", "));
    p.appendChild(el("span", { class: "match", "data-label": m.label, "data-id": m.id },
                     `${m.name} (${m.label}, ${m.similarity.toFixed(2)})`));
  });
  p.appendChild(el("span", {}, ` · fusion ${intent.fusion}`));
}

let allUsers = [];

function fillUsers(filter) {
  const select = $("user");
  const keep = select.value;
  select.replaceChildren();
  const shown = allUsers.filter((u) => u.startsWith(filter)).slice(0, 1000);
  for (const u of shown) select.appendChild(el("option", { value: u }, u));
  if (shown.includes(keep)) select.value = keep;
}

async function start() {
  try {
    const [health, users] = await Promise.all([getJSON("/healthz"), getJSON("/ui/users?limit=10000")]);
    allUsers = users.users;
    $("status").textContent = `graph ${health.graph} · model ${health.model || "?"} · ${health.users} users · ` +
                              `${health.items} items · store ${health.store}`;
    fillUsers("");
    const fromUrl = new URLSearchParams(location.search).get("user");
    if (fromUrl && allUsers.includes(fromUrl)) $("user").value = fromUrl;
    document.body.dataset.state = "loaded";
  } catch (e) {
    $("status").textContent = `cannot reach the service: ${e.message}`;
    $("status").className = "error";
  }
  $("user-filter").addEventListener("input", (ev) => fillUsers(ev.target.value.trim()));
  $("user").addEventListener("change", recommend);
  $("controls").addEventListener("submit", (ev) => { ev.preventDefault(); recommend(); });
}

start();
