// The command centre in a real browser against a real `gridlink serve --demo`: log in,
// the county's grids drawn, a report appearing live, taken in, dispatched to a grid
// picked on the map, completed by the reference phone, verified and closed from the
// page; and a township operator seeing only their township.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, drawnPixels, phoneCompletes, pointIn, shot, startBrowser, startServer, token } from "./harness.mjs";

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

async function logIn(page, login) {
  await page.goto(server.base);
  await page.getByLabel("账号").fill(login);
  await page.getByLabel("密码").fill("demo");
  await page.getByRole("button", { name: "登录" }).click();
  await page.locator(".live[data-status=live]").waitFor({ timeout: 15_000 });
}

/** Waits until `check()` (run in the page) is true; how long it took, in ms. */
async function until(page, check, arg, timeout = 10_000) {
  const started = Date.now();
  await page.waitForFunction(check, arg, { timeout, polling: 20 });
  return Date.now() - started;
}

/** The pairs of names on the map whose boxes overlap (by more than 2 px). */
function clashingNames(page) {
  return page.evaluate(() => {
    const boxes = [...document.querySelectorAll(".gl-label")].map((l) => [l.textContent, l.getBoundingClientRect()]);
    const hit = (a, b) => a.left + 2 < b.right && b.left + 2 < a.right && a.top + 2 < b.bottom && b.top + 2 < a.bottom;
    return boxes.flatMap(([n, a], i) => boxes.slice(i + 1).filter(([, b]) => hit(a, b)).map(([m]) => `${n}/${m}`));
  });
}

/** Waits until every outline tile in view has loaded. */
function tilesLoaded(page) {
  return until(page, () => {
    const tiles = [...document.querySelectorAll(".gl-tile")];
    return tiles.length > 0 && tiles.every((t) => t.classList.contains("leaflet-tile-loaded"));
  });
}

