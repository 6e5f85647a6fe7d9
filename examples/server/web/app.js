// The admin pages of the example CRM: Salesforce settings and Import.
// Plain JavaScript, no build step. Talks to the router mounted at API.
"use strict";

const API = "/api/salesforce";
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

let status = null;      // last GET status
let objectTypes = [];   // GET import/objects
let counts = {};        // GET import/counts: object type -> {count, available}
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

// What the caller may do (GET status's `can`); nothing until known.
function can(action) {
  return Boolean(status && status.can && status.can[action]);
}

// A user who may only look sees no action buttons, and a note saying why.
function applyRole() {
  const admin = can("connect") || can("import");
  $("read-only").hidden = admin || !status;
  $("who").textContent = status ? (admin ? "Administrator" : "Read-only") : "";
}

// ---- settings --------------------------------------------------------------

async function loadStatus() {
  status = await api("GET", "/status");
  applyRole();
  $("status-dot").className = "dot " + (status.connected ? "on" : "off");
  $("status-text").textContent = status.connected ? "Connected"
    : status.message ? `Not connected — ${status.message}` : "Not connected";
  $("status-details").hidden = !status.connected;
  // Not connected: no stale values from an earlier connection.
  $("status-instance").textContent = status.connected ? status.instance_url || "" : "";
  $("status-by").textContent = status.connected ? status.connected_by || "" : "";
  $("status-at").textContent = status.connected ? fmtDate(status.connected_at) : "";
  $("connect").hidden = status.connected || !can("connect");
  $("login-host").hidden = $("connect").hidden;
  // A stored connection that cannot be used (its tokens unreadable) can be
  // cleared too.
  $("disconnect").hidden = (!status.connected && !status.problem) || !can("disconnect");
  return status;
}

// Where the admin logs in: production, a sandbox, or the org's My Domain.
function chosenLoginHost() {
  const choice = document.querySelector("input[name=login]:checked");
  if (!choice || choice.value === "production") return "production";
  if (choice.value === "sandbox") return "sandbox";
  const domain = $("my-domain").value.trim();
  if (!domain) throw new Error("Enter your My Domain (acme, or acme.my.salesforce.com).");
  return domain;
}

function onLoginChoice() {
  const myDomain = document.querySelector("input[name=login]:checked").value === "my_domain";
  $("my-domain").disabled = !myDomain;
  if (myDomain) $("my-domain").focus();
}

async function connect() {
  clearError();
  const { authorization_url } = await api("POST", "/connect", { login_host: chosenLoginHost() });
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
  applyRole();
  counts = {};
  renderObjectChoices();
  $("not-connected").hidden = status.connected;
  $("not-connected").textContent = !status.connected && !can("connect")
    ? "Salesforce is not connected: an administrator connects it in the settings."
    : status.message
      ? `Salesforce is not connected: ${status.message}. Go to the settings.`
      : "Connect Salesforce in the settings first.";
  $("start").hidden = !can("import");
  $("sync").hidden = !can("import");
  $("preview").hidden = !can("import");
  $("start").disabled = !status.connected;
  $("sync").disabled = $("start").disabled;
  $("preview").disabled = $("start").disabled;
  const countsLoaded = status.connected ? loadCounts() : Promise.resolve();
  const history = await loadHistory();
  const running = history.find((j) => j.status === "PENDING" || j.status === "IN_PROGRESS");
  if (running) follow(running);
  else if (currentJob) renderJob(currentJob);
  await countsLoaded;
}

// The org's record count beside each checkbox. A failure leaves the
// choices as they are (the counts are a help, not a step).
async function loadCounts() {
  const note = $("counts-note");
  note.hidden = true;
  try {
    const list = await api("GET", "/import/counts");
    counts = Object.fromEntries(list.map((c) => [c.object_type, c]));
  } catch (err) {
    counts = {};
    note.textContent = `The record counts could not be read: ${err.message}`;
    note.hidden = false;
  }
  renderCounts();
}

function renderCounts() {
  for (const t of objectTypes) {
    const span = document.querySelector(`[data-testid="count-${t.object_type}"]`);
    if (!span) continue;
    const c = counts[t.object_type];
    span.textContent = !c ? ""
      : !c.available ? "not in this org"
      : c.count == null ? "" : `${c.count.toLocaleString()} in Salesforce`;
    span.dataset.count = c && c.count != null ? String(c.count) : "";
  }
}

function renderObjectChoices() {
  const box = $("objects");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const t of objectTypes) {
    const input = el("input", { type: "checkbox", value: t.object_type, checked: true,
      dataset: { testid: `object-${t.object_type}` } });
    input.addEventListener("change", checkDependencies);
    const count = el("span", { class: "count", dataset: { testid: `count-${t.object_type}` } });
    const hint = t.hint ? el("span", { class: "hint" }, t.hint) : "";
    box.append(el("label", {}, input, " ", t.label, " ", count, " ", hint));
  }
  renderCounts();
  lockChoices(currentJob && isRunning(currentJob));
  checkDependencies();
}

