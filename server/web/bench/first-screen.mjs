// Measures the centre's first screen against a running server: from opening the page to
// the map drawn (every tile of the first view loaded), for a fresh browser logging in and
// again after a reload (the browser's cache warm), and the bytes that crossed the wire
// (compressed, headers included).
//
//   node bench/first-screen.mjs --base http://127.0.0.1:8080 --login city [--runs 5] [--at LON,LAT]
//
// With `--at`, each run then files a resident's report there and times it from sending to
// its marker on the map (the live latency). Prints one JSON line per run and the medians.
import { parseArgs } from "node:util";
import { startBrowser } from "../tests/harness.mjs";

const { values } = parseArgs({
  options: {
    base: { type: "string", default: "http://127.0.0.1:8080" },
    login: { type: "string", default: "centre" },
    runs: { type: "string", default: "5" },
    at: { type: "string" },
  },
});

const tilesDrawn = () => {
  const tiles = [...document.querySelectorAll(".gl-tile")];
  return tiles.length > 0 && tiles.every((t) => t.classList.contains("leaflet-tile-loaded"));
};

const browser = await startBrowser();
const results = [];
for (let run = 0; run < Number(values.runs); run += 1) {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: "zh-CN" });
  const page = await context.newPage();
  const sizes = [];
  page.on("requestfinished", (r) => sizes.push(r.sizes().then((s) => s.responseBodySize + s.responseHeadersSize)));
  const opened = Date.now();
  await page.goto(values.base);
  await page.getByLabel("账号").fill(values.login);
  await page.getByLabel("密码").fill("demo");
  await page.getByRole("button", { name: "登录" }).click();
  await page.waitForFunction(tilesDrawn, null, { timeout: 30_000, polling: 10 });
  const coldMs = Date.now() - opened;
  const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  const tiles = await page.evaluate(() => document.querySelectorAll(".gl-tile").length);
  const reloaded = Date.now();
  await page.reload();
  await page.waitForFunction(tilesDrawn, null, { timeout: 30_000, polling: 10 });
  const warmMs = Date.now() - reloaded;
  let liveMs = null;
  if (values.at) {
    const [lon, lat] = values.at.split(",").map(Number);
    const sent = Date.now();
    const response = await fetch(`${values.base}/api/v1/reports`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ category: "C0101", location: { lon, lat }, description: "首屏测量" }),
    });
    const { id } = await response.json();
    await page.waitForFunction((id) => window.gridlinkMap?.cases.has(id), id, { timeout: 10_000, polling: 5 });
    liveMs = Date.now() - sent;
  }
  const result = { login: values.login, coldMs, warmMs, bytes, tiles, liveMs };
  console.log(JSON.stringify(result));
  results.push(result);
  await context.close();
}
await browser.close();
const median = (key) => results.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
const medians = Object.fromEntries(["coldMs", "warmMs", "bytes", "liveMs"].map((k) => [k, median(k)]));
console.log(JSON.stringify({ login: values.login, median: medians }));
