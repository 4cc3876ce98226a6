// The local viewer: a few read-only pages over /ui/api/. Every value from the data is
// put in the page as text (textContent), never as HTML.
"use strict";

const app = document.getElementById("app");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "onclick" || key === "onsubmit" || key === "onchange") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class SignedOut extends Error {}

async function api(path) {
  const response = await fetch("/ui/api/" + path, { credentials: "same-origin" });
  if (response.status === 401) throw new SignedOut();
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || "Request failed (" + response.status + ")");
  return body;
}

function show(...nodes) {
  app.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== ""));
}

// formatting

function fmtTime(text) {
  if (!text) return "";
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function fmtSeconds(value) {
  if (value === null || value === undefined) return "";
  if (value < 1) return (value * 1000).toFixed(value < 0.01 ? 2 : 1) + " ms";
  return value.toFixed(2) + " s";
}

function fmtCost(value) {
  if (value === null || value === undefined) return "";
  return "$" + (value < 0.01 ? value.toPrecision(2) : value.toFixed(4));
}

function fmtNumber(value) {
  return value === null || value === undefined ? "" : Number(value).toLocaleString();
}

function fmtScore(value) {
  if (value === true) return "✓";
  if (value === false) return "✗";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(3);
  return value === null || value === undefined ? "" : String(value);
}

function scoreChips(scores) {
  return Object.entries(scores || {}).map(([name, value]) => el("span", {
    class: "badge score" + (value === false || value === 0 ? " error" : value === true || value === 1 ? " ok" : ""),
    text: name + " " + fmtScore(value),
  }));
}

function badge(text, kind) {
  return text ? el("span", { class: "badge " + (kind || text), text }) : "";
}

// routing: #/, #/datasets/ID?filters, #/datasets/ID/logs/UID, #/experiments

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "") };
}

async function route() {
  const { parts, params } = parseHash();
  try {
    if (parts[0] === "datasets" && parts.length === 2) await logsPage(parts[1], params);
    else if (parts[0] === "datasets" && parts[2] === "logs" && parts.length === 4) await logPage(parts[1], parts[3]);
    else if (parts[0] === "experiments" && parts.length === 2) await experimentPage(parts[1], params);
    else if (parts[0] === "experiments") await experimentsPage();
    else await datasetsPage();
    document.getElementById("sign-out").hidden = false;
  } catch (error) {
    if (error instanceof SignedOut) loginPage();
    else show(el("div", { class: "panel error-text", role: "alert", text: error.message }));
  }
}

// sign in: the key is sent once, the server answers with an HttpOnly session cookie

function loginPage() {
  document.getElementById("sign-out").hidden = true;
  const input = el("input", { type: "password", id: "api-key", autocomplete: "current-password",
    placeholder: "RESPAN_API_KEY of this server", required: true });
  const message = el("div", { class: "error-text", role: "alert" });
  const form = el("form", { onsubmit: async (event) => {
    event.preventDefault();
    const response = await fetch("/ui/login", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ api_key: input.value }) });
    input.value = "";
    if (response.ok) route();
    else message.textContent = "That key was not accepted. Use the key `respan-otel serve` printed.";
  } },
    el("label", { for: "api-key", text: "API key" }), input,
    el("button", { class: "primary", type: "submit", text: "Sign in" }), message);
  show(el("div", { class: "login panel" },
    el("h1", { text: "Sign in" }),
    el("p", { class: "sub", text: "Enter this server's API key once; the browser then keeps a session cookie." }),
    form));
  input.focus();
}

document.getElementById("sign-out").onclick = async () => {
  await fetch("/ui/logout", { method: "POST", credentials: "same-origin" });
  location.hash = "#/";
  loginPage();
};

// datasets

async function datasetsPage() {
  const data = await api("datasets");
  const rows = data.results.map((d) => {
    const href = "#/datasets/" + encodeURIComponent(d.id);
    return el("tr", { class: "row", onclick: () => { location.hash = href; } },
      el("td", {}, el("a", { href, text: d.name || d.id })),
      el("td", { class: "num", text: fmtNumber(d.log_count) }),
      el("td", { class: "cut", text: d.description || "" }),
      el("td", { text: fmtTime(d.created_at) }));
  });
  show(el("h1", { text: "Datasets" }),
    el("div", { class: "sub", text: data.count + (data.count === 1 ? " dataset" : " datasets") }),
    rows.length ? el("table", { id: "datasets" },
      el("thead", {}, el("tr", {}, el("th", { text: "Name" }), el("th", { class: "num", text: "Logs" }),
        el("th", { text: "Description" }), el("th", { text: "Created" }))),
      el("tbody", {}, rows))
      : el("div", { class: "empty panel", text: "No datasets yet. Run examples/quickstart.py against this server." }));
}

