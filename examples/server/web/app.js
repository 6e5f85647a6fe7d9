// The admin pages of the example CRM: Salesforce settings and Import.
// Plain JavaScript, no build step. Talks to the router mounted at API.
"use strict";

const API = "/api/salesforce";
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

let status = null;      // last GET status
let objectTypes = [];   // GET import/objects
let currentJob = null;  // the job shown in "Current import"
let pollTimer = null;

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (method !== "GET") {
    // The router refuses a state-changing request without it (its defence
    // against cross-site request forgery).
    init.headers["X-Requested-With"] = "salesforce-import";
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, init);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    throw new Error((data && data.message) || `${method} ${path}: HTTP ${res.status}`);
  }
  return data;
}

function showError(err) {
  const banner = $("banner");
  banner.textContent = err.message || String(err);
  banner.hidden = false;
}

function clearError() {
  $("banner").hidden = true;
}

const STATUS_TEXT = {
  PENDING: "Waiting to start",
  IN_PROGRESS: "In progress",
  COMPLETED: "Completed",
  COMPLETED_WITH_ERRORS: "Completed with errors",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};
const STATE_TEXT = {
  PENDING: "waiting", IMPORTING: "importing", DONE: "done", FAILED: "failed",
  UNAVAILABLE: "not in this org", CANCELLED: "cancelled",
};

// A status badge: readable text, the code in data-status.
function badge(status, attrs = {}, interrupted = false) {
  return el("span", { class: "badge " + status.toLowerCase(), dataset: { status }, ...attrs },
    interrupted ? INTERRUPTED_TEXT : STATUS_TEXT[status] || status);
}
// A running job whose server is gone (its lease lapsed).
const INTERRUPTED_TEXT = "Interrupted \u2014 resuming";

function fmtDate(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// ---- routing -------------------------------------------------------------

function route() {
  const page = location.hash === "#/import" ? "import" : "settings";
  for (const s of document.querySelectorAll("[data-page]")) {
    s.hidden = s.dataset.page !== page;
  }
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === `#/${page}`);
  }
  clearError();
  if (page === "import") loadImportPage().catch(showError);
  else loadStatus().catch(showError);
}

// ---- settings --------------------------------------------------------------

async function loadStatus() {
  status = await api("GET", "/status");
  $("status-dot").className = "dot " + (status.connected ? "on" : "off");
  $("status-text").textContent = status.connected ? "Connected"
    : status.message ? `Not connected — ${status.message}` : "Not connected";
  $("status-details").hidden = !status.connected;
  // Not connected: no stale values from an earlier connection.
  $("status-instance").textContent = status.connected ? status.instance_url || "" : "";
  $("status-by").textContent = status.connected ? status.connected_by || "" : "";
  $("status-at").textContent = status.connected ? fmtDate(status.connected_at) : "";
  $("connect").hidden = status.connected;
  // A stored connection that cannot be used (its tokens unreadable) can be
  // cleared too.
  $("disconnect").hidden = !status.connected && !status.problem;
  return status;
}

async function connect() {
  const { authorization_url } = await api("POST", "/connect");
  location.assign(authorization_url);
}

// Salesforce sends the admin back here with ?code=...&state=...
async function finishCallback() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return;
  history.replaceState(null, "", location.pathname + "#/settings");
  if (params.has("error")) {
    throw new Error(`Salesforce refused the connection: ${params.get("error_description") || params.get("error")}`);
  }
  await api("POST", "/callback", { code: params.get("code"), state: params.get("state") });
}

async function askDisconnect() {
  // A running import stops (fails) without its connection: say so.
  const warning = $("disconnect-running");
  warning.hidden = true;
  warning.textContent = "";
  try {
    const jobs = await api("GET", "/import/history");
    const running = jobs.find(isRunning);
    if (running) {
      warning.textContent = `An import is running (started by ${running.started_by} on ${fmtDate(running.created_at)}). `
        + "Disconnecting stops it: it fails, and can be resumed once Salesforce is connected again.";
      warning.hidden = false;
    }
  } catch (err) {
    // The warning is a courtesy: ask anyway.
  }
  $("confirm-disconnect").showModal();
}

async function onDisconnectDialogClose() {
  if ($("confirm-disconnect").returnValue !== "confirm") return;
  await api("DELETE", "/disconnect");
  await loadStatus();
}

