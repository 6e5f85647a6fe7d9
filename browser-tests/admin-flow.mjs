// Browser test of the example server's admin pages, in headless Chromium.
//
// Connect -> approve at the fake org -> back connected -> import all objects
// -> wait for the end -> counts equal the sample org's -> open a history
// row's error log -> a failed import (the fake org's API limit) resumed ->
// disconnect during it, with a warning. Screenshots go to SCREENSHOT_DIR.
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

  // 2. Connect: the fake org approves at once and sends us back with a code.
  await page.getByTestId("connect").click();
  await statusText.filter({ hasText: /^Connected$/ }).waitFor({ timeout: 30_000 });
  const instance = await page.getByTestId("status-instance").textContent();
  check(/^https?:\/\//.test(instance), `connected to instance ${instance}`);
  check(!page.url().includes("code="), "the code is gone from the address bar");
  await shot(page, "2-settings-connected");

  // 3. Import everything.
  await page.getByTestId("nav-import").click();
  await page.getByTestId("start").waitFor();
  const boxes = page.locator("[data-testid^=object-]");
  check((await boxes.count()) === 6, "six objects offered");
  for (const box of await boxes.all()) check(await box.isChecked(), `${await box.getAttribute("value")} checked`);
  await page.getByTestId("start").click();
  const badge = page.getByTestId("job-status");
  const statusIs = (pattern) => page.locator(`[data-testid=job-status]`).and(
    page.locator(pattern.map((s) => `[data-status=${s}]`).join(", ")));
  await statusIs(["PENDING", "IN_PROGRESS"]).waitFor({ timeout: 30_000 });
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
  for (const [object, [imported, errors]] of Object.entries(EXPECTED.perObject)) {
    const text = await page.getByTestId(`counts-${object}`).textContent();
    check(text.includes(`${imported} imported`) && text.includes(`${errors} errors`),
      `${object}: ${text}`);
  }
  await shot(page, "4-import-finished");

  // 5. History: the newest row, expanded, shows the error log.
  const row = page.getByTestId("history-row").first();
  check((await row.locator("[data-status]").getAttribute("data-status")) === "COMPLETED_WITH_ERRORS",
    "history lists the job");
  await row.click();
  const log = page.getByTestId("error-log");
  await log.waitFor();
  const errorRows = log.locator("tbody tr.error");
  const warningRows = log.locator("tbody tr.warning");
  check((await errorRows.count()) === EXPECTED.errors, `error log has ${EXPECTED.errors} errors`);
  check((await warningRows.count()) === EXPECTED.warnings, `error log has ${EXPECTED.warnings} warnings`);
  check((await log.textContent()).includes("0035g0000000163AAA"), "the contact without a last name is named");
  await shot(page, "5-history-error-log");

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
} catch (err) {
  failed = true;
  console.error(err);
  await shot(page, "failure").catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