// a dataset's logs: one server-side page at a time, filtered by the API's filters

async function logsPage(datasetId, params) {
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const query = new URLSearchParams();
  for (const key of ["status", "type", "model", "q", "in"]) if (params.get(key)) query.set(key, params.get(key));
  query.set("page", String(page));
  const [dataset, data] = await Promise.all([
    api("datasets/" + encodeURIComponent(datasetId)),
    api("datasets/" + encodeURIComponent(datasetId) + "/logs?" + query),
  ]);
  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) value ? next.set(key, value) : next.delete(key);
    location.hash = "#/datasets/" + encodeURIComponent(datasetId) + "?" + next;
  };
  const field = (name, attrs) => el("input", { name, value: params.get(name) || "", ...attrs });
  const status = el("select", { name: "status" },
    ["", "success", "error"].map((v) => el("option", { value: v, selected: params.get("status") === v, text: v || "any status" })));
  const searchIn = el("select", { name: "in" },
    ["input", "output", "metadata"].map((v) => el("option", { value: v, selected: (params.get("in") || "input") === v, text: "in " + v })));
  const form = el("form", { class: "filters", id: "filters", onsubmit: (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    go({ ...values, page: "" });
  } },
    field("q", { type: "search", placeholder: "search text", size: 24 }), searchIn, status,
    field("type", { placeholder: "type (llm, task…)", size: 14 }),
    field("model", { placeholder: "model", size: 14 }),
    el("button", { class: "primary", type: "submit", text: "Filter" }));
  const scored = data.results.some((log) => Object.keys(log.scores || {}).length);
  const rows = data.results.map((log) => {
    const href = "#/datasets/" + encodeURIComponent(data.dataset_id) + "/logs/" + encodeURIComponent(log.id);
    return el("tr", { class: "row", onclick: () => { location.hash = href; } },
      el("td", { class: "time", text: fmtTime(log.timestamp) }),
      el("td", {}, el("a", { href, text: log.name || log.id.slice(0, 12) })),
      el("td", {}, badge(log.type, "type")),
      el("td", {}, badge(log.status)),
      el("td", { text: log.model }),
      el("td", { class: "num", text: fmtNumber(log.tokens) }),
      el("td", { class: "num", text: fmtCost(log.cost) }),
      el("td", { class: "num", text: fmtSeconds(log.latency) }),
      el("td", { class: "cut", text: log.input, title: log.input }),
      el("td", { class: "cut", text: log.output, title: log.output }),
      scored ? el("td", { class: "scores" }, scoreChips(log.scores)) : null);
  });
  const headers = [["Time"], ["Name"], ["Type"], ["Status"], ["Model"], ["Tokens", "num"], ["Cost", "num"],
    ["Latency", "num"], ["Input"], ["Output"], ...(scored ? [["Scores"]] : [])];
  show(
    el("h1", { text: dataset.name }),
    el("div", { class: "sub", text: fmtNumber(data.count) + " logs" + (Object.keys(data.filters).length ? " match" : "") + ", newest first" }),
    form,
    rows.length ? el("table", { id: "logs" },
      el("thead", {}, el("tr", {}, headers.map(([t, c]) => el("th", { class: c, text: t })))),
      el("tbody", {}, rows))
      : el("div", { class: "empty panel", text: "No logs match." }),
    el("div", { class: "pager" },
      el("button", { class: "plain", id: "prev", disabled: page <= 1, text: "← Newer", onclick: () => go({ page: String(page - 1) }) }),
      el("span", { id: "page-info", text: "page " + data.page + " of " + fmtNumber(data.pages) }),
      el("button", { class: "plain", id: "next", disabled: page >= data.pages, text: "Older →", onclick: () => go({ page: String(page + 1) }) })));
}

// one log

