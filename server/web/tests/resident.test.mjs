// The resident's page (/r/) in headless Chromium on a 360 × 740 touch screen, against a
// real `gridlink serve --demo`: a report in three taps, the case followed through the
// closed loop, an unsatisfied rating reopening it, and a push opening the follow view.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call, phoneCompletes, pointIn, shot, startBrowser, startServer, token } from "./harness.mjs";
import { clickNotification, deliverPush, notifications, phoneContext } from "./phone.mjs";

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

async function act(id, who, body) {
  const answer = await call(server.base, `/api/v1/incidents/${id}/actions`, { method: "POST", token: who, body });
  assert.equal(answer.status, 200, `${body.action}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

test("a resident reports in three taps, follows the case to its close, rates it unsatisfied and sees it reopened", async () => {
  const at = await pointIn(server.base, 4);
  const { context, page } = await phoneContext(browser, server.base, at);
  await page.goto(`${server.base}/r/`);
  await page.getByRole("heading", { name: "遇到了什么问题？" }).waitFor();
  await shot(page, "resident-1-what");
  let taps = 0;
  await page.getByRole("button", { name: "井盖" }).tap();
  taps += 1;
  const here = page.getByRole("button", { name: "就在这里" });
  await page.getByText(/已用手机定位/).waitFor();
  await page.waitForFunction(() => !document.querySelector(".buttons .primary")?.disabled);
  await shot(page, "resident-2-where");
  await here.tap();
  taps += 1;
  await page.getByLabel("问题描述").waitFor();
  await shot(page, "resident-3-send");
  await page.getByRole("button", { name: "提交" }).tap();
  taps += 1;
  assert.equal(taps, 3);
  await page.waitForFunction(() => location.hash.startsWith("#/follow/")).catch(async (e) => {
    await shot(page, "resident-submit-failed");
    throw e;
  });
  const code = await page.locator("h1 .code").textContent();
  assert.match(code, /^\d{4}-\d{7}$/);
  await page.getByText("待受理").waitFor();
  await shot(page, "resident-followed");
  const [, id, followToken] = page.url().match(/#\/follow\/([^/]+)\/(.+)$/);

  // Staff take it through the shortest loop.
  const centre = await token(server.base, "centre");
  await act(id, centre, { action: "accept" });
  await act(id, centre, { action: "dispatch", to: { grid: at.grid } });
  await phoneCompletes(server.base, at.grid, code, at);
  const township = await token(server.base, `township-${at.grid.slice(0, 9)}`);
  await act(id, township, { action: "verify", passed: true });
  await act(id, centre, { action: "close" });

  // The follow view shows every step as it happened, and the rating once closed.
  await page.reload();
  await page.getByText("已结案").waitFor();
  for (const step of ["已提交", "已受理", "已办结"]) await page.getByText(step, { exact: true }).first().waitFor();
  await shot(page, "resident-closed");
  await page.getByRole("button", { name: "不满意" }).tap();
  await page.getByLabel("评价意见").fill("井盖还是响");
  await page.getByRole("button", { name: "提交评价" }).tap();
  await page.getByText("重新办理", { exact: true }).first().waitFor();
  await shot(page, "resident-reopened");
  const followed = await call(server.base, `/api/v1/reports/${id}?follow_token=${encodeURIComponent(decodeURIComponent(followToken))}`);
  assert.notEqual(followed.body.status, "closed");
  assert.ok(followed.body.history.some((h) => h.action === "reopened"), JSON.stringify(followed.body.history));
  const staff = await call(server.base, `/api/v1/incidents/${id}`, { token: centre });
  const rated = staff.body.history.find((h) => h.action === "rated");
  assert.equal(rated.data.comment, "井盖还是响", JSON.stringify(rated));

  // A push about the case opens its follow view from the token kept on the phone.
  await page.goto(`${server.base}/r/`);
  await page.getByRole("link", { name: new RegExp(code) }).waitFor();
  await page.evaluate(() => navigator.serviceWorker.ready);
  await deliverPush(context, page, `${server.base}/r/`, JSON.stringify({ type: "report", id, status: "reopened" }));
  const shown = await notifications(page);
  assert.equal(shown.length, 1);
  assert.equal(shown[0].title, "您反映的问题已重新办理");
  assert.ok(shown[0].body.includes(code));
  await clickNotification(context);
  await page.waitForFunction((want) => location.hash.startsWith(want), `#/follow/${id}/`);
  await page.locator("h1 .code", { hasText: code }).waitFor();
  await context.close();
});

test("a report outside the service area is refused on the page, and a wrong follow link says so", async () => {
  const { context, page } = await phoneContext(browser, server.base, { lon: 100.0, lat: 30.0 });
  await page.goto(`${server.base}/r/`);
  await page.getByRole("button", { name: "井盖" }).tap();
  await page.getByText(/不在服务范围内/).waitFor();
  assert.equal(await page.getByRole("button", { name: "就在这里" }).isDisabled(), true);
  await shot(page, "resident-outside");
  await page.goto(`${server.base}/r/#/follow/00000000-0000-0000-0000-000000000000/nope`);
  await page.getByText(/找不到这个问题/).waitFor();
  await context.close();
});