test("the centre works a case round the loop from the page", async () => {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: "zh-CN" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // What crossed the wire, as sent (compressed): bodies and headers of every response.
  const sizes = [];
  page.on("requestfinished", (request) => sizes.push(request.sizes().then((s) => s.responseBodySize + s.responseHeadersSize)));

  const started = Date.now();
  await logIn(page, "centre");
  // The county's outlines are drawn: the tile canvases hold real pixels.
  await page.waitForFunction(() => document.querySelectorAll(".gl-tile canvas").length > 0);
  await until(page, () => {
    const canvases = [...document.querySelectorAll(".gl-tile canvas")];
    return canvases.length > 0 && canvases.every((c) => c.parentElement.classList.contains("leaflet-tile-loaded"));
  });
  const mapDrawnMs = Date.now() - started;
  const firstScreenBytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  const pixels = await drawnPixels(page);
  assert.ok(pixels > 5_000, `the map shows too little: ${pixels} pixels drawn`);
  // No name covers another, within a tile or across tile edges, zoomed out or in.
  assert.deepEqual(await clashingNames(page), []);
  await shot(page, "centre-map");
  const middle = await page.evaluate(() => window.gridlinkMap.map.getCenter());
  for (const zoom of [12, 13, 14, 15]) {
    await page.evaluate(([lat, lng, z]) => window.gridlinkMap.map.setView([lat, lng], z, { animate: false }), [middle.lat, middle.lng, zoom]);
    await tilesLoaded(page);
    assert.deepEqual(await clashingNames(page), [], `names covering each other at zoom ${zoom}`);
  }

  // The session survives a reload: the centre comes back without the login form.
  const reloaded = Date.now();
  await page.reload();
  await page.locator(".live[data-status=live]").waitFor({ timeout: 15_000 });
  await until(page, () => [...document.querySelectorAll(".gl-tile")].some((t) => t.classList.contains("leaflet-tile-loaded")));
  const reloadDrawnMs = Date.now() - reloaded;
  assert.equal(await page.getByRole("button", { name: "登录" }).count(), 0);

  // A resident's report appears within a second, on the map and in the queue.
  const place = await pointIn(server.base, 7);
  const sent = Date.now();
  const filed = await call(server.base, "/api/v1/reports", {
    method: "POST",
    body: {
      category: "C0101",
      location: { lon: place.lon, lat: place.lat },
      description: "井盖缺失，浏览器测试",
      contact: { phone: "13812345678" },
    },
  });
  assert.equal(filed.status, 201, JSON.stringify(filed.body));
  const { id, code } = filed.body;
  await until(page, (id) => window.gridlinkMap?.cases.has(id), id);
  // From sending the report to its marker on the map, as the operator sees it.
  const markerMs = Date.now() - sent;
  assert.ok(markerMs < 1_000, `the new case took ${markerMs} ms to reach the map`);
  await page.locator(".queue").getByRole("button", { name: code }).waitFor({ timeout: 2_000 });
  await shot(page, "centre-new-case");

  // Taken in and dispatched to the grid picked on the map.
  await page.locator(".queue").getByRole("button", { name: code }).click();
  const panel = page.locator(".panel.case");
  // The contact shows masked; 查看联系方式 asks for a reason (理由), then shows it whole.
  await panel.getByText("138****5678").waitFor({ timeout: 5_000 });
  await panel.getByRole("button", { name: "查看联系方式" }).click();
  await panel.getByLabel("理由").fill("浏览器测试：回访核实");
  await panel.locator("form.read-contact").getByRole("button", { name: "查看联系方式" }).click();
  await panel.locator(".contact-whole").getByText("13812345678").waitFor({ timeout: 5_000 });
  await panel.getByRole("button", { name: "受理", exact: true }).click();
  await panel.getByRole("button", { name: "派遣", exact: true }).click();
  await panel.getByRole("button", { name: "在地图上点选网格" }).click();
  const at = await page.evaluate(({ lat, lon }) => {
    const p = window.gridlinkMap.map.latLngToContainerPoint([lat, lon]);
    const box = window.gridlinkMap.element().getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  }, place);
  await page.mouse.click(at.x, at.y);
  await panel.locator(".chosen").waitFor();
  assert.match(await panel.locator(".chosen").innerText(), new RegExp(place.grid));
  await panel.getByRole("button", { name: "提交" }).click();
  const centre = await token(server.base, "centre");
  await until(page, (id) => window.gridlinkMap.cases.get(id)?.status === "dispatched", id);
  const dispatched = await call(server.base, `/api/v1/incidents/${id}`, { token: centre });
  assert.equal(dispatched.body.status, "dispatched");
  assert.equal(dispatched.body.tasks[0].assignees.length > 0, true);
  await shot(page, "centre-dispatched");

  // The worker's phone (the reference client) takes and completes it; the marker follows.
  // Sent about 28 m east of the case: the panel says how far from it.
  await phoneCompletes(server.base, place.grid, code, { lon: place.lon + 0.0003, lat: place.lat });
  await until(page, (id) => window.gridlinkMap.cases.get(id)?.status === "handled", id);
  await panel.getByRole("button", { name: "核查通过" }).waitFor();
  await page.locator(".queue").getByRole("button", { name: code }).waitFor();
  assert.match(await panel.locator(".completion").innerText(), /提交时距案发点 2[5-9] 米/);
  await shot(page, "centre-handled");

  // Another operator (the city's) opens the same case: this desk is told within a beat.
  const other = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: "zh-CN" });
  const cityPage = await other.newPage();
  await logIn(cityPage, "city");
  // A link to the case opens it.
  await cityPage.goto(`${server.base}/#/case/${id}`);
  await cityPage.locator(".panel.case").getByText(code).waitFor();
  await panel.locator(".presence").waitFor({ timeout: 15_000 });
  assert.match(await panel.locator(".presence").innerText(), /市指挥中心/);
  await shot(page, "centre-presence");
  await other.close();

  // Verified and closed from the page.
  await panel.getByRole("button", { name: "核查通过" }).click();
  await panel.getByRole("button", { name: "结案" }).click();
  await until(page, (id) => window.gridlinkMap.cases.get(id)?.status === "closed", id);
  const closed = await call(server.base, `/api/v1/incidents/${id}`, { token: centre });
  assert.equal(closed.body.status, "closed");
  const actions = closed.body.history.map((e) => e.action);
  for (const step of ["reported", "registered", "dispatched", "task_accepted", "task_completed", "verification_passed", "closed"]) {
    assert.ok(actions.includes(step), `${step} missing from ${actions}`);
  }
  await shot(page, "centre-closed");

  // The 12345 hotline calls the reporter back (回访) and records that they are not
  // satisfied: the case goes back to its handler.
  const hotlineContext = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: "zh-CN" });
  const hotlinePage = await hotlineContext.newPage();
  await hotlinePage.goto(server.base);
  await hotlinePage.getByLabel("账号").fill("hotline");
  await hotlinePage.getByLabel("密码").fill("demo");
  await hotlinePage.getByRole("button", { name: "登录" }).click();
  // A call filed from the hotline's desk: the caller's number, the place picked on the map.
  await hotlinePage.locator(".file-call").waitFor().catch(async (e) => {
    await shot(hotlinePage, "centre-hotline-desk-missing");
    throw e;
  });
  await hotlinePage.getByLabel("来电号码").fill("13812345678");
  await hotlinePage.getByLabel("来电人").fill("李四");
  await hotlinePage.locator(".file-call select[name=category]").selectOption("C0303");
  await hotlinePage.getByRole("button", { name: "在地图上点选位置" }).click();
  await hotlinePage.locator(".leaflet-container").click({ position: { x: 300, y: 420 } });
  await hotlinePage.locator(".place .chosen").waitFor();
  await hotlinePage.getByLabel("来电内容").fill("来电反映：路面有泥沙");
  await hotlinePage.getByRole("button", { name: "登记", exact: true }).click();
  const filedCode = await hotlinePage.locator(".filed .code").innerText();
  assert.match(filedCode, /^\d{4}-\d{7}$/);
  await shot(hotlinePage, "centre-hotline-filed");
  const filedCase = (await call(server.base, `/api/v1/incidents?code=${filedCode}`, { token: centre })).body.items[0];
  assert.equal(filedCase.source ?? (await call(server.base, `/api/v1/incidents/${filedCase.id}`, { token: centre })).body.source, "hotline");
  // The first caller rings back with their number: the case is read back, then 回访.
  await hotlinePage.getByLabel("工单号").fill(code);
  await hotlinePage.getByRole("button", { name: "查询" }).click();
  const callBack = hotlinePage.locator(".panel.case");
  await callBack.getByText(code).first().waitFor();
  await callBack.getByRole("button", { name: "回访" }).click();
  await callBack.getByLabel(/不满意/).check();
  await callBack.getByLabel("来电人意见").fill("井盖还是响");
  await shot(hotlinePage, "centre-callback");
  await callBack.getByRole("button", { name: "提交" }).click();
  await callBack.getByText("处置中").first().waitFor();
  const rated = await call(server.base, `/api/v1/incidents/${id}`, { token: centre });
  assert.equal(rated.body.status, "dispatched");
  const rating = rated.body.history.find((e) => e.action === "rated");
  assert.equal(rating.data.rating, "unsatisfied");
  assert.equal(rating.data.comment, "井盖还是响");
  await hotlineContext.close();

  assert.deepEqual(errors, []);
  console.log(JSON.stringify({ mapDrawnMs, reloadDrawnMs, firstScreenBytes, markerMs }));
  await context.close();
});