function jsonView(value, key) {
  const label = key === undefined ? [] : [el("span", { class: "k", text: JSON.stringify(key) }), ": "];
  if (value === null || typeof value !== "object") {
    const kind = typeof value === "string" ? "s" : typeof value === "number" ? "n" : "l";
    return el("div", {}, ...label, el("span", { class: kind, text: JSON.stringify(value) }));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [undefined, v, i]) : Object.entries(value).map(([k, v]) => [k, v]);
  const open = Array.isArray(value) ? "[" : "{";
  const close = Array.isArray(value) ? "]" : "}";
  if (!entries.length) return el("div", {}, ...label, el("span", { class: "l", text: open + close }));
  return el("details", { open: true },
    el("summary", {}, ...label, open + " " + entries.length + (Array.isArray(value) ? " item" : " key") + (entries.length === 1 ? "" : "s")),
    entries.map(([k, v]) => jsonView(v, k)), el("div", { class: "l", text: close }));
}

function messagesOf(value) {
  const list = Array.isArray(value) ? value : value && Array.isArray(value.messages) ? value.messages : null;
  if (!list || !list.length || !list.every((m) => m && typeof m === "object" && typeof m.role === "string")) return null;
  return list;
}

function messageText(message) {
  const content = message.content !== undefined ? message.content : message.parts;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (p && (p.text || p.content)) || JSON.stringify(p)).join("\n");
  return JSON.stringify(content === undefined ? message : content, null, 2);
}

function contentView(value) {
  const messages = messagesOf(value);
  if (messages) {
    return el("div", { class: "chat" }, messages.map((m) => el("div", { class: "msg " + m.role },
      el("div", { class: "role", text: m.role }), el("div", { class: "text", text: messageText(m) }))));
  }
  if (typeof value === "string") return el("div", { class: "json" }, el("div", { class: "text", text: value }));
  return el("div", { class: "json" }, jsonView(value));
}

function traceView(trace, datasetId) {
  if (!trace || !trace.nodes.length) return el("div", { class: "empty panel", text: "This log names no trace." });
  const total = trace.total || 0;
  return el("div", { class: "trace", id: "trace" }, trace.nodes.map((node) => {
    const bar = el("div", { class: "bar" + (node.status === "error" ? " error" : "") });
    if (total > 0 && node.offset !== null) {
      bar.style.left = (100 * node.offset / total).toFixed(3) + "%";
      bar.style.width = (100 * (node.duration || 0) / total).toFixed(3) + "%";
    } else {
      bar.style.left = "0";
      bar.style.width = "100%";
    }
    const indent = el("span", { class: "indent" });
    indent.style.width = (node.depth * 18) + "px";
    const href = "#/datasets/" + encodeURIComponent(datasetId) + "/logs/" + encodeURIComponent(node.id);
    return el("div", { class: "span-row" + (node.current ? " current" : ""), "data-depth": String(node.depth) },
      el("div", { class: "span-name" }, indent, node.depth ? "└ " : "", el("a", { href, text: node.name })),
      el("div", {}, badge(node.type, "type")),
      el("div", { class: "timeline" }, bar),
      el("div", { class: "num", text: fmtSeconds(node.duration) }));
  }));
}

async function logPage(datasetId, logId) {
  const data = await api("datasets/" + encodeURIComponent(datasetId) + "/logs/" + encodeURIComponent(logId));
  const log = data.log;
  const metadata = log.metadata || {};
  const metrics = [
    ["Status", log.status], ["Type", log.log_type], ["Model", log.model],
    ["Tokens", fmtNumber(log.total_request_tokens)], ["Cost", fmtCost(log.cost)], ["Latency", fmtSeconds(log.latency)],
  ].filter(([, v]) => v);
  const extra = Object.entries(log.metrics || {}).filter(([k]) => !["latency", "cost"].includes(k));
  show(
    el("div", { class: "sub" }, el("a", { href: "#/datasets/" + encodeURIComponent(log.dataset_id), text: "← dataset" })),
    el("h1", { text: metadata.span_name || log.id }),
    el("div", { class: "sub", text: fmtTime(log.timestamp) + " · " + log.id }),
    log.error_message ? el("div", { class: "panel error-text", role: "alert", text: log.error_message }) : null,
    el("div", { class: "metrics", id: "metrics" },
      metrics.map(([k, v]) => el("div", { class: "metric" }, el("span", { text: k }), el("b", { text: v }))),
      extra.map(([k, v]) => el("div", { class: "metric" }, el("span", { text: k }), el("b", { text: typeof v === "number" ? fmtNumber(v) : JSON.stringify(v) })))),
    el("h2", { text: "Trace" }), traceView(data.trace, log.dataset_id),
    el("div", { class: "grid" },
      el("div", {}, el("h2", { text: "Input" }), el("div", { class: "panel", id: "input" }, contentView(log.input))),
      el("div", {}, el("h2", { text: "Output" }), el("div", { class: "panel", id: "output" }, contentView(log.output)))),
    log.expected_output !== null && log.expected_output !== undefined
      ? [el("h2", { text: "Expected output" }), el("div", { class: "panel" }, contentView(log.expected_output))] : null,
    el("h2", { text: "Metadata" }), el("div", { class: "panel", id: "metadata" }, contentView(metadata)));
}

