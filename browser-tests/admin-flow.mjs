// Browser test of the example server's admin pages, in headless Chromium.
//
// Connect at the sandbox login host -> approve at the fake sandbox org ->
// back connected -> the org's counts beside the checkboxes -> import all
// objects -> wait for the end -> counts equal the sample org's -> open a
// history row's error log (keyboard) -> download the error file and parse
// it -> a non-admin's read-only view -> a phone's 390 px -> a failed import
// (the fake org's API limit) resumed -> disconnect during it, with a
// warning. Screenshots go to SCREENSHOT_DIR.
//
//   BASE_URL=http://127.0.0.1:3000 node admin-flow.mjs
//
// The expected numbers are the bundled sample org's
// (src/source/sample/MANIFEST.md).
import { mkdir } from "node:fs/promises";
import { chromium } from "playwright-core";

const BASE_URL = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const SHOTS = process.env.SCREENSHOT_DIR ?? "../target/screenshots";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const EXPECTED = {
  imported: 468,
  errors: 5,
  warnings: 4,
  perObject: {
    Product2: [25, 0], PricebookEntry: [29, 0], Account: [90, 0], Contact: [88, 1],
    Opportunity: [66, 1], Order: [30, 1], OrderItem: [75, 2], Quote: [22, 0], QuoteLineItem: [43, 0],
  },
};

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// A CSV file's rows (RFC 4180: quoted cells may hold commas, quotes and
// line breaks), the header row first.
function parseCsv(text) {
  const rows = [];
  let row = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

async function shot(page, name) {
  const path = `${SHOTS}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
}

// Whether the newest job is running (asked of the API, as the page does).
async function demoJobRunning(page) {
  const res = await page.request.get(`${BASE_URL}/api/salesforce/import/history`);
  const jobs = await res.json();
  return jobs.length > 0 && ["PENDING", "IN_PROGRESS"].includes(jobs[0].status);
}

await mkdir(SHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = false;
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on("console", (m) => { if (m.type() === "error") console.log(`browser console: ${m.text()}`); });
page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
try {
  // 1. Settings: not connected.
  await page.goto(`${BASE_URL}/#/settings`);
  const statusText = page.getByTestId("status-text");
  await statusText.filter({ hasText: "Not connected" }).waitFor();
  check(true, "settings page shows 'Not connected'");
  await shot(page, "1-settings-not-connected");

  // 2. Connect at the sandbox login host (the example's second fake org):
  // it approves at once and sends us back with a code.
  const orgs = await (await page.request.get(`${BASE_URL}/demo/orgs`)).json();
  check(orgs.sandbox && orgs.sandbox !== orgs.production, `a sandbox org at ${orgs.sandbox}`);
  const authorizeHosts = [];
  page.on("request", (r) => {
    if (r.url().includes("/services/oauth2/authorize")) authorizeHosts.push(new URL(r.url()).origin);
  });
  check(await page.getByTestId("login-host").isVisible(), "the login host can be chosen");
  check(await page.getByTestId("my-domain").isDisabled(), "the My Domain box waits for its choice");
  await page.getByTestId("login-sandbox").check();
  await shot(page, "2-settings-login-host-sandbox");
  await page.getByTestId("connect").click();
  await statusText.filter({ hasText: /^Connected$/ }).waitFor({ timeout: 30_000 });
  check(authorizeHosts.length === 1 && authorizeHosts[0] === orgs.sandbox,
    `logged in at the sandbox (${authorizeHosts.join(", ")})`);
  const instance = await page.getByTestId("status-instance").textContent();
  check(instance === orgs.sandbox, `connected to the sandbox instance ${instance}`);
  check(!page.url().includes("code="), "the code is gone from the address bar");
  check(!(await page.getByTestId("login-host").isVisible()), "no login host choice once connected");
  await shot(page, "2-settings-connected");

  // 3. Import everything.
  await page.getByTestId("nav-import").click();
  await page.getByTestId("start").waitFor();
  const boxes = page.locator("[data-testid^=object-]");
  check((await boxes.count()) === 6, "six objects offered");
  await page.getByTestId("history-empty").waitFor();
  check((await page.getByTestId("history-empty").textContent()).includes("No imports yet"),
    "an empty history says so");
  for (const box of await boxes.all()) check(await box.isChecked(), `${await box.getAttribute("value")} checked`);
  // The org's record counts beside the checkboxes (the sample org's).
  const COUNTS = { Account: 90, Contact: 89, Opportunity: 67, Product2: 25, Order: 31, Quote: 22 };
  for (const [object, n] of Object.entries(COUNTS)) {
    const count = page.getByTestId(`count-${object}`);
    await count.and(page.locator(`[data-count="${n}"]`)).waitFor({ timeout: 10_000 });
    check((await count.textContent()).includes(`${n} in Salesforce`), `${object}: ${await count.textContent()}`);
  }
  await shot(page, "3-import-counts");

  // 3a. Preview: what Start would do, written nowhere; then Start does it.
  await page.getByTestId("preview").click();
  await page.getByTestId("preview-result").waitFor({ timeout: 60_000 });
  for (const [object, [imported, errors]] of Object.entries(EXPECTED.perObject)) {
    const cells = await page.getByTestId(`preview-${object}`).locator("td").allTextContents();
    check(Number(cells[2]) === imported && Number(cells[6]) === errors && Number(cells[3]) === 0,
      `preview ${object}: create ${cells[2]}, reject ${cells[6]}`);
  }
  check((await page.getByTestId("preview-rejections").locator("li").count()) === EXPECTED.errors,
    "the preview lists the records it would reject");
  check((await page.getByTestId("preview-rejections").textContent()).includes("0035g0000000163AAA"),
    "the preview names the contact without a last name");
  check(await page.getByTestId("history-empty").isVisible(), "the preview made no job");
  await shot(page, "3a-preview");
  await page.getByTestId("start").click();
  const badge = page.getByTestId("job-status");
  const statusIs = (pattern) => page.locator(`[data-testid=job-status]`).and(
    page.locator(pattern.map((s) => `[data-status=${s}]`).join(", ")));
  await statusIs(["PENDING", "IN_PROGRESS"]).waitFor({ timeout: 30_000 });
  check(await page.getByTestId("object-Account").isDisabled(), "the checkboxes are locked while it runs");
  await page.waitForTimeout(2_500); // one refresh of the bars
  await shot(page, "3-import-in-progress");

  // 4. Wait for the end and compare the counts with the sample org.
  await statusIs(["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"])
    .waitFor({ timeout: 180_000 });
  check((await badge.getAttribute("data-status")) === "COMPLETED_WITH_ERRORS"
    && (await badge.textContent()) === "Completed with errors", "import completed with errors");
  check(Number(await page.locator("#total-imported").textContent()) === EXPECTED.imported,
    `${EXPECTED.imported} records imported`);
  check(Number(await page.locator("#total-errors").textContent()) === EXPECTED.errors,
    `${EXPECTED.errors} records failed`);
  check(Number(await page.locator("#total-warnings").textContent()) === EXPECTED.warnings,
    `${EXPECTED.warnings} warnings in the totals`);
  check(!(await page.getByTestId("object-Account").isDisabled()), "the checkboxes are free again");
  // 4a. The missing-parent report: the order without its account, and its two lines.
  const [missing] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("job-missing-parents-csv").click(),
  ]);
  const missingRows = parseCsv(await (await import("node:fs/promises")).readFile(await missing.path(), "utf8"));
  check(missingRows[0].join(",") === "object,sf_id,field,parent_object,parent_id,reason"
    && missingRows.length === 4
    && missingRows[1].join(",") === "Order,8015g00000000YdAAI,AccountId,Account,0015g00000ZZZZZAA5,not_found"
    && missingRows.slice(2).every((r) => r[0] === "OrderItem" && r[5] === "failed"),
    `the missing-parent report: ${JSON.stringify(missingRows)}`);
  for (const [object, [imported, errors]] of Object.entries(EXPECTED.perObject)) {
    const text = await page.getByTestId(`counts-${object}`).textContent();
    check(text.includes(`${imported} imported`) && text.includes(`${errors} errors`),
      `${object}: ${text}`);
  }
  await shot(page, "4-import-finished");

  // 5. History: the newest row, opened from the keyboard, shows the error log.
  const row = page.getByTestId("history-row").first();
  check((await row.locator("[data-status]").getAttribute("data-status")) === "COMPLETED_WITH_ERRORS",
    "history lists the job");
  check((await row.locator("td").nth(8).textContent()) === String(EXPECTED.warnings),
    "the history shows the warnings");
  check(await row.evaluate((r) => getComputedStyle(r).cursor) === "pointer", "the row looks clickable");
  check((await row.getAttribute("tabindex")) === "0", "the row takes the keyboard focus");
  await row.focus();
  await page.keyboard.press("Enter");
  const log = page.getByTestId("error-log");
  await log.waitFor();
  check((await row.getAttribute("aria-expanded")) === "true", "Enter opened the log (aria-expanded)");
  const errorRows = log.locator("tbody tr.error");
  const warningRows = log.locator("tbody tr.warning");
  check((await errorRows.count()) === EXPECTED.errors, `error log has ${EXPECTED.errors} errors`);
  check((await warningRows.count()) === EXPECTED.warnings, `error log has ${EXPECTED.warnings} warnings`);
  check((await log.textContent()).includes("0035g0000000163AAA"), "the contact without a last name is named");
  await shot(page, "5-history-error-log");

  // 5a. The error file: downloaded through the page's button, parsed.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("download-errors").click(),
  ]);
  check(/^salesforce-import-[A-Za-z0-9_-]+-errors\.csv$/.test(download.suggestedFilename()),
    `the file is named ${download.suggestedFilename()}`);
  const csvText = await (await import("node:fs/promises")).readFile(await download.path(), "utf8");
  const [header, ...rows] = parseCsv(csvText);
  check(header.join(",") === "level,object,salesforce_id,field,problem,message", `the header: ${header}`);
  check(rows.length === EXPECTED.errors + EXPECTED.warnings, `${rows.length} rows, one per log line`);
  check(rows.filter((r) => r[0] === "ERROR").length === EXPECTED.errors
    && rows.filter((r) => r[0] === "WARNING").length === EXPECTED.warnings, "5 errors and 4 warnings in the file");
  const lastName = rows.find((r) => r[2] === "0035g0000000163AAA" && r[0] === "ERROR");
  check(lastName && lastName[1] === "Contact" && lastName[3] === "LastName" && lastName[4] === "missing",
    `the contact without a last name: ${lastName}`);
  check(rows.every((r) => r.length === 6 && r.every((c) => !/^[=+\-@]/.test(c))),
    "six cells a row, none a spreadsheet formula");
  // Space closes it again.
  await row.focus();
  await page.keyboard.press(" ");
  await log.waitFor({ state: "detached" });
  check((await row.getAttribute("aria-expanded")) === "false", "Space closed the log");

  // 5c. A user who is not an admin (the example's cookie): a read-only view.
  const viewer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await viewer.addCookies([{ name: "demo_role", value: "viewer", url: BASE_URL }]);
  const vpage = await viewer.newPage();
  await vpage.goto(`${BASE_URL}/#/settings`);
  await vpage.getByTestId("status-text").filter({ hasText: /^Connected$/ }).waitFor();
  const role = await (await vpage.request.get(`${BASE_URL}/api/salesforce/status`)).json();
  check(role.can && !role.can.connect && !role.can.import && !role.can.cancel && !role.can.disconnect,
    `/status says what the viewer may do: ${JSON.stringify(role.can)}`);
  check(await vpage.getByTestId("read-only").isVisible(), "the viewer is told the page is read-only");
  check(!(await vpage.getByTestId("disconnect").isVisible()) && !(await vpage.getByTestId("connect").isVisible()),
    "no Connect or Disconnect for the viewer");
  await shot(vpage, "5c-viewer-settings");
  await vpage.getByTestId("nav-import").click();
  await vpage.getByTestId("history-row").first().waitFor();
  for (const id of ["start", "sync", "cancel"]) {
    check(!(await vpage.getByTestId(id).isVisible()), `no ${id} button for the viewer`);
  }
  check(await vpage.getByTestId("object-Account").isDisabled(), "the viewer's checkboxes are locked");
  check(await vpage.getByTestId("resume").count() === 0, "no Resume for the viewer");
  await vpage.getByTestId("history-row").first().click();
  await vpage.getByTestId("download-errors").waitFor();
  check(true, "the viewer can still open a log and download its error file");
  await shot(vpage, "5c-viewer-import");

  // 5d. A phone: 390 px wide, nothing wider than the screen.
  await vpage.setViewportSize({ width: 390, height: 844 });
  await vpage.waitForTimeout(300);
  const width = await vpage.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `no horizontal overflow at 390 px (scrollWidth ${width})`);
  const rowFits = await vpage.getByTestId("history-row").first()
    .evaluate((r) => r.getBoundingClientRect().right <= 390);
  check(rowFits, "the history row fits the screen");
  await shot(vpage, "5d-import-390px");
  await viewer.close();

  // An admin's page at 390 px too (with the action buttons).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const adminWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  check(adminWidth <= 390, `the admin's page fits 390 px too (scrollWidth ${adminWidth})`);
  await shot(page, "5d-admin-import-390px");
  await page.setViewportSize({ width: 1280, height: 900 });

  // 5b. Sync changes: nothing changed in the org since, so nothing is written.
  await page.getByTestId("sync").click();
  await page.getByTestId("history-row").first().filter({ hasText: "(sync)" })
    .waitFor({ timeout: 30_000 });
  await statusIs(["COMPLETED", "COMPLETED_WITH_ERRORS"]).waitFor({ timeout: 60_000 });
  const total = async (id) => Number(await page.locator(`#total-${id}`).textContent());
  check(await total("imported") === 0 && await total("updated") === 0,
    "a sync with nothing changed writes nothing");
  check(await total("skipped") === EXPECTED.imported,
    `the sync left the ${EXPECTED.imported} unchanged records alone`);
  await shot(page, "5b-sync-nothing-changed");

  // 6. A failed import, resumed, reads "In progress" at once and is followed.
  // The example server sets the fake org's API limit on demand.
  const demo = (method, path) => page.request.fetch(`${BASE_URL}/demo${path}`,
    { method, headers: { "X-Requested-With": "salesforce-import" } });
  check((await demo("POST", "/rate-limit?after=4")).status() === 204, "the fake org's API limit is near");
  await page.getByTestId("start").click();
  await statusIs(["FAILED"]).waitFor({ timeout: 60_000 });
  check((await page.locator("#job-message").textContent()).includes("limit"), "the import failed at the API limit");
  check((await demo("DELETE", "/rate-limit")).status() === 204, "the API limit lifted");
  // Slow, so that the resumed import still runs at the disconnect below.
  check((await demo("POST", "/latency?ms=400")).status() === 204, "the fake org slowed down");
  const failedRow = page.getByTestId("history-row").first();
  check((await failedRow.locator("[data-status]").getAttribute("data-status")) === "FAILED",
    "history lists the failed job");
  await failedRow.getByTestId("resume").click();
  await statusIs(["IN_PROGRESS"]).waitFor({ timeout: 2_500 }); // within one poll
  check((await badge.textContent()) === "In progress", "the resumed job reads 'In progress'");
  check(await page.getByTestId("cancel").isVisible(), "Cancel is offered");
  check(await page.getByTestId("start").isDisabled(), "Start is disabled while it runs");
  await page.waitForTimeout(2_500); // one poll
  const after = await badge.getAttribute("data-status");
  check(after !== "FAILED", `still followed after a poll (${after})`);
  await shot(page, "6-import-resumed");

  // 7. Disconnect, with confirmation, which warns of the running import.
  await page.getByTestId("nav-settings").click();
  await page.getByTestId("disconnect").click();
  await page.getByTestId("confirm-dialog").waitFor();
  const stillRunning = await demoJobRunning(page);
  if (stillRunning) {
    check(await page.getByTestId("disconnect-running").isVisible()
      && (await page.getByTestId("disconnect-running").textContent()).includes("import is running"),
      "the confirmation mentions the running import");
  } else {
    console.log("# the resumed import ended before the disconnect: no warning to check");
  }
  await shot(page, "7-confirm-disconnect");
  await page.getByTestId("confirm-disconnect").click();
  await statusText.filter({ hasText: "Not connected" }).waitFor();
  check(true, "disconnected");
  const details = page.locator("#status-details");
  check(await details.evaluate((e) => getComputedStyle(e).display) === "none",
    "the connection labels are hidden (display: none)");
  check((await page.getByTestId("status-instance").textContent()) === "", "the old instance is cleared");
  check(await page.getByTestId("connect").isVisible(), "Connect is offered");
  await shot(page, "7-settings-disconnected");

  // 8. The import cut off by the disconnect says why, without internal ids.
  if (stillRunning) {
    await page.getByTestId("nav-import").click();
    await statusIs(["FAILED", "COMPLETED", "COMPLETED_WITH_ERRORS"]).waitFor({ timeout: 60_000 });
    const message = await page.locator("#job-message").textContent();
    check(!/\bdemo\b/.test(message), `the job's message names no tenant id: ${JSON.stringify(message)}`);
    await shot(page, "8-import-stopped-by-disconnect");
  }

  // 9. Connect again (production), start, and cancel the running import.
  await page.getByTestId("nav-settings").click();
  await page.getByTestId("login-production").check();
  await page.getByTestId("connect").click();
  await statusText.filter({ hasText: /^Connected$/ }).waitFor({ timeout: 30_000 });
  check((await page.getByTestId("status-instance").textContent()) === orgs.production,
    "connected again, at production");
  await page.getByTestId("nav-import").click();
  await page.locator("[data-testid=start]:not([disabled])").waitFor();
  await page.getByTestId("start").click();
  await statusIs(["PENDING", "IN_PROGRESS"]).waitFor({ timeout: 30_000 });
  await page.getByTestId("cancel").click();
  await statusIs(["CANCELLED"]).waitFor({ timeout: 60_000 });
  check((await badge.textContent()) === "Cancelled", "the running import was cancelled");
  check(!(await page.getByTestId("cancel").isVisible()), "no Cancel once it stopped");
  check(!(await page.getByTestId("start").isDisabled()), "Start is offered again");
  await shot(page, "9-import-cancelled");

  // 10. The vault's key replaced (tokens unreadable): the page says so and
  // lets the admin clear the connection and connect again.
  check((await demo("POST", "/rotate-key")).status() === 204, "the vault's key was replaced");
  await page.getByTestId("nav-settings").click();
  await page.reload();
  await statusText.filter({ hasText: /connect again/ }).waitFor({ timeout: 10_000 });
  check(await page.getByTestId("connect").isVisible() && await page.getByTestId("disconnect").isVisible(),
    `unreadable tokens: Connect and Disconnect offered (${await statusText.textContent()})`);
  await shot(page, "10-settings-tokens-unreadable");
  await page.getByTestId("disconnect").click();
  await page.getByTestId("confirm-dialog").waitFor();
  await page.getByTestId("confirm-disconnect").click();
  await statusText.filter({ hasText: /^Not connected$/ }).waitFor({ timeout: 10_000 });
  check(!(await page.getByTestId("disconnect").isVisible()), "the unreadable connection was cleared");
  await page.getByTestId("connect").click();
  await statusText.filter({ hasText: /^Connected$/ }).waitFor({ timeout: 30_000 });
  check(true, "connected again after the key rotation");
  await shot(page, "10-settings-connected-again");
} catch (err) {
  failed = true;
  console.error(err);
  await shot(page, "failure").catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