test("a view holding more cases than markers shows the server's counts by unit, live", async () => {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: "zh-CN" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const place = await pointIn(server.base, 11);
  for (let i = 0; i < 2; i++) {
    const filed = await call(server.base, "/api/v1/reports", {
      method: "POST",
      body: { category: "C0101", location: { lon: place.lon, lat: place.lat }, description: "聚合测试" },
    });
    assert.equal(filed.status, 201);
  }
  await logIn(page, "centre");
  // One marker allowed: every view is counted by unit on the server.
  await page.evaluate(() => {
    window.gridlinkMap.limit = 1;
    window.gridlinkMap.onView();
  });
  await until(page, () => window.gridlinkMap.grouped() && document.querySelectorAll(".gl-group").length > 0);
  const level = await page.evaluate(() => window.gridlinkMap.groups[0].level);
  assert.ok(level >= 2 && level <= 4, `grouped by level ${level}`);
  const holding = await page.evaluate(
    (codes) => window.gridlinkMap.groups.find((g) => codes.includes(g.code)),
    place.chain.map((l) => l.code),
  );
  assert.ok(holding && holding.total >= 2, JSON.stringify(holding));
  await shot(page, "centre-groups");
  // A new report in that unit raises its count within a second, without a reload.
  const sent = Date.now();
  const filed = await call(server.base, "/api/v1/reports", {
    method: "POST",
    body: { category: "C0101", location: { lon: place.lon, lat: place.lat }, description: "聚合测试" },
  });
  assert.equal(filed.status, 201);
  await until(
    page,
    ([code, total]) => window.gridlinkMap.groups?.find((g) => g.code === code)?.total === total + 1,
    [holding.code, holding.total],
  );
  const countedMs = Date.now() - sent;
  assert.ok(countedMs < 1_000, `the count took ${countedMs} ms to move`);
  // Close in on the unit: few enough cases to show one by one again.
  await page.evaluate(() => {
    window.gridlinkMap.limit = 500;
  });
  await page.evaluate(([lat, lon]) => window.gridlinkMap.map.setView([lat, lon], 17), [place.lat, place.lon]);
  await until(page, (id) => !window.gridlinkMap.grouped() && window.gridlinkMap.cases.has(id), filed.body.id);
  assert.deepEqual(errors, []);
  console.log(JSON.stringify({ countedMs }));
  await context.close();
});