// The choices cannot change while an import runs (nor for a user who
// cannot start one).
function lockChoices(running) {
  for (const input of $("objects").querySelectorAll("input")) {
    input.disabled = Boolean(running) || !can("import");
  }
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

// The dry run: what Start would do, object by object, written nowhere.
async function previewImport() {
  clearError();
  const button = $("preview");
  button.disabled = true;
  button.textContent = "Previewing…";
  try {
    const preview = await api("POST", "/import/preview", { object_types: selectedTypes() });
    const rows = $("preview-rows");
    rows.replaceChildren();
    const PREVIEW_COLUMNS = ["Object", "Read", "Create", "Update", "Skip", "Delete", "Reject"];
    for (const o of preview.objects) {
      const cells = o.available
        ? [o.label, o.read, o.create, o.update, o.skip, o.delete, o.reject]
        : [o.label, "not in this org", "", "", "", "", ""];
      rows.append(el("tr", { dataset: { testid: `preview-${o.object_type}` } },
        ...cells.map((v, i) => el("td", { class: i > 0 ? "num" : "", dataset: { label: PREVIEW_COLUMNS[i] } },
          typeof v === "number" ? v.toLocaleString() : v))));
    }
    const list = $("preview-rejections");
    list.replaceChildren(...preview.rejections.slice(0, 10).map((r) =>
      el("li", {}, `${r.label} ${r.sf_id || ""}: ${r.field} — ${r.message}`)));
    $("preview-result").hidden = false;
  } finally {
    button.textContent = "Preview";
    button.disabled = (currentJob && isRunning(currentJob)) || !(status && status.connected);
  }
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
  $("preview").disabled = $("start").disabled;
  $("cancel").hidden = !isRunning(job) || !can("cancel");
  lockChoices(isRunning(job));
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
  $("total-warnings").textContent = job.warnings;
  $("job-downloads").hidden = job.errors + job.warnings === 0;
  $("job-errors-csv").href = errorsCsvUrl(job.id);
  $("job-missing-parents-csv").hidden = job.errors === 0;
  $("job-missing-parents-csv").href = `${API}/import/${encodeURIComponent(job.id)}/missing-parents.csv`;
}

function errorsCsvUrl(id) {
  return `${API}/import/${encodeURIComponent(id)}/errors.csv`;
}

// The history's columns, for the narrow layout (each cell says what it is).
const COLUMNS = ["Started", "By", "Objects", "Status", "Imported", "Updated", "Skipped", "Errors", "Warnings"];

async function loadHistory() {
  const jobs = await api("GET", "/import/history");
  const body = $("history-rows");
  body.replaceChildren();
  if (jobs.length === 0) {
    body.append(el("tr", { class: "empty" }, el("td", { colSpan: COLUMNS.length,
      dataset: { testid: "history-empty" } }, "No imports yet. Choose what to import above and start one.")));
    return jobs;
  }
  for (const job of jobs) {
    const cells = [
      fmtDate(job.created_at),
      job.started_by,
      job.objects.map((o) => o.label).join(", ") + (job.sync ? " (sync)" : ""),
      [badge(job.status, {}, job.interrupted),
        (job.status === "FAILED" || job.interrupted) && can("resume") ? resumeButton(job) : ""],
      String(job.imported), String(job.updated), String(job.skipped), String(job.errors), String(job.warnings),
    ].map((content, i) => el("td", { class: i >= 4 ? "num" : "", dataset: { label: COLUMNS[i] } },
      ...[content].flat()));
    const row = el("tr", { class: "job", tabindex: "0", "aria-expanded": "false",
      title: "Show the errors and warnings", dataset: { testid: "history-row", job: job.id } }, ...cells);
    const toggle = () => toggleLog(row, job.id).catch(showError);
    row.addEventListener("click", toggle);
    row.addEventListener("keydown", (event) => {
      if (event.target !== row) return; // a key on the Resume button
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault(); // Space would scroll
        toggle();
      }
    });
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
  cells[8].textContent = String(job.warnings);
}

async function toggleLog(row, id) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains("log")) {
    next.remove();
    row.setAttribute("aria-expanded", "false");
    return;
  }
  const job = await api("GET", `/import/${encodeURIComponent(id)}`);
  const entries = job.error_log || [];
  const LOG_COLUMNS = ["Severity", "Object", "Salesforce id", "Field", "Message"];
  const content = entries.length === 0
    ? [el("p", { class: "muted" }, "No errors or warnings.")]
    : [
        el("p", { class: "log-actions" },
          el("a", { class: "button secondary small", href: errorsCsvUrl(job.id), download: "",
            dataset: { testid: "download-errors" } }, "Download errors (CSV)"),
          job.error_log_truncated
            ? el("span", { class: "hint", dataset: { testid: "log-truncated" } },
                ` Showing the first ${entries.length.toLocaleString()} lines; the file has them all.`)
            : ""),
        el("table", { class: "errors", dataset: { testid: "error-log" } },
          el("thead", {}, el("tr", {}, ...LOG_COLUMNS.map((c) => el("th", {}, c)))),
          el("tbody", {}, ...entries.map((e) => el("tr", { class: e.severity.toLowerCase() },
            ...[e.severity, e.label, e.sf_id || "", e.field, e.message]
              .map((v, i) => el("td", { dataset: { label: LOG_COLUMNS[i] } }, v)))))),
      ];
  row.after(el("tr", { class: "log" }, el("td", { colSpan: COLUMNS.length }, ...content)));
  row.setAttribute("aria-expanded", "true");
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
  on("preview", "click", previewImport);
  on("cancel", "click", cancelImport);
  for (const radio of document.querySelectorAll("input[name=login]")) {
    radio.addEventListener("change", onLoginChoice);
  }
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
