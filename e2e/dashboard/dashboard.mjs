// Drives Debian's chromium through the admin dashboard with playwright-core: sign in, watch a
// real upload's progress bar move, delete a file and see its public URL answer 404, take a
// name down and see a re-upload refused; screenshots of every page at desktop and phone width.
// Run by e2e/admin_test.go (TestDashboardInChromium), which starts the server and passes:
//   ADMIN_URL, PUBLIC_URL, TOKEN, SHOTS (a directory),
//   SLOW_URL and SLOW_SIZE (a signed PUT URL the script uploads to slowly),
//   DELETE_NAME (a stored file to delete), BLOCK_NAME and BLOCK_URL (a stored file to take
//   down, and a signed PUT URL of that name to try again).
// It prints one line per step and exits non-zero on the first failure.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error("missing " + k);
  return v;
};
const ADMIN = env("ADMIN_URL"), PUBLIC = env("PUBLIC_URL"), TOKEN = env("TOKEN"), SHOTS = env("SHOTS");
const SLOW_URL = env("SLOW_URL"), SLOW_SIZE = Number(env("SLOW_SIZE"));
const DELETE_NAME = env("DELETE_NAME"), BLOCK_NAME = env("BLOCK_NAME"), BLOCK_URL = env("BLOCK_URL");

function step(msg) { console.log("step: " + msg); }
function fail(msg) { throw new Error(msg); }

// slowPut sends size bytes to url in 64 KiB pieces, one every `every` ms; resolves with the status.
function slowPut(url, size, every) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "PUT", headers: { "Content-Length": String(size), "Content-Type": "application/octet-stream" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    let sent = 0;
    const piece = Buffer.alloc(64 << 10, 7);
    const tick = () => {
      if (sent >= size) { req.end(); return; }
      const n = Math.min(piece.length, size - sent);
      req.write(piece.subarray(0, n));
      sent += n;
      setTimeout(tick, every);
    };
    tick();
  });
}

async function status(url, method = "GET", body) {
  const r = await fetch(url, { method, body });
  await r.arrayBuffer();
  return r.status;
}

async function signIn(page) {
  await page.goto(ADMIN + "/files");
  if (!page.url().endsWith("/login")) fail("a page without a session did not lead to /login: " + page.url());
  await page.fill("#token", TOKEN);
  await Promise.all([page.waitForURL(ADMIN + "/"), page.click("button[type=submit]")]);
}

async function shoot(page, name, width) {
  await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  try {
    // Desktop: the whole walk.
    const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await desk.newPage();
    page.on("dialog", (d) => d.accept());
    const errors = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(ADMIN + "/login");
    await shoot(page, "login", 1280);
    await signIn(page);
    step("signed in");
    await shoot(page, "overview", 1280);

    // A real upload, slow enough to watch: the bar must move through several values.
    await page.goto(ADMIN + "/uploads");
    const upload = slowPut(SLOW_URL, SLOW_SIZE, 60);
    const seen = new Set();
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      const v = await page.evaluate(() => {
        const bar = document.querySelector("[data-upload] .bar");
        return bar ? Number(bar.getAttribute("aria-valuenow")) : -1;
      });
      if (v >= 0) seen.add(v);
      if (seen.size === 3) await shoot(page, "uploads", 1280);
      if (v === 100) break;
      await page.waitForTimeout(150);
    }
    const code = await upload;
    if (code !== 201) fail("the slow upload answered " + code);
    const values = [...seen].sort((a, b) => a - b);
    if (values.length < 4 || values[values.length - 1] !== 100) fail("the progress bar did not move to 100: " + JSON.stringify(values));
    step("progress bar moved through " + JSON.stringify(values));

    // Delete a file from its page; its public URL answers 404.
    if (await status(PUBLIC + "/upload/" + DELETE_NAME) !== 200) fail("the file to delete is not served");
    await page.goto(ADMIN + "/files?prefix=" + encodeURIComponent(DELETE_NAME.split("/")[0] + "/"));
    await shoot(page, "files", 1280);
    await Promise.all([page.waitForURL(/\/files\/view/), page.click(`a:text-is("${DELETE_NAME}")`)]);
    await shoot(page, "file", 1280);
    await page.fill("form[action='/files/delete'] input[name=reason]", "browser test");
    await page.click("form[action='/files/delete'] button");
    await page.waitForSelector(".notice");
    if (page.url() !== ADMIN + "/files") fail("after the delete the page is " + page.url());
    const notice = await page.textContent(".notice");
    if (!notice.includes(DELETE_NAME)) fail("no notice of the removal: " + notice);
    const after = await status(PUBLIC + "/upload/" + DELETE_NAME);
    if (after !== 404) fail("after the delete the public URL answers " + after);
    step("deleted " + DELETE_NAME + "; public URL answers 404");

    // Take a name down; a new upload to it is refused.
    await page.goto(ADMIN + "/takedowns");
    await page.fill("form[action='/takedowns/new'] input[name=name]", BLOCK_NAME);
    await page.fill("form[action='/takedowns/new'] input[name=reason]", "abuse report (browser test)");
    await page.click("form[action='/takedowns/new'] button");
    await page.waitForSelector(".notice");
    const rows = await page.textContent("table");
    if (!rows.includes(BLOCK_NAME)) fail("the takedown is not listed");
    await shoot(page, "takedowns", 1280);
    if (await status(PUBLIC + "/upload/" + BLOCK_NAME) !== 404) fail("the taken-down file is still served");
    const again = await status(BLOCK_URL, "PUT", "again");
    if (again !== 451) fail("a re-upload of the taken-down name answered " + again);
    step("took down " + BLOCK_NAME + "; re-upload refused with 451");

    await page.goto(ADMIN + "/uploaders");
    await shoot(page, "uploaders", 1280);
    await page.goto(ADMIN + "/");
    await page.waitForTimeout(300);
    await shoot(page, "overview", 1280);
    if (errors.length) fail("errors in the page: " + errors.join("; "));
    await desk.close();

    // Phone width: every page renders without sideways scrolling of the page itself.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p2 = await phone.newPage();
    await p2.goto(ADMIN + "/login");
    await shoot(p2, "login", 390);
    await signIn(p2);
    for (const [name, url] of [["overview", "/"], ["files", "/files"], ["uploads", "/uploads"], ["uploaders", "/uploaders"], ["takedowns", "/takedowns"]]) {
      await p2.goto(ADMIN + url);
      const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) fail(`${name} at phone width is ${overflow}px wider than the screen`);
      await shoot(p2, name, 390);
    }
    step("phone width: every page fits");
    await phone.close();
  } finally {
    await browser.close();
  }
}

main().then(() => { console.log("ok"); }, (e) => { console.error("dashboard: " + (e && e.stack || e)); process.exit(1); });
