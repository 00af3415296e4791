// The status page in headless Chromium (Debian's), driven by Playwright over CDP, for
// tests/tests/status_page.rs. Usage: node status_page.js <url> <user:password | -> <screenshot.png>
//
// Opens the page, waits for it to show the live executor count, prints
// `READY {"executors": ..., "predictions": ...}` and waits for a line on stdin (the test runs a
// PREDICT query meanwhile); then waits until the page's prediction count rises, writes the
// screenshot and prints `DONE {...}` with what it saw, console errors included. Exits 1 on failure.
"use strict";
const { chromium } = require("playwright-core");
const readline = require("readline");

const [url, credentials, screenshot] = process.argv.slice(2);

function nextLine() {
  const lines = readline.createInterface({ input: process.stdin });
  return new Promise(resolve => lines.once("line", line => { lines.close(); resolve(line); }));
}

async function number(page, id) {
  const text = await page.textContent("#" + id);
  return Number(String(text).replace(/[^0-9]/g, ""));
}

(async () => {
  // Flags as on this machine's closed network: no background connections, a fresh profile.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const options = {};
  if (credentials !== "-") {
    const [username, password] = credentials.split(":");
    options.httpCredentials = { username, password };
  }
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", message => { if (message.type() === "error") consoleErrors.push(message.text()); });
  page.on("pageerror", error => consoleErrors.push(String(error)));
  const requests = [];
  page.on("request", request => requests.push(request.url()));
  const answer = await page.goto(url, { waitUntil: "load" });
  if (!answer || answer.status() !== 200) throw new Error("the page answered " + (answer && answer.status()));
  // The first refresh has filled the numbers in.
  await page.waitForFunction(() => document.getElementById("executors-now").textContent !== "–", null, { timeout: 20000 });
  const before = { executors: await number(page, "executors-now"), predictions: await number(page, "predictions-total"), state: await page.textContent("#state") };
  console.log("READY " + JSON.stringify(before));
  await nextLine();
  await page.waitForFunction(
    previous => Number(document.getElementById("predictions-total").textContent.replace(/[^0-9]/g, "")) > previous,
    before.predictions,
    { timeout: 30000 },
  );
  await page.screenshot({ path: screenshot, fullPage: true });
  const after = {
    executors: await number(page, "executors-now"),
    predictions: await number(page, "predictions-total"),
    models: await page.textContent("#models"),
    consoleErrors,
    // Anything the page asked for that is not this server: it must work without the internet.
    elsewhere: requests.filter(r => !r.startsWith(new URL(url).origin)),
  };
  console.log("DONE " + JSON.stringify(after));
  await browser.close();
})().catch(error => {
  console.error(String(error && error.stack || error));
  process.exit(1);
});
