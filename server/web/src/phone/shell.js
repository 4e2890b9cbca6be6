// The app shell a phone page's service worker keeps, so that the page opens with no
// network: its HTML and every asset it names. Assets are addressed by their content's
// version (`?v=`), so a cached one is never stale; the HTML is asked of the network
// first (briefly) and falls back to the cached copy.

/** How long the network has to answer a page load before the cached shell is shown. */
const NETWORK_WAIT_MS = 3000;

/** The assets a page's HTML names. */
function assetsOf(html) {
  return [...html.matchAll(/(?:src|href)="(\/(?:assets|m|r)\/[^"]+)"/g)].map((m) => m[1]);
}

/** Keeps `page` (its HTML, fetched now) and its assets in cache `name`, dropping old ones. */
export async function keepShell(name, page) {
  const response = await fetch(page, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${page}: HTTP ${response.status}`);
  const html = await response.clone().text();
  const cache = await caches.open(name);
  const wanted = assetsOf(html);
  for (const url of wanted) {
    if (!(await cache.match(url))) await cache.add(url);
  }
  await cache.put(page, response);
  const keep = new Set([page, ...wanted].map((u) => new URL(u, self.location.origin).href));
  for (const request of await cache.keys()) if (!keep.has(request.url)) await cache.delete(request);
}

function timeout(ms) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error("slow network")), ms));
}

/** Answers the page's own requests: the shell from the network or the cache, assets from the cache. */
export function serveShell(event, name, page) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith(page)) {
    event.respondWith(
      (async () => {
        const network = fetch(request);
        try {
          const response = await Promise.race([network, timeout(NETWORK_WAIT_MS)]);
          if (response.ok) {
            // A new version of the page: keep it (and its assets) for the next time offline.
            event.waitUntil(keepShell(name, page).catch(() => {}));
            return response;
          }
        } catch {
          // offline or slow: the cached shell
        }
        const cached = await caches.match(page, { cacheName: name });
        return cached ?? network;
      })(),
    );
    return;
  }
  if (url.pathname.startsWith("/assets/") || url.pathname === `${page}manifest.webmanifest`) {
    event.respondWith(
      caches.match(request, { cacheName: name }).then((hit) => hit ?? fetch(request)),
    );
  }
}

/** Registers the listeners that keep and serve the shell of `page` in cache `name`. */
export function installShell(name, page) {
  self.addEventListener("install", (event) => {
    event.waitUntil(keepShell(name, page).then(() => self.skipWaiting()));
  });
  self.addEventListener("activate", (event) => {
    event.waitUntil(self.clients.claim());
  });
  self.addEventListener("fetch", (event) => serveShell(event, name, page));
}

/** Focuses a window of the page (or opens one) first, then takes it to `url`. */
async function openAt(url, page) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const mine = windows.find((w) => new URL(w.url).pathname.startsWith(page));
  if (!mine) return self.clients.openWindow(url);
  await mine.focus().catch(() => {});
  try {
    return await mine.navigate(url);
  } catch {
    // A window this worker does not control yet: the page moves itself.
    mine.postMessage({ type: "open", hash: new URL(url).hash });
    return mine;
  }
}

/** Opens what a clicked notification points at (its `data.url`) in a window of `page`. */
export function openClicked(event, page) {
  event.notification.close();
  const url = new URL(event.notification.data?.url ?? page, self.location.origin).href;
  const opening = openAt(url, page);
  try {
    event.waitUntil(opening);
  } catch {
    // An event not sent by the browser itself cannot be waited on; the work goes on.
  }
}