// ---- import ----------------------------------------------------------------

async function loadImportPage() {
  const [st, types] = await Promise.all([api("GET", "/status"), api("GET", "/import/objects")]);
  status = st;
  objectTypes = types;
  renderObjectChoices();
  $("not-connected").hidden = status.connected;
  $("not-connected").textContent = status.message
    ? `Salesforce is not connected: ${status.message}. Go to the settings.`
    : "Connect Salesforce in the settings first.";
  $("start").disabled = !status.connected;
  $("sync").disabled = $("start").disabled;
  const history = await loadHistory();
  const running = history.find((j) => j.status === "PENDING" || j.status === "IN_PROGRESS");
  if (running) follow(running);
  else if (currentJob) renderJob(currentJob);
}

function renderObjectChoices() {
  const box = $("objects");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const t of objectTypes) {
    const input = el("input", { type: "checkbox", value: t.object_type, checked: true,
      dataset: { testid: `object-${t.object_type}` } });
    input.addEventListener("change", checkDependencies);
    const hint = t.hint ? el("span", { class: "hint" }, t.hint) : "";
    box.append(el("label", {}, input, " ", t.label, " ", hint));
  }
  checkDependencies();
}

function selectedTypes() {
  return [...$("objects").querySelectorAll("input:checked")].map((i) => i.value);
}

function checkDependencies() {
  const chosen = new Set(selectedTypes());
  const missing = [];
  for (const t of objectTypes) {
    if (!chosen.has(t.object_type)) continue;
    for (const need of t.requires || []) {
      if (!chosen.has(need)) missing.push(`${t.label} need ${labelOf(need)}`);
    }
  }
  const warn = $("dependency-warning");
  warn.hidden = missing.length === 0;
  warn.textContent = missing.length
    ? `${missing.join("; ")}. Records whose parent was not imported before are reported as errors.`
    : "";
}

function labelOf(type) {
  const t = objectTypes.find((o) => o.object_type === type);
  return t ? t.label : type;
}

// `sync`: read only what changed since the last import (deletions too).
async function startImport(sync = false) {
  clearError();
  const job = await api("POST", "/import", { object_types: selectedTypes(), sync });
  follow(job);
  await loadHistory();
}

async function cancelImport() {
  if (!currentJob) return;
  const job = await api("POST", `/import/${encodeURIComponent(currentJob.id)}/cancel`);
  renderJob(job);
}

function isRunning(job) {
  return job.status === "PENDING" || job.status === "IN_PROGRESS";
}

// `started`: the job was just started or resumed, so it runs whatever
// the answer says (an older server answers a resume with the job as it was).
function follow(job, started = false) {
  if (started && !isRunning(job)) job = { ...job, status: "IN_PROGRESS", message: null, interrupted: false };
  currentJob = job;
  renderJob(job);
  clearTimeout(pollTimer);
  if (isRunning(job)) pollTimer = setTimeout(poll, POLL_MS);
}

async function poll() {
  try {
    const job = await api("GET", `/import/${encodeURIComponent(currentJob.id)}`);
    currentJob = job;
    renderJob(job);
    updateHistoryRow(job);
    if (isRunning(job)) pollTimer = setTimeout(poll, POLL_MS);
    else await loadHistory();
  } catch (err) {
    showError(err);
    pollTimer = setTimeout(poll, POLL_MS);
  }
}

function renderJob(job) {
  $("progress").hidden = false;
  const status_badge = $("job-status");
  status_badge.textContent = job.interrupted ? INTERRUPTED_TEXT : STATUS_TEXT[job.status] || job.status;
  status_badge.dataset.status = job.status;
  status_badge.className = "badge " + job.status.toLowerCase();
  $("job-message").textContent = job.message || "";
  $("start").disabled = isRunning(job) || !(status && status.connected);
  $("sync").disabled = $("start").disabled;
  $("cancel").hidden = !isRunning(job);
  const bars = $("bars");
  bars.replaceChildren();
  for (const o of job.objects) {
    const done = o.imported + o.updated + o.skipped + o.deleted + o.errors;
    const max = o.total || (o.state === "DONE" ? Math.max(done, 1) : Math.max(done, 1) * 2);
    bars.append(el("div", { class: "bar", dataset: { testid: `bar-${o.object_type}` } },
      el("span", { class: "label" }, o.label),
      el("progress", { max: String(max), value: String(done) }),
      el("span", { class: "counts", dataset: { testid: `counts-${o.object_type}` } },
        `${done}${o.total != null ? " / " + o.total : ""} · ${o.imported} imported · ${o.updated} updated · ${o.skipped} skipped · ${o.deleted} deleted · ${o.errors} errors`),
      el("span", { class: "state" }, STATE_TEXT[o.state] || o.state)));
  }
  $("total-imported").textContent = job.imported;
  $("total-updated").textContent = job.updated;
  $("total-skipped").textContent = job.skipped;
  $("total-deleted").textContent = job.deleted;
  $("total-errors").textContent = job.errors;
}

