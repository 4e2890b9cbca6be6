// The grid worker's app (/m/) in headless Chromium on a 360 × 740 touch screen, against
// a real `gridlink serve --demo`: a dispatched task arriving live, work done offline and
// landing exactly once, a push shown and its click opening the task, a finding handled
// alone in one step, and a sampled one sent for checking.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call, pointIn, shot, startBrowser, startServer, token } from "./harness.mjs";
import { cameraPhoto, clickNotification, cutSockets, deliverPush, eventually, notifications, phoneContext, settingsFile } from "./phone.mjs";

let server;
let browser;

before(async () => {
  server = await startServer(["--config", settingsFile({ workflow: { self_handled_sample: 0 } })]);
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A resident's report at `at`, accepted and dispatched to its grid by the county centre. */
async function dispatchedCase(at, centre, description) {
  const reported = await call(server.base, "/api/v1/reports", {
    method: "POST",
    body: { category: "C0104", location: { lon: at.lon, lat: at.lat, crs: "wgs84" }, description },
  });
  assert.equal(reported.status, 201, JSON.stringify(reported.body));
  const { id, code } = reported.body;
  const accepted = await call(server.base, `/api/v1/incidents/${id}/actions`, { method: "POST", token: centre, body: { action: "accept" } });
  assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
  const started = Date.now();
  const dispatched = await call(server.base, `/api/v1/incidents/${id}/actions`, {
    method: "POST",
    token: centre,
    body: { action: "dispatch", to: { grid: at.grid } },
  });
  assert.equal(dispatched.status, 200, JSON.stringify(dispatched.body));
  return { id, code, started };
}

async function logIn(page, login) {
  await page.goto(`${server.base}/m/`);
  await page.getByLabel("账号").fill(login);
  await page.getByLabel("密码").fill("demo");
  await page.getByRole("button", { name: "登录" }).tap();
  await page.getByRole("heading", { name: /我的任务/ }).waitFor();
}

async function history(id, centre) {
  const found = await call(server.base, `/api/v1/incidents/${id}`, { token: centre });
  assert.equal(found.status, 200);
  return found.body;
}

test("a dispatched task appears live; work done offline lands exactly once", async () => {
  const at = await pointIn(server.base, 3);
  const centre = await token(server.base, "centre");
  const { context, page, network } = await phoneContext(browser, server.base, at);
  await logIn(page, `worker-${at.grid}`);
  await shot(page, "worker-inbox-empty");

  // Dispatched by the centre: in the inbox within a second, no reload.
  const first = await dispatchedCase(at, centre, "井盖松动，车过有响声");
  const card = page.getByRole("link", { name: new RegExp(first.code) });
  await card.waitFor({ timeout: 1000 });
  console.log(`dispatched → shown in the inbox: ${Date.now() - first.started} ms`);
  await shot(page, "worker-inbox-task");

  // The network goes: the page's socket with it.
  await cutSockets(context, network, true);
  await page.getByText("离线").first().waitFor();
  await card.tap();
  await page.getByRole("button", { name: "接单" }).tap();
  await page.getByText(/等待发送：接单/).waitFor();
  await page.getByRole("button", { name: "完成" }).tap();
  await page.getByLabel("处置结果").fill("已紧固井盖，恢复平稳");
  const photo = await cameraPhoto(page);
  await page.locator('input[type="file"]').setInputFiles(photo);
  await page.locator(".picker img").waitFor();
  await shot(page, "worker-complete-form");
  await page.getByRole("button", { name: "提交" }).tap();
  await page.getByText(/等待发送：接单、完成/).waitFor();
  await shot(page, "worker-queued-offline");

  // A reload with no network: the app comes from its service worker, the queue from IndexedDB.
  await page.reload();
  await page.getByText(/2 个待发送/).waitFor();
  await page.getByText(/等待发送：接单、完成/).waitFor();
  await shot(page, "worker-reloaded-offline");
  const before = await history(first.id, centre);
  assert.equal(before.history.filter((h) => h.action === "task_completed").length, 0, "nothing was sent while offline");

  // Back online: sent once, and the outbox empties.
  await cutSockets(context, network, false);
  await page.getByText(/待发送/).first().waitFor({ state: "detached", timeout: 20000 });
  const done = await eventually(async () => {
    const found = await history(first.id, centre);
    assert.equal(found.status, "handled");
    return found;
  });
  const completed = done.history.filter((h) => h.action === "task_completed");
  assert.equal(completed.length, 1, JSON.stringify(done.history.map((h) => h.action)));
  assert.equal(done.history.filter((h) => h.action === "task_accepted").length, 1);
  assert.equal(done.status, "handled");
  const photos = completed[0].data.photos ?? [];
  assert.equal(photos.length, 1, JSON.stringify(completed[0].data));
  const sent = await fetch(`${server.base}/api/v1/attachments/${photos[0]}`, { headers: { Authorization: `Bearer ${centre}` } });
  const bytes = (await sent.arrayBuffer()).byteLength;
  console.log(`a ${photo.buffer.length} byte 12-megapixel photo went up as ${bytes} bytes`);
  assert.ok(bytes <= 400 * 1024, `${bytes} bytes sent`);

  // Another reload online sends nothing again.
  await page.reload();
  await page.getByRole("heading", { name: new RegExp(first.code) }).waitFor();
  await page.getByText("状态：已完成").waitFor();
  await shot(page, "worker-task-done");
  await page.waitForTimeout(1500);
  const again = await history(first.id, centre);
  assert.equal(again.history.filter((h) => h.action === "task_completed").length, 1);
  await context.close();
});

test("a push shows a notification whose click opens the task", async () => {
  const at = await pointIn(server.base, 5);
  const centre = await token(server.base, "centre");
  const { context, page } = await phoneContext(browser, server.base, at);
  await logIn(page, `worker-${at.grid}`);
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.goto(`${server.base}/m/#/me`);
  const task = await dispatchedCase(at, centre, "井盖异响");
  await deliverPush(context, page, `${server.base}/m/`, JSON.stringify({ type: "wake" }));
  const shown = await notifications(page);
  assert.equal(shown.length, 1, JSON.stringify(shown));
  assert.match(shown[0].title, new RegExp(task.code));
  assert.match(shown[0].url, /#\/task\//);
  await clickNotification(context);
  await page.waitForURL(/#\/task\//);
  await page.getByRole("heading", { name: new RegExp(task.code) }).waitFor();
  await page.getByRole("button", { name: "接单" }).waitFor();
  await shot(page, "worker-task-from-notification");
  await context.close();
});

test("a finding handled alone is closed in one mutation", async () => {
  const at = await pointIn(server.base, 7);
  const centre = await token(server.base, "centre");
  const { context, page } = await phoneContext(browser, server.base, at);
  await logIn(page, `worker-${at.grid}`);
  await page.getByRole("link", { name: "巡查上报" }).tap();
  await page.getByRole("button", { name: "暴露垃圾" }).tap();
  await page.getByText(/所在网格/).waitFor();
  const photo = await cameraPhoto(page);
  await page.locator('input[type="file"]').first().setInputFiles(photo);
  await page.getByLabel("问题描述").fill("路边垃圾袋堆放");
  await page.getByLabel(/已当场处理完毕/).check();
  await page.getByLabel("处置结果").fill("已清运");
  await page.locator('input[type="file"]').nth(1).setInputFiles(photo);
  await page.locator("fieldset").last().locator("img").waitFor();
  await shot(page, "worker-self-handled-form");
  await page.getByRole("button", { name: "提交自行处置" }).tap();
  await page.getByText(/已记录自行处置/).waitFor();
  const kase = await eventually(async () => {
    const list = await call(server.base, `/api/v1/incidents?area=${at.grid}&category=C0301`, { token: centre });
    assert.equal(list.body.items.length, 1, JSON.stringify(list.body).slice(0, 300));
    const found = await history(list.body.items[0].id, centre);
    assert.equal(found.status, "closed", JSON.stringify(found.history.map((h) => h.action)));
    return found;
  });
  // One mutation: every step carries the same phone and the same moment the server heard of it.
  const steps = kase.history.filter((h) => h.action !== "reported");
  assert.equal(new Set(steps.map((h) => h.received_at ?? h.at)).size, 1, JSON.stringify(steps));
  for (const step of ["registered", "dispatched", "task_accepted", "task_completed", "verification_passed", "closed"]) {
    assert.ok(kase.history.some((h) => h.action === step), `${step} in ${kase.history.map((h) => h.action)}`);
  }
  await shot(page, "worker-self-handled-sent");
  await context.close();
});

test("a queued action the server refuses when it arrives is shown with the reason", async () => {
  const at = await pointIn(server.base, 9);
  const elsewhere = await pointIn(server.base, 12);
  assert.notEqual(at.grid, elsewhere.grid);
  const centre = await token(server.base, "centre");
  const { context, page, network } = await phoneContext(browser, server.base, at);
  await logIn(page, `worker-${at.grid}`);
  const task = await dispatchedCase(at, centre, "井盖响");
  await page.getByRole("link", { name: new RegExp(task.code) }).tap();
  await page.getByRole("button", { name: "接单" }).waitFor();
  await cutSockets(context, network, true);
  await page.getByRole("button", { name: "接单" }).tap();
  await page.getByText(/等待发送：接单/).waitFor();
  // Meanwhile the centre moves the work to another grid (改派).
  const kase = await history(task.id, centre);
  const moved = await call(server.base, `/api/v1/incidents/${task.id}/actions`, {
    method: "POST",
    token: centre,
    body: { action: "redispatch", task: kase.tasks[0].id, to: { grid: elsewhere.grid } },
  });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  await cutSockets(context, network, false);
  const refusal = page.getByRole("alert").filter({ hasText: "未被接受：接单" });
  await refusal.waitFor({ timeout: 20000 });
  await shot(page, "worker-refused");
  assert.equal((await history(task.id, centre)).history.filter((h) => h.action === "task_accepted").length, 0);
  await refusal.getByRole("button", { name: "知道了" }).tap();
  await refusal.waitFor({ state: "detached" });
  await context.close();
});

test("a sampled self-handled finding waits for a check by the community's staff", async () => {
  const sampled = await startServer(["--config", settingsFile({ workflow: { self_handled_sample: 1 } })]);
  try {
    const at = await pointIn(sampled.base, 2);
    const { context, page } = await phoneContext(browser, sampled.base, at);
    await page.goto(`${sampled.base}/m/`);
    await page.getByLabel("账号").fill(`worker-${at.grid}`);
    await page.getByLabel("密码").fill("demo");
    await page.getByRole("button", { name: "登录" }).tap();
    await page.getByRole("link", { name: "巡查上报" }).tap();
    await page.getByRole("button", { name: "暴露垃圾" }).tap();
    await page.getByText(/所在网格/).waitFor();
    const photo = await cameraPhoto(page);
    await page.locator('input[type="file"]').first().setInputFiles(photo);
    await page.getByLabel(/已当场处理完毕/).check();
    await page.getByLabel("处置结果").fill("已清运");
    await page.locator('input[type="file"]').nth(1).setInputFiles(photo);
    await page.locator("fieldset").last().locator("img").waitFor();
    await page.getByRole("button", { name: "提交自行处置" }).tap();
    const centre = await token(sampled.base, "centre");
    const found = await eventually(async () => {
      const list = await call(sampled.base, `/api/v1/incidents?area=${at.grid}&category=C0301`, { token: centre });
      assert.equal(list.body.items.length, 1);
      return list.body.items[0];
    });
    const kase = (await call(sampled.base, `/api/v1/incidents/${found.id}`, { token: centre })).body;
    assert.equal(kase.status, "handled");
    const check = kase.tasks.find((t) => t.kind === "verify" && t.status === "open");
    assert.ok(check, JSON.stringify(kase.tasks));
    await context.close();

    // The community's staff find the check (核查) in the same app, and pass it: the case closes.
    const staff = await phoneContext(browser, sampled.base, at);
    await staff.page.goto(`${sampled.base}/m/`);
    await staff.page.getByLabel("账号").fill(`community-${at.grid.slice(0, 12)}`);
    await staff.page.getByLabel("密码").fill("demo");
    await staff.page.getByRole("button", { name: "登录" }).tap();
    const card = staff.page.getByRole("link", { name: new RegExp(`${kase.code}.*核查`) });
    await card.waitFor();
    await shot(staff.page, "worker-sampled-check");
    await card.tap();
    await staff.page.getByRole("button", { name: "接单" }).tap();
    await staff.page.getByRole("button", { name: "核查通过" }).tap();
    await staff.page.getByRole("button", { name: "提交" }).tap();
    await eventually(async () => {
      const closed = (await call(sampled.base, `/api/v1/incidents/${found.id}`, { token: centre })).body;
      assert.equal(closed.status, "closed", JSON.stringify(closed.history.map((h) => h.action)));
    });
    await shot(staff.page, "worker-sampled-checked");
    await staff.context.close();
  } finally {
    await sampled.stop();
  }
});

test("the worker's position reaches the centre while on duty, and only then", async () => {
  const at = await pointIn(server.base, 11);
  const centre = await token(server.base, "centre");
  const { context, page } = await phoneContext(browser, server.base, at);
  await logIn(page, `worker-${at.grid}`);
  const seen = async () => {
    const positions = await call(server.base, "/api/v1/workers/positions", { token: centre });
    assert.equal(positions.status, 200, JSON.stringify(positions.body));
    return positions.body.workers.find((w) => w.grid === at.grid);
  };
  await page.waitForTimeout(1500);
  assert.equal(await seen(), undefined, "nothing is shared off duty");
  await page.getByRole("link", { name: "我的" }).tap();
  await page.getByLabel(/当班/).check();
  await shot(page, "worker-on-duty");
  const shared = await eventually(async () => {
    const found = await seen();
    assert.ok(found, "the position arrives");
    return found;
  });
  assert.ok(Math.abs(shared.lon - at.lon) < 1e-5 && Math.abs(shared.lat - at.lat) < 1e-5, JSON.stringify(shared));
  await context.close();
});

test("two tabs of the app share one socket: an action taken in the other tab is sent once", async () => {
  const at = await pointIn(server.base, 13);
  const centre = await token(server.base, "centre");
  const { context, page, network } = await phoneContext(browser, server.base, at);
  await logIn(page, `worker-${at.grid}`);
  const second = await context.newPage();
  await second.goto(`${server.base}/m/`);
  await second.getByRole("heading", { name: /我的任务/ }).waitFor();
  const task = await dispatchedCase(at, centre, "井盖响动");
  // The task reaches the second tab through the first tab's socket and the shared store.
  await second.getByRole("link", { name: new RegExp(task.code) }).tap();
  await second.getByRole("button", { name: "接单" }).tap();
  await eventually(async () => {
    const found = await history(task.id, centre);
    assert.equal(found.history.filter((h) => h.action === "task_accepted").length, 1);
  });
  await page.getByText("处置中").first().waitFor();
  await page.waitForTimeout(1000);
  assert.equal(network.opened, 1, "one socket for both tabs");
  assert.equal((await history(task.id, centre)).history.filter((h) => h.action === "task_accepted").length, 1);
  await context.close();
});
