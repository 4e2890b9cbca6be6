// What a first visit to each phone page costs on the wire: everything the browser
// fetches until the page is idle, compressed as the server sends it, but for the map's
// geometry (the grids, drawn for the place in view). The budget is 150 KiB per page.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { pointIn, startBrowser, startServer } from "./harness.mjs";
import { phoneContext } from "./phone.mjs";

const BUDGET = 150 * 1024;
let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The bytes on the wire of a first visit to `path`, by URL. */
async function firstLoad(path) {
  const at = await pointIn(server.base, 1);
  const { context, page } = await phoneContext(browser, server.base, at);
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const urls = new Map();
  const sizes = new Map();
  cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, e.request.url));
  cdp.on("Network.loadingFinished", (e) => sizes.set(e.requestId, e.encodedDataLength));
  await page.goto(`${server.base}${path}`, { waitUntil: "networkidle" });
  await context.close();
  const byUrl = {};
  for (const [id, size] of sizes) {
    const url = new URL(urls.get(id) ?? "unknown:");
    if (url.pathname === "/api/v1/grids") continue;
    byUrl[url.pathname] = (byUrl[url.pathname] ?? 0) + size;
  }
  return byUrl;
}

for (const [path, name] of [
  ["/m/", "the worker app"],
  ["/r/", "the resident page"],
]) {
  test(`a first visit to ${name} (${path}) fetches under 150 KiB`, async () => {
    const files = await firstLoad(path);
    const total = Object.values(files).reduce((a, b) => a + b, 0);
    console.log(JSON.stringify({ page: path, firstLoadBytes: total, files }));
    assert.ok(files["/assets/" + (path === "/m/" ? "worker.js" : "resident.js")] > 0, JSON.stringify(files));
    assert.ok(total < BUDGET, `${path}: ${total} bytes on a first visit: ${JSON.stringify(files)}`);
  });
}