// experiments

async function experimentsPage() {
  const data = await api("experiments");
  const rows = data.results.map((e) => el("tr", { class: "row", onclick: () => { location.hash = "#/experiments/" + encodeURIComponent(e.id); } },
    el("td", {}, el("a", { href: "#/experiments/" + encodeURIComponent(e.id), text: e.name || e.id })),
    el("td", {}, badge(e.status, "type")),
    el("td", { text: e.dataset_name || e.dataset_id || "" }), el("td", { text: fmtTime(e.created_at) })));
  show(el("h1", { text: "Experiments" }),
    el("div", { class: "sub", text: data.count + " experiments" }),
    rows.length ? el("table", { id: "experiments" },
      el("thead", {}, el("tr", {}, ["Name", "Status", "Dataset", "Created"].map((t) => el("th", { text: t })))),
      el("tbody", {}, rows))
      : el("div", { class: "empty panel", text: "No experiments yet." }));
}

// one experiment: the mean of each score, then its rows with their scores

async function experimentPage(experimentId, params) {
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const data = await api("experiments/" + encodeURIComponent(experimentId) + "?page=" + page);
  const exp = data.experiment;
  const names = [...new Set([...Object.keys(data.means), ...data.results.flatMap((r) => Object.keys(r.scores))])];
  const go = (p) => { location.hash = "#/experiments/" + encodeURIComponent(experimentId) + "?page=" + p; };
  const rows = data.results.map((r, i) => el("tr", {},
    el("td", { class: "num", text: String((data.page - 1) * 50 + i + 1) }),
    el("td", { class: "cut", text: r.input, title: r.input }),
    el("td", { class: "cut", text: r.output, title: r.output }),
    el("td", { class: "cut", text: r.expected, title: r.expected }),
    el("td", {}, badge(r.status), r.error ? el("div", { class: "error-text", text: r.error }) : null),
    el("td", { class: "num", text: fmtSeconds(r.duration) }),
    el("td", { class: "num", text: fmtCost(r.cost) }),
    names.map((n) => el("td", { class: "num score-cell", text: fmtScore(r.scores[n]) }))));
  show(
    el("div", { class: "sub" }, el("a", { href: "#/experiments", text: "← experiments" })),
    el("h1", {}, exp.name || exp.id, " ", badge(exp.status, "type")),
    el("div", { class: "sub" }, "dataset ",
      exp.dataset_id ? el("a", { href: "#/datasets/" + encodeURIComponent(exp.dataset_id), text: exp.dataset_name || exp.dataset_id }) : "—",
      " · " + fmtNumber(data.count) + " rows"),
    el("div", { class: "metrics", id: "means" }, Object.entries(data.means).map(([n, v]) =>
      el("div", { class: "metric" }, el("span", { text: "mean " + n }), el("b", { text: fmtScore(v) })))),
    rows.length ? el("table", { id: "experiment-rows" },
      el("thead", {}, el("tr", {}, ["#", "Input", "Output", "Expected", "Status", "Duration", "Cost", ...names]
        .map((t, i) => el("th", { class: i === 0 || i >= 5 ? "num" : null, text: t })))),
      el("tbody", {}, rows))
      : el("div", { class: "empty panel", text: "No rows yet." }),
    el("div", { class: "pager" },
      el("button", { class: "plain", disabled: page <= 1, text: "← Previous", onclick: () => go(page - 1) }),
      el("span", { text: "page " + data.page + " of " + fmtNumber(data.pages) }),
      el("button", { class: "plain", disabled: page >= data.pages, text: "Next →", onclick: () => go(page + 1) })));
}

window.addEventListener("hashchange", route);
route();
