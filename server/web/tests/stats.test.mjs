// The statistics view in a real browser against its own `gridlink serve --demo`: three
// cases seeded through the API (one closed and rated, one rejected, one still open), then
// the view shows the figures counted by hand, its CSV download is the server's CSV, and
// the heat of the cases colours the map.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { call, pointIn, shot, startBrowser, startServer, token } from "./harness.mjs";

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

/** Files a resident's report at `place`: its id and follow token. */
async function report(place) {
  const filed = await call(server.base, "/api/v1/reports", {
    method: "POST",
    body: { category: "C0101", location: { lon: place.lon, lat: place.lat }, description: "统计视图测试" },
  });
  assert.equal(filed.status, 201, JSON.stringify(filed.body));
  return filed.body;
}

async function act(desk, id, body) {
  const answer = await call(server.base, `/api/v1/incidents/${id}/actions`, { method: "POST", token: desk, body });
  assert.equal(answer.status, 200, `${body.action}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function taskOp(worker, task, body) {
  const answer = await call(server.base, `/api/v1/tasks/${task}/actions`, { method: "POST", token: worker, body });
  assert.equal(answer.status, 200, `${body.kind}: ${JSON.stringify(answer.body)}`);
}

test("the statistics view shows the figures counted by hand, and its CSV is the server's", async () => {
  const place = await pointIn(server.base, 7);
  const desk = await token(server.base, "centre");
  const worker = await token(server.base, `worker-${place.grid}`);
  // A: through the whole loop, rated satisfied.
  const a = await report(place);
  await act(desk, a.id, { action: "accept" });
  const dispatched = await act(desk, a.id, { action: "dispatch", to: { grid: place.grid } });
  const task = dispatched.tasks.at(-1).id;
  await taskOp(worker, task, { kind: "accept_task" });
  await taskOp(worker, task, { kind: "complete_task", result: "已更换井盖" });
  await act(desk, a.id, { action: "verify", passed: true });
  await act(desk, a.id, { action: "close" });
  const rated = await call(server.base, `/api/v1/reports/${a.id}/rating`, {
    method: "POST",
    body: { follow_token: a.follow_token, rating: "satisfied" },
  });
  assert.equal(rated.status, 200, JSON.stringify(rated.body));
  // B: rejected. C: taken in and dispatched, still open.
  const b = await report(place);
  await act(desk, b.id, { action: "reject", reason: "不属实" });
  const c = await report(place);
  await act(desk, c.id, { action: "accept" });
  await act(desk, c.id, { action: "dispatch", to: { grid: place.grid } });

  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: "zh-CN", acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(server.base);
  await page.getByLabel("账号").fill("centre");
  await page.getByLabel("密码").fill("demo");
  await page.getByRole("button", { name: "登录" }).click();
  await page.locator(".live[data-status=live]").waitFor({ timeout: 15_000 });

  const asked = page.waitForResponse((r) => r.url().includes("/api/v1/stats?") && r.status() === 200);
  await page.getByRole("tab", { name: "统计评价" }).click();
  const statsUrl = (await asked).url();
  // As counted by hand: 3 reported, 2 registered (A, C), 1 closed (A), 1 rated satisfied.
  const want = {
    reported: "3",
    registered: "2",
    closed: "1",
    closure_rate: "50.0%",
    on_time_closure_rate: "50.0%",
    rework_rate: "0.0%",
    overdue_now: "0",
    satisfaction_rate: "100.0%",
    self_handled_share: "0.0%",
    on_time_dispatch_rate: "100.0%",
    extensions: "0",
    parked: "0",
  };
  const summary = page.locator(".stats-summary");
  await summary.locator("[data-figure=reported] dd").getByText("3", { exact: true }).waitFor();
  for (const [name, text] of Object.entries(want)) {
    assert.equal(await summary.locator(`[data-figure=${name}] dd`).innerText(), text, name);
  }
  // The township holding the grid is the one group: its sample (2) is below the
  // minimum (10), so it is listed without a rank.
  const row = page.locator(`.ranking tr[data-key="${place.grid.slice(0, 9)}"]`);
  await row.waitFor();
  const cells = await row.locator("td").allInnerTexts();
  assert.equal(cells[0], "–");
  assert.equal(cells[3], "2");
  // The chart was drawn.
  await page.waitForFunction(() => {
    const canvas = document.querySelector(".chart canvas");
    return canvas && canvas.width > 0 && canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data.some((v) => v > 0);
  });

  // The heat: the unit holding the cases is filled in the heat's reds, not the plain blue.
  await page.waitForFunction(() => {
    for (const canvas of document.querySelectorAll(".gl-tile canvas")) {
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        if (a > 100 && r > 100 && r > g + 60 && r > b + 40) return true;
      }
    }
    return false;
  });
  await shot(page, "centre-stats");

  // The CSV download is byte for byte what the server gives for the same query.
  const downloading = page.waitForEvent("download");
  await page.getByRole("button", { name: "下载 CSV" }).click();
  const download = await downloading;
  const saved = readFileSync(await download.path(), "utf8");
  const direct = await fetch(statsUrl, { headers: { Accept: "text/csv", Authorization: `Bearer ${desk}` } });
  // Read as bytes: text() would drop the byte-order mark the file keeps.
  assert.equal(saved, Buffer.from(await direct.arrayBuffer()).toString("utf8"));
  const [header, first] = saved.replace(/^\uFEFF/, "").split("\r\n");
  const columns = header.split(",");
  const values = first.split(",");
  assert.equal(values[columns.indexOf("reported")], "3");
  assert.equal(values[columns.indexOf("closure_rate")], "0.5");

  // Grouped by day: today's one row.
  await page.getByLabel("分组").selectOption("day");
  await page.locator(".ranking tbody tr").first().waitFor();
  assert.equal(await page.locator(".ranking tbody tr").count(), 1);
  // Live: a report filed now is counted without a reload (read again within 10 s).
  await report(place);
  await summary.locator("[data-figure=reported] dd").getByText("4", { exact: true }).waitFor({ timeout: 15_000 });
  await page.getByRole("tab", { name: "指挥调度" }).click();
  await page.locator(".queue").waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});
