// The wall: live tiles from /api/stream (server-sent events), no page reloads.
"use strict";
const params = new URLSearchParams(location.search);
let windowName = params.get("window") || "15m";
let source = null;
let lastMessage = 0;

function fmt(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "percent") return (value * 100).toFixed(1) + "%";
  if (unit === "count") return String(Math.round(value));
  if (unit === "duration") {
    if (value >= 3600) return (value / 3600).toFixed(1) + "h";
    if (value >= 60) return (value / 60).toFixed(1) + "m";
    return value.toFixed(0) + "s";
  }
  return value.toFixed(2);
}

function ago(seconds) {
  if (seconds < 60) return Math.round(seconds) + "s ago";
  if (seconds < 3600) return Math.round(seconds / 60) + "m ago";
  return (seconds / 3600).toFixed(1) + "h ago";
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderWindows(windows) {
  const nav = document.getElementById("windows");
  if (nav.childElementCount === windows.length) {
    for (const b of nav.children) b.classList.toggle("active", b.dataset.window === windowName);
    return;
  }
  nav.replaceChildren();
  for (const w of windows) {
    const b = el("button", {"data-window": w}, w);
    b.classList.toggle("active", w === windowName);
    b.addEventListener("click", () => { windowName = w; connect(); });
    nav.appendChild(b);
  }
}

const SVG = "http://www.w3.org/2000/svg";

// one polyline per run of known points; x spreads the hour, y the range of both hours
function sparkline(trend) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "trend");
  svg.setAttribute("viewBox", "0 0 120 32");
  svg.setAttribute("preserveAspectRatio", "none");
  const all = [...trend.last, ...trend.previous].filter((v) => v !== null);
  if (!all.length) return svg;
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const n = trend.last.length - 1;
  for (const name of ["previous", "last"]) {
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        const line = document.createElementNS(SVG, "polyline");
        line.setAttribute("class", name);
        line.setAttribute("points", run.join(" "));
        svg.appendChild(line);
      }
      run = [];
    };
    trend[name].forEach((v, i) => {
      if (v === null) { flush(); return; }
      run.push((i * 120 / n).toFixed(1) + "," + (30 - (v - lo) / (hi - lo) * 28).toFixed(1));
    });
    flush();
  }
  svg.dataset.points = String(trend.last.filter((v) => v !== null).length);
  return svg;
}

// the change against the same moment an hour ago (or the hour's start), good or bad
function delta(t) {
  const now = t.value;
  const before = t.trend.previous[t.trend.previous.length - 1] ?? t.trend.last[0];
  const out = el("div", {class: "delta"});
  if (now === null || before === null || before === undefined) {
    out.textContent = "no earlier value yet";
    return out;
  }
  const diff = now - before;
  let text;
  if (t.unit === "percent") text = Math.abs(diff * 100).toFixed(1) + " pts";
  else if (before !== 0) text = Math.abs(diff / before * 100).toFixed(0) + "%";
  else text = fmt(Math.abs(diff), t.unit);
  const arrow = Math.abs(diff) < 1e-9 ? "=" : diff > 0 ? "▲" : "▼";
  out.textContent = arrow + " " + (arrow === "=" ? "" : text + " ") + "vs 1h ago";
  if (arrow !== "=" && t.better) {
    const good = (diff > 0) === (t.better === "higher");
    out.classList.add(good ? "good" : "bad");
  }
  return out;
}

function renderCounts(doc) {
  const box = document.getElementById("alert-counts");
  box.replaceChildren();
  box.appendChild(el("span", {class: doc.firing ? "firing" : "", id: "firing-count"},
                     doc.firing + " firing"));
  box.appendChild(el("span", {class: doc.pending ? "pending" : "", id: "pending-count"},
                     doc.pending + " pending"));
}

