// The worker app's service worker. It keeps the app shell for offline use and handles
// pushes and notification clicks — nothing else: the page (one elected tab) owns the
// socket and the outbox, so that a mutation is never sent by two parties.
import { installShell, openClicked } from "../phone/shell.js";
import { leaves } from "../phone/categories.js";
import { renew } from "./net.js";
import { db, loadSession, meta } from "./state.js";
import { all } from "../phone/idb.js";

const SHELL = "gridlink-m-shell";
const PAGE = "/m/";
const KINDS = { handle: "处置", confirm: "核实", verify: "核查" };

installShell(SHELL, PAGE);

/** The worker's open tasks as the server has them now (the push itself says only "wake"). */
async function tasksNow() {
  let session = await loadSession();
  if (!session?.token) return null;
  const ask = (token) => fetch("/api/v1/tasks", { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } });
  let response = await ask(session.token);
  if (response.status === 401) {
    session = await renew();
    if (!session) return null;
    response = await ask(session.token);
  }
  if (!response.ok) return null;
  return (await response.json()).items ?? [];
}

/** What a wake-up shows: the newest task this phone has not stored yet, or a general word. */
async function notice() {
  const general = { title: "gridlink 网格员", body: "有新的任务或消息，点击查看", url: PAGE, tag: "gridlink-wake" };
  try {
    const tasks = await tasksNow();
    if (!tasks) return general;
    const known = new Set((await all(await db(), "tasks")).map((t) => t.id));
    const open = tasks.filter((t) => t.status === "open" || t.status === "accepted");
    const fresh = open.filter((t) => !known.has(t.id));
    const newest = (fresh.length ? fresh : open).sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)))[0];
    if (!newest) return general;
    const names = Object.fromEntries(leaves(await meta("categories")).map((c) => [c.code, c.name]));
    const code = newest.incident?.code ?? "";
    return {
      title: fresh.length ? `新任务 ${code}` : `任务有更新 ${code}`,
      body: [KINDS[newest.kind] ?? newest.kind, names[newest.incident?.category] ?? newest.incident?.category]
        .filter(Boolean)
        .join(" · "),
      url: `${PAGE}#/task/${encodeURIComponent(newest.id)}`,
      tag: `task-${newest.id}`,
    };
  } catch {
    return general;
  }
}

self.addEventListener("push", (event) => {
  // Every push shows a notification (a silent one would cost the page its permission).
  event.waitUntil(
    notice().then((n) =>
      self.registration.showNotification(n.title, { body: n.body, tag: n.tag, renotify: true, data: { url: n.url }, icon: "/m/icon.svg" }),
    ),
  );
});

self.addEventListener("notificationclick", (event) => openClicked(event, PAGE));
