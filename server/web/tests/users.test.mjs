// The administrator's accounts (#/users) in a real browser against its own `gridlink
// serve --demo`: a worker on a phone (a session from a named device) is found by the
// filter, the lost phone is cut off from the page (its token then refused), a weak
// password is refused with the rule's words and a good one taken, the account disabled
// and enabled again; another role sees no such tab.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, pointIn, shot, startBrowser, startServer } from "./harness.mjs";

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

test("an administrator finds an account, cuts off its lost phone, resets its password and disables it", async () => {
  const { grid } = await pointIn(server.base, 4);
  const worker = `worker-${grid}`;
  const phone = await call(server.base, "/api/v1/auth/login", {
    method: "POST",
    body: { login: worker, password: "demo", device_id: "phone-lost" },
  });
  assert.equal(phone.status, 200);

  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: "zh-CN" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("dialog", (dialog) => dialog.accept());
  await logIn(page, "admin");
  await page.getByRole("tab", { name: "账号管理" }).click();
  // The screen has its own address (set once it shows).
  await page.waitForFunction(() => location.hash === "#/users");
  await page.locator('tr[data-login="admin"]').waitFor();
  await shot(page, "users-list");
  await page.getByPlaceholder("查找账号、姓名、角色或单位").fill(worker);
  // The list narrows to the one account.
  await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-login]").length === 1);
  const row = page.locator(`tr[data-login="${worker}"]`);
  assert.match(await row.innerText(), /网格员/);

  // The lost phone: its device listed, cut off from the page, its token refused after.
  await row.getByRole("button", { name: "设备" }).click();
  const device = page.locator('li[data-device="phone-lost"]');
  await device.waitFor();
  await shot(page, "users-devices");
  await device.getByRole("button", { name: "注销设备" }).click();
  await page.getByRole("status").filter({ hasText: "已结束 1 个会话" }).waitFor();
  assert.equal((await call(server.base, "/api/v1/me", { token: phone.body.token })).status, 401);

  // A weak password is refused with the rule; a good one is taken.
  await row.getByRole("button", { name: "重置密码" }).click();
  const field = page.getByLabel("新密码（至少 10 个字符）");
  await field.fill("1234567890");
  await page.getByRole("button", { name: "确定" }).click();
  await page.getByRole("alert").filter({ hasText: "not-digits-only" }).waitFor();
  await field.fill("巡查东门和西门的新密码");
  await page.getByRole("button", { name: "确定" }).click();
  await field.waitFor({ state: "detached" });
  const relogin = await call(server.base, "/api/v1/auth/login", {
    method: "POST",
    body: { login: worker, password: "巡查东门和西门的新密码" },
  });
  assert.equal(relogin.status, 200);

  // Disabled, then enabled again.
  await row.getByRole("button", { name: "停用" }).click();
  await row.locator(".off").waitFor();
  assert.equal((await call(server.base, "/api/v1/me", { token: relogin.body.token })).status, 401);
  await shot(page, "users-disabled");
  await row.getByRole("button", { name: "启用" }).click();
  await row.locator(".off").waitFor({ state: "detached" });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a centre sees no accounts tab", async () => {
  const context = await browser.newContext({ viewport: { width: 1600, height: 900 }, locale: "zh-CN" });
  const page = await context.newPage();
  await logIn(page, "centre");
  assert.equal(await page.getByRole("tab", { name: "账号管理" }).count(), 0);
  await context.close();
});
