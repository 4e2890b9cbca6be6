// What the phone pages' browser tests share: a 360 × 740 touch phone at a place, a
// network that can be cut (WebSockets too, which `setOffline` leaves open), pushes
// delivered to a service worker through the DevTools protocol, a settings file, and a
// 12-megapixel photo such as a phone's camera takes.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A phone's browser context at `at` (WGS-84), with location and notifications allowed. */
export async function phoneContext(browser, base, at) {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: "zh-CN",
    timezoneId: "Asia/Shanghai",
    geolocation: { longitude: at.lon, latitude: at.lat, accuracy: 8 },
    permissions: ["geolocation", "notifications"],
  });
  // Every sync socket goes through here, so that a test can cut it like a lost network.
  const network = { offline: false, sockets: new Set(), opened: 0 };
  await context.routeWebSocket(/\/api\/v1\/sync/, (ws) => {
    if (network.offline) {
      ws.close({ code: 1001, reason: "offline" });
      return;
    }
    network.opened += 1;
    const server = ws.connectToServer();
    const pair = { ws, server };
    network.sockets.add(pair);
    ws.onClose(() => network.sockets.delete(pair));
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  return { context, page, network };
}

/** Takes the network away (or gives it back), closing the open sockets as a lost connection would. */
export async function cutSockets(context, network, offline) {
  network.offline = offline;
  await context.setOffline(offline);
  if (offline) {
    for (const { ws, server } of network.sockets) {
      await server.close({ code: 1001, reason: "offline" }).catch(() => {});
      await ws.close({ code: 1001, reason: "offline" }).catch(() => {});
    }
    network.sockets.clear();
  }
}

/** Delivers a push message with `data` to the service worker of `scope`, as a push service would. */
export async function deliverPush(context, page, scope, data) {
  const cdp = await context.newCDPSession(page);
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  for (let i = 0; i < 50 && !registrations.has(scope); i += 1) await new Promise((r) => setTimeout(r, 100));
  const registrationId = registrations.get(scope);
  if (!registrationId) throw new Error(`no service worker registered for ${scope}: ${[...registrations.keys()]}`);
  await cdp.send("ServiceWorker.deliverPushMessage", { origin: new URL(scope).origin, registrationId, data });
  await cdp.detach();
}

/** A settings file holding `table` ({section: {key: value}}), as TOML. */
export function settingsFile(table) {
  const lines = [];
  for (const [section, values] of Object.entries(table)) {
    lines.push(`[${section}]`);
    for (const [key, value] of Object.entries(values)) lines.push(`${key} = ${JSON.stringify(value)}`);
  }
  const path = join(mkdtempSync(join(tmpdir(), "gridlink-settings-")), "gridlink.toml");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

/**
 * A 4000 × 3000 JPEG as a phone's camera takes it (several MiB): a street-like scene of
 * sky, walls and windows under sensor noise, made by the browser.
 */
export async function cameraPhoto(page) {
  const base64 = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(4000, 3000);
    const g = canvas.getContext("2d");
    const sky = g.createLinearGradient(0, 0, 0, 1400);
    sky.addColorStop(0, "#6a9bd8");
    sky.addColorStop(1, "#dfe9f3");
    g.fillStyle = sky;
    g.fillRect(0, 0, 4000, 3000);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let x = 0; x < 4000; x += 180 + random() * 300) {
      const top = 500 + random() * 900;
      g.fillStyle = `hsl(${20 + random() * 30}, ${10 + random() * 30}%, ${35 + random() * 40}%)`;
      g.fillRect(x, top, 200 + random() * 300, 3000 - top);
      g.fillStyle = "rgba(30, 40, 60, 0.55)";
      for (let y = top + 40; y < 2300; y += 120) for (let wx = x + 20; wx < x + 180; wx += 60) g.fillRect(wx, y, 36, 60);
    }
    g.fillStyle = "#55585c";
    g.fillRect(0, 2300, 4000, 700);
    const image = g.getImageData(0, 0, 4000, 3000);
    for (let i = 0; i < image.data.length; i += 4) {
      const n = (random() - 0.5) * 24;
      image.data[i] += n;
      image.data[i + 1] += n;
      image.data[i + 2] += n;
    }
    g.putImageData(image, 0, 0);
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  });
  return { name: "IMG_0001.jpg", mimeType: "image/jpeg", buffer: Buffer.from(base64, "base64") };
}

/** Retries `check` (which throws until what it awaits is so) for up to `ms`; its last error otherwise. */
export async function eventually(check, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The notifications the page's service worker shows (waiting up to 5 s for one). */
export function notifications(page) {
  return page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    for (let i = 0; i < 50; i += 1) {
      const found = await registration.getNotifications();
      if (found.length) return found.map((n) => ({ title: n.title, body: n.body, url: n.data?.url }));
      await new Promise((r) => setTimeout(r, 100));
    }
    return [];
  });
}

/** Clicks the first notification shown, as the browser would tell the service worker of it. */
export async function clickNotification(context) {
  const [worker] = context.serviceWorkers();
  await worker.evaluate(async () => {
    const [notification] = await self.registration.getNotifications();
    self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
  });
}