test("a township operator sees only their township", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: "zh-CN" });
  const page = await context.newPage();
  const inside = await pointIn(server.base, 3);
  const township = inside.chain.find((l) => l.level === 3).code;
  let outside = null;
  for (let n = 500; !outside || outside.chain.find((l) => l.level === 3).code === township; n += 500) {
    outside = await pointIn(server.base, n);
  }
  const ids = [];
  for (const place of [inside, outside]) {
    const filed = await call(server.base, "/api/v1/reports", {
      method: "POST",
      body: { category: "C0101", location: { lon: place.lon, lat: place.lat }, description: "乡镇范围测试" },
    });
    assert.equal(filed.status, 201);
    ids.push(filed.body.id);
  }
  await logIn(page, `township-${township}`);
  await until(page, (id) => window.gridlinkMap?.cases.has(id), ids[0]);
  const seen = await page.evaluate(() => [...window.gridlinkMap.cases.values()].map((c) => c.grid));
  assert.ok(seen.length > 0 && seen.every((grid) => grid.startsWith(township)), `${seen}`);
  assert.equal(await page.evaluate((id) => window.gridlinkMap.cases.has(id), ids[1]), false);
  const area = await page.locator("header .area").innerText();
  assert.equal(area, inside.chain.find((l) => l.level === 3).name);
  await shot(page, "township");
  // The English switch, and back.
  await page.getByRole("button", { name: "English" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  await shot(page, "township-english");
  await page.getByRole("button", { name: "中文" }).click();
  // Logging out returns to the login form.
  await page.getByRole("button", { name: "退出" }).click();
  await page.getByRole("button", { name: "登录" }).waitFor();
  await context.close();
});
