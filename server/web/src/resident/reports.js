// The reports made from this phone, with their follow tokens, kept in IndexedDB so that
// the page lists them and its service worker can open the right one from a push.
import { all, open, put } from "../phone/idb.js";

let opened = null;

function db() {
  opened ??= open("gridlink-r", 1, { reports: "id" });
  return opened;
}

/** Keeps (or updates) a report `{id, code, token, category, at}`. */
export async function remember(report) {
  const d = await db();
  const known = (await all(d, "reports")).find((r) => r.id === report.id);
  await put(d, "reports", { ...known, ...report, at: known?.at ?? report.at ?? new Date().toISOString() });
}

/** The reports kept, newest first. */
export async function mine() {
  const list = await all(await db(), "reports");
  return list.sort((a, b) => String(b.at).localeCompare(String(a.at)));
}
