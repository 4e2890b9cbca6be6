// The resident page's service worker: the page's shell for a poor connection, and the
// pushes that say a case was taken in, closed or reopened. A push names only the case
// and its step; the follow link is made from the token kept on this phone.
import { installShell, openClicked } from "../phone/shell.js";
import { mine } from "./reports.js";

const SHELL = "gridlink-r-shell";
const PAGE = "/r/";
const SAID = {
  registered: "您反映的问题已受理",
  closed: "您反映的问题已办结，欢迎评价",
  reopened: "您反映的问题已重新办理",
  merged: "您反映的问题已与同一问题合并办理",
};

installShell(SHELL, PAGE);

async function show(data) {
  const report = data?.id ? (await mine()).find((r) => r.id === data.id) : null;
  const url = report ? `${PAGE}#/follow/${report.id}/${encodeURIComponent(report.token)}` : PAGE;
  const title = SAID[data?.status] ?? "您反映的问题有新进展";
  const body = report ? `编号 ${report.code}，点击查看` : "点击查看";
  await self.registration.showNotification(title, { body, tag: `report-${data?.id ?? "any"}`, renotify: true, data: { url }, icon: "/r/icon.svg" });
}

self.addEventListener("push", (event) => {
  let data = null;
  try {
    data = event.data?.json() ?? null;
  } catch {
    data = null;
  }
  event.waitUntil(show(data));
});

self.addEventListener("notificationclick", (event) => openClicked(event, PAGE));