async function loadHistory() {
  const jobs = await api("GET", "/import/history");
  const body = $("history-rows");
  body.replaceChildren();
  for (const job of jobs) {
    const row = el("tr", { class: "job", tabindex: "0", dataset: { testid: "history-row", job: job.id } },
      el("td", {}, fmtDate(job.created_at)),
      el("td", {}, job.started_by),
      el("td", {}, job.objects.map((o) => o.label).join(", ") + (job.sync ? " (sync)" : "")),
      el("td", {}, badge(job.status, {}, job.interrupted),
        job.status === "FAILED" || job.interrupted ? resumeButton(job) : ""),
      el("td", { class: "num" }, String(job.imported)),
      el("td", { class: "num" }, String(job.updated)),
      el("td", { class: "num" }, String(job.skipped)),
      el("td", { class: "num" }, String(job.errors)));
    row.addEventListener("click", () => toggleLog(row, job.id).catch(showError));
    body.append(row);
  }
  return jobs;
}

// A failed job (Salesforce's API limit reached, say) continues from its
// checkpoints.
function resumeButton(job) {
  const button = el("button", { class: "small", dataset: { testid: "resume" } }, "Resume");
  button.addEventListener("click", (event) => {
    event.stopPropagation(); // not a click on the row
    api("POST", `/import/${encodeURIComponent(job.id)}/resume`)
      .then((resumed) => { follow(resumed, true); return loadHistory(); })
      .then(() => { if (currentJob) updateHistoryRow(currentJob); })
      .catch(showError);
  });
  return button;
}

// The running job's history row follows its progress (without a reload,
// which would close an open error log).
function updateHistoryRow(job) {
  const row = [...document.querySelectorAll("tr.job")].find((r) => r.dataset.job === job.id);
  if (!row) return;
  const cells = row.children;
  cells[3].replaceChildren(badge(job.status, {}, job.interrupted));
  cells[4].textContent = String(job.imported);
  cells[5].textContent = String(job.updated);
  cells[6].textContent = String(job.skipped);
  cells[7].textContent = String(job.errors);
}

async function toggleLog(row, id) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains("log")) {
    next.remove();
    return;
  }
  const job = await api("GET", `/import/${encodeURIComponent(id)}`);
  const entries = job.error_log || [];
  const content = entries.length === 0
    ? el("p", { class: "muted" }, "No errors or warnings.")
    : el("table", { class: "errors", dataset: { testid: "error-log" } },
        el("thead", {}, el("tr", {}, el("th", {}, "Severity"), el("th", {}, "Object"),
          el("th", {}, "Salesforce id"), el("th", {}, "Field"), el("th", {}, "Message"))),
        el("tbody", {}, ...entries.map((e) => el("tr", { class: e.severity.toLowerCase() },
          el("td", {}, e.severity), el("td", {}, e.label), el("td", {}, e.sf_id || ""),
          el("td", {}, e.field), el("td", {}, e.message)))));
  row.after(el("tr", { class: "log" }, el("td", { colSpan: 8 }, content)));
}

// ---- start ---------------------------------------------------------------

function on(id, event, handler) {
  $(id).addEventListener(event, () => Promise.resolve(handler()).catch(showError));
}

window.addEventListener("DOMContentLoaded", async () => {
  on("connect", "click", connect);
  on("disconnect", "click", askDisconnect);
  on("confirm-disconnect", "close", onDisconnectDialogClose);
  on("start", "click", () => startImport(false));
  on("sync", "click", () => startImport(true));
  on("cancel", "click", cancelImport);
  window.addEventListener("hashchange", route);
  try {
    await finishCallback();
  } catch (err) {
    route();
    showError(err);
    return;
  }
  route();
});