function render(doc) {
  if (doc.error) { showStale("cannot read the store: " + doc.error); return; }
  renderWindows(doc.windows);
  renderCounts(doc);
  const tiles = document.getElementById("tiles");
  tiles.replaceChildren();
  for (const t of doc.tiles) {
    const tile = el("div", {id: "tile-" + t.id,
                            class: "tile " + t.status + (t.sparse ? " sparse" : ""),
                            "data-value": t.value === null ? "" : String(t.value),
                            "data-status": t.status});
    const live = t.unit === "count" || t.id === "oldest_waiting";
    tile.appendChild(el("div", {class: "label"}, t.label + (live ? " · now" : " · " + doc.window)));
    const value = el("div", {class: "value"}, fmt(t.value, t.unit));
    // too few samples to mean much: greyed, with the sample count beside it
    if (t.sparse) value.appendChild(el("span", {class: "samples"}, "n = " + t.samples));
    tile.appendChild(value);
    tile.appendChild(sparkline(t.trend));
    tile.appendChild(delta(t));
    tiles.appendChild(tile);
  }
  const alerts = document.getElementById("alerts");
  alerts.replaceChildren();
  for (const a of doc.alerts) {
    const dims = Object.entries(a.dimensions).map(([k, v]) => k + "=" + v).join(" ");
    alerts.appendChild(el("span", {class: "alert " + a.status, "data-rule": a.rule},
      (a.status === "firing" ? "FIRING " : "pending ") + a.rule + (dims ? " " + dims : "")));
  }
  const table = document.getElementById("queues");
  const head = el("tr");
  head.appendChild(el("th", {}, "Queue · " + doc.window));
  for (const c of doc.queue_columns) head.appendChild(el("th", {}, c.label));
  table.tHead.replaceChildren(head);
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const q of doc.queues) {
    const tr = el("tr", {"data-queue": q.queue});
    tr.appendChild(el("td", {}, q.queue));
    for (const c of q.cells) {
      tr.appendChild(el("td", {class: c.status + (c.sparse ? " sparse" : ""), "data-id": c.id,
                               "data-value": c.value === null ? "" : String(c.value),
                               title: c.samples === null ? "" : "n = " + c.samples},
                        fmt(c.value, c.unit) + (c.sparse ? " · n=" + c.samples : "")));
    }
    body.appendChild(tr);
  }
  const partial = document.getElementById("incomplete");
  if (doc.incomplete_before !== null) {
    partial.textContent = "INCOMPLETE: Redis lost its data; this window lacks events before "
      + (doc.incomplete_before > 0 ? new Date(doc.incomplete_before * 1000).toLocaleString()
                                   : "the rebuild");
    partial.classList.remove("hidden");
  } else {
    partial.classList.add("hidden");
  }
  document.body.dataset.incomplete = String(doc.incomplete_before !== null);
  const fresh = document.getElementById("freshness");
  if (doc.stale) {
    showStale(doc.last_applied ? "no events applied since " + ago(doc.at - doc.last_applied)
                               : "no events applied yet");
  } else {
    document.getElementById("stale").classList.add("hidden");
    document.body.dataset.stale = "false";
    fresh.textContent = "updated " + new Date(doc.at * 1000).toLocaleTimeString();
  }
  document.body.dataset.ready = "true";
}

function showStale(detail) {
  document.getElementById("stale-detail").textContent = detail;
  document.getElementById("stale").classList.remove("hidden");
  document.body.dataset.stale = "true";
  document.getElementById("freshness").textContent = "STALE";
}

function connect() {
  if (source) source.close();
  const url = "/api/stream?window=" + encodeURIComponent(windowName);
  history.replaceState(null, "", "/wall?window=" + encodeURIComponent(windowName));
  source = new EventSource(url);
  source.onmessage = (m) => { lastMessage = Date.now(); render(JSON.parse(m.data)); };
  source.onerror = () => { if (Date.now() - lastMessage > 10000) showStale("wall server unreachable"); };
}

// the server pushes every few seconds; silence means the server itself is gone
setInterval(() => {
  if (lastMessage && Date.now() - lastMessage > 15000) showStale("no update from the server");
}, 5000);
// first paint from the snapshot the page came with, then live
const initial = document.getElementById("initial");
if (initial) {
  try { render(JSON.parse(initial.textContent)); } catch (e) { console.error(e); }
}
connect();
