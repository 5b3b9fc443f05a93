// End-to-end test of the web UI in a real browser: Debian's chromium driven by playwright-core.
// Starts `sparkflow local` on a free loopback port with a fresh data directory, then does what a user
// does: create a pool, create a transform, run it and watch it succeed, cancel another run, filter the
// runs; and checks that a forged cross-origin POST is refused. Screenshots go to e2e/out/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.SPARKFLOW_BIN || join(here, "..", "bin", "sparkflow");
const out = join(here, "out");
const chromePath = process.env.CHROMIUM || "/usr/bin/chromium";

let server, base, browser, page, dataDir, serverLog = "";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

async function waitHealthy(url, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try { const r = await fetch(url + "/api/health"); if (r.ok) return; } catch {}
    if (Date.now() > deadline) throw new Error("sparkflow local did not start:\n" + serverLog);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(name) {
  await page.screenshot({ path: join(out, name + ".png"), fullPage: true });
}

before(async () => {
  mkdirSync(out, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "sparkflow-ui-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ["local", "--data", dataDir, "--addr", `127.0.0.1:${port}`, "--provision-delay", "500ms"], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  await waitHealthy(base, 20000);
  browser = await chromium.launch({
    executablePath: chromePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("dialog", (d) => d.accept()); // the confirmations of delete and cancel
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
});

test("create a pool from the Clusters page, with validation beside the fields", async () => {
  await page.goto(base + "/");
  await page.getByText("No pool yet").waitFor();
  await shot("clusters-empty");
  await page.getByRole("link", { name: "New pool" }).click();
  await page.fill("input[name=name]", "web");
  await page.selectOption("select[name=tier]", "tiny");
  await page.fill("input[name=clusters]", "0");
  assert.equal(await page.locator("input[name=clusters]").evaluate((el) => el.checkValidity()), false, "the browser refuses 0 clusters");
  await page.fill("input[name=clusters]", "2");
  await page.fill("input[name=releaseLabel]", "7.5.0"); // only the server knows the form emr-X.Y.Z
  await page.click("form.grid button[type=submit]");
  const err = page.locator('.field-error[data-for="releaseLabel"]');
  assert.match(await err.innerText(), /not an EMR release label; expected the form emr-7\.5\.0/);
  assert.equal(await page.inputValue("input[name=name]"), "web", "the form keeps what was typed");
  await shot("pool-form-error");
  await page.fill("input[name=releaseLabel]", "emr-7.5.0");
  await page.fill("input[name=stepConcurrency]", "2");
  await page.click("form.grid button[type=submit]");
  await page.getByText("pool web created").waitFor();
  // Live update: the clusters become ready without a reload.
  await page.locator("tr#pool-web td.ready", { hasText: "2/2" }).waitFor({ timeout: 15000 });
  await page.locator("tr#pool-web .status", { hasText: "READY" }).waitFor({ timeout: 15000 });
  assert.equal(await page.locator("tr[data-cluster]").count(), 2);
  await shot("clusters");
});

test("create a transform, see its step command, run it and see it succeed", async () => {
  await page.goto(base + "/transforms/new");
  await page.fill("input[name=name]", "hello");
  await page.selectOption("select[name=pool]", "web");
  await page.selectOption("select[name=kind]", "command");
  await page.fill("input[name=command]", "/bin/sh -c 'sleep 1; echo \"hello $0\"'");
  await page.fill("textarea[name=args]", "${who}");
  await page.fill("textarea[name=params]", "who=world");
  await shot("transform-form");
  await page.click("form.grid button[type=submit]");
  await page.getByText("transform hello saved").waitFor();
  assert.match(await page.locator("code.step").innerText(), /command-runner\.jar \/bin\/sh -c 'sleep 1; echo "hello \$0"' world/);
  await shot("transform");
  await page.fill('input[name="param.who"]', "browser <b>");
  await page.click("#run-button");
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}/);
  await page.locator("#run-status", { hasText: "SUCCEEDED" }).waitFor({ timeout: 20000 });
  const stdout = await page.locator("pre.log").first().innerText();
  assert.equal(stdout.trim(), "hello browser <b>"); // shown as text, not markup
  assert.ok((await page.locator("table.timeline-table tr").count()) >= 5, "the timeline lists every transition");
  await shot("run-succeeded");
});

test("cancel a running run", async () => {
  await page.goto(base + "/transforms/new");
  await page.fill("input[name=name]", "sleepy");
  await page.selectOption("select[name=pool]", "web");
  await page.fill("input[name=command]", "sleep 60");
  await page.click("form.grid button[type=submit]");
  await page.getByText("transform sleepy saved").waitFor();
  await page.click("#run-button");
  await page.waitForURL(/\/runs\//);
  await page.locator("#run-status", { hasText: "RUNNING" }).waitFor({ timeout: 15000 });
  await page.click("#cancel-button");
  await page.locator("#run-status", { hasText: "CANCELLED" }).waitFor({ timeout: 15000 });
  await shot("run-cancelled");
});

test("filter the Job Runs and see the timeline plot", async () => {
  await page.goto(base + "/runs");
  assert.equal(await page.locator("tr[data-run]").count(), 2);
  await page.selectOption("select[name=status]", "CANCELLED");
  await page.click(".filters button");
  await page.waitForURL(/status=CANCELLED/);
  assert.equal(await page.locator("tr[data-run]").count(), 1);
  await shot("runs");
  await page.goto(base + "/transforms");
  await page.locator('tr[data-transform="hello"] .status', { hasText: "SUCCEEDED" }).waitFor();
  await shot("transforms");
  await page.goto(base + "/clusters");
  const svg = await (await fetch(base + "/timeline.svg")).text();
  assert.match(svg, /class="run succeeded"/);
  assert.match(svg, /class="run cancelled"/);
  await page.locator("img.timeline").waitFor();
  await shot("clusters-timeline");
});

// What things cost: the Job Runs page has a cost for the run that succeeded, the Clusters page what
// the pool costs an hour, and the pool's cost plot loads with bars adding up to a positive total.
test("the cost of runs and pools is shown", async () => {
  await page.goto(base + "/runs?status=SUCCEEDED");
  const cell = page.locator("tr[data-run] td.cost").first();
  assert.match(await cell.innerText(), /^(<\$0\.01|\$\d+\.\d\d)$/);
  await page.goto(base + "/clusters");
  assert.match(await page.locator("tr#pool-web td.cost").innerText(), /^\$\d+\.\d\d\/h$/);
  // The image loads (the live refresh may replace it meanwhile: wait for one that has).
  await page.waitForFunction(() => {
    const img = document.querySelector('img.cost-plot[data-pool="web"]');
    return img !== null && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 10000 });
  const svg = await (await fetch(base + "/cost.svg?pool=web")).text();
  const costs = [...svg.matchAll(/data-cost="([0-9.]+)"/g)].map((m) => Number(m[1]));
  assert.equal(costs.length, 24, "one bar an hour for a day");
  assert.ok(costs.reduce((a, b) => a + b, 0) > 0, "the pool's clusters have cost something");
  await shot("clusters-cost");
});

// A burst on a 2-slot pool: the timeline draws runs from their recorded times, and at no instant do a
// cluster's bars overlap more than its slots (read from the picture's own data).
test("the timeline never shows a cluster running more runs than its slots", async () => {
  const api = (path, body) => fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.equal((await api("/api/pools", { name: "burst", tier: "tiny", clusters: 2, stepConcurrency: 2 })).status, 201);
  assert.equal((await api("/api/transforms", { name: "quick", pool: "burst", command: ["sleep", "0.3"], params: { day: "2026-11-24" } })).status, 201);
  for (;;) {
    const p = await (await fetch(base + "/api/pools/burst")).json();
    if (p.status === "READY") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const ids = [];
  for (let i = 0; i < 12; i++) ids.push((await (await api("/api/runs", { transform: "quick" })).json()).id);
  for (;;) {
    const runs = await (await fetch(base + "/api/runs?transform=quick&limit=0")).json();
    if (runs.length === 12 && runs.every((r) => ["SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(r.status))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.goto(base + "/timeline.svg?pool=burst");
  const bands = await page.$$eval("g.cluster", (gs) => gs.map((g) => ({
    cluster: g.dataset.cluster, slots: Number(g.dataset.slots),
    bars: [...g.querySelectorAll("rect.run")].map((r) => [Date.parse(r.dataset.start), Date.parse(r.dataset.end)]),
  })));
  assert.equal(bands.length, 2, "one band per cluster of the pool");
  let drawn = 0;
  for (const b of bands) {
    assert.equal(b.slots, 2);
    const edges = b.bars.flatMap(([s, e]) => [[s, 1], [e, -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let open = 0, most = 0;
    for (const [, d] of edges) { open += d; most = Math.max(most, open); }
    assert.ok(most <= b.slots, `cluster ${b.cluster} shows ${most} runs at once on ${b.slots} slots`);
    drawn += b.bars.length;
  }
  assert.equal(drawn, 12, "every run is drawn");
  // The axis ticks at round clock times.
  const ticks = await page.$$eval("text.tick", (ts) => ts.map((t) => t.textContent));
  assert.ok(ticks.length >= 1 && ticks.every((t) => /^\d\d:\d\d(:\d\d)?$/.test(t)), `ticks ${ticks}`);
  const seconds = await page.$$eval("text.tick", (ts) => ts.map((t) => new Date(t.dataset.at).getUTCMilliseconds()));
  assert.ok(seconds.every((ms) => ms === 0), "ticks fall on whole seconds");
  await page.goto(base + "/clusters");
  await shot("clusters-burst-timeline");

  // A run's page names the reservation, and a waiting run is not coloured as a succeeded one.
  await page.goto(base + "/runs/" + ids[11]);
  const labels = await page.$$eval("table.timeline-table td .status", (ss) => ss.map((s) => s.textContent));
  assert.ok(labels.includes("RESERVED"), `history ${labels}`);
  assert.equal(labels.filter((l) => l === "WAITING").length, 1, `history ${labels} shows WAITING once`);
  const colour = async (sel) => page.locator(sel).first().evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(await colour("table.timeline-table .status.waiting"), await colour("table.timeline-table .status.succeeded"));
  await shot("run-history");

  // Job Runs shows each run's parameters.
  await page.goto(base + "/runs?transform=quick");
  assert.match(await page.locator("td.params").first().innerText(), /day=2026-11-24/);
});

// The Clusters page shows each pool's queue: how many runs wait and since when.
test("a pool's queue depth and oldest waiting run are shown", async () => {
  const api = (path, body) => fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.equal((await api("/api/pools", { name: "narrow", tier: "tiny", clusters: 1, stepConcurrency: 1 })).status, 201);
  assert.equal((await api("/api/transforms", { name: "hog", pool: "narrow", command: ["sleep", "30"] })).status, 201);
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await (await api("/api/runs", { transform: "hog" })).json()).id);
  await page.goto(base + "/clusters");
  await page.locator("tr#pool-narrow td.queue", { hasText: /2 waiting, oldest .* ago/ }).waitFor({ timeout: 15000 });
  await shot("clusters-queue");
  for (const id of ids) await api(`/api/runs/${id}/cancel`, {});
});

test("deleting a transform with an active run is refused, saying why", async () => {
  await page.goto(base + "/transforms/sleepy");
  await page.click("#run-button");
  await page.waitForURL(/\/runs\//);
  await page.goto(base + "/transforms/sleepy");
  await page.click("form.inline button.danger");
  await page.getByText(/not deleted: transform sleepy has 1 active runs/).waitFor();
  await shot("transform-delete-refused");
});

test("a forged cross-origin POST is refused", async () => {
  const forged = await fetch(base + "/clusters", {
    method: "POST", redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: "http://evil.example" },
    body: "name=evil&tier=tiny&clusters=1&csrf=guess",
  });
  assert.equal(forged.status, 403);
  const noToken = await fetch(base + "/clusters", {
    method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "name=evil&tier=tiny&clusters=1",
  });
  assert.equal(noToken.status, 403);
  const api = await fetch(base + "/api/pools", {
    method: "POST", headers: { "Content-Type": "application/json", Origin: "http://evil.example" },
    body: JSON.stringify({ name: "evil", tier: "tiny", clusters: 1 }),
  });
  assert.equal(api.status, 403);
  const pools = await (await fetch(base + "/api/pools")).json();
  assert.ok(!pools.some((p) => p.name === "evil"), "no forged pool was created");
});
