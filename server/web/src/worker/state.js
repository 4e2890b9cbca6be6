// What the worker app keeps on the phone, in IndexedDB, so that it works for days
// without a network: the session, the sync cursor with the tasks and cases it covers,
// the outbox of actions not yet answered, photos not yet uploaded, and the actions the
// server refused. The page and the service worker both read it.
import { all, del, get, open, put, tx } from "../phone/idb.js";

const NAME = "gridlink-m";

let opened = null;

/** The app's database, opened once per page (or service worker). */
export function db() {
  opened ??= open(NAME, 1, {
    meta: null,
    tasks: "id",
    cases: "id",
    details: null,
    messages: "id",
    outbox: false,
    refused: "id",
    uploads: "key",
  });
  return opened;
}

/** The stored session `{token, refresh_token, device_id, user}`, or null. */
export async function loadSession() {
  return (await get(await db(), "meta", "session")) ?? null;
}

/** Stores (or, with null, forgets) the session. */
export async function saveSession(session) {
  const d = await db();
  if (session) await put(d, "meta", session, "session");
  else await del(d, "meta", "session");
}

/** The device id of this install: made once, kept across logins. */
export async function deviceId() {
  const d = await db();
  const known = await get(d, "meta", "device");
  if (known) return known;
  const made = `m-${crypto.randomUUID()}`;
  await put(d, "meta", made, "device");
  return made;
}

/** The cursor of the last frame stored (0 at first). */
export async function cursor() {
  return (await get(await db(), "meta", "cursor")) ?? 0;
}

/**
 * Stores a frame's items and moves the cursor to `cursor` in one transaction, so that the
 * cursor never passes data that was not stored. With `reset`, everything held before is
 * dropped in the same transaction (a snapshot replaces it).
 */
export async function storeFrame(items, next, { reset = false } = {}) {
  await tx(await db(), ["meta", "tasks", "cases", "messages"], "readwrite", (s) => {
    if (reset) {
      s.tasks.clear();
      s.cases.clear();
      s.messages.clear();
    }
    for (const item of items) {
      const store = { task: s.tasks, incident: s.cases, flag: s.messages, notice: s.messages }[item.kind];
      if (!store) continue;
      if (item.removed) store.delete(item.id);
      else store.put({ ...item.data, id: item.id, kind_of_item: item.kind, seq: item.seq });
    }
    s.meta.put(next, "cursor");
  });
}

/** Everything the inbox shows: tasks, cases, messages, the outbox and the refused. */
export async function load() {
  const d = await db();
  return tx(d, ["tasks", "cases", "messages", "outbox", "refused"], "readonly", async (s, done) => {
    const [tasks, cases, messages, refused] = await Promise.all([
      done(s.tasks.getAll()),
      done(s.cases.getAll()),
      done(s.messages.getAll()),
      done(s.refused.getAll()),
    ]);
    const keys = await done(s.outbox.getAllKeys());
    const values = await done(s.outbox.getAll());
    const outbox = values.map((v, i) => ({ ...v, key: keys[i] }));
    return { tasks, cases, messages, outbox, refused };
  });
}

/** Queues an action: `{id, op, label, code, at}` with a fresh mutation id (`code`: its case's). Returns it. */
export async function enqueue(op, label, code) {
  const entry = { id: crypto.randomUUID(), op, label, code, at: new Date().toISOString() };
  await put(await db(), "outbox", entry);
  return entry;
}

/**
 * Settles the outbox entry answered by `result`: it leaves the outbox only now, and a
 * refusal moves it, with the server's reason, to the refused list in the same
 * transaction — nothing the worker did is dropped unseen.
 */
export async function settle(result) {
  return tx(await db(), ["outbox", "refused"], "readwrite", async (s, done) => {
    const keys = await done(s.outbox.getAllKeys());
    const values = await done(s.outbox.getAll());
    const i = values.findIndex((v) => v.id === result.id);
    if (i < 0) return null;
    s.outbox.delete(keys[i]);
    if (!result.ok) {
      s.refused.put({ ...values[i], reason: result.code ?? "refused", detail: result.detail ?? "", refused_at: new Date().toISOString() });
    }
    return values[i];
  });
}

/** Forgets a refused action once the worker has read it. */
export async function dismiss(id) {
  await del(await db(), "refused", id);
}

/** Keeps a photo (a Blob) until it is uploaded; returns its local key. */
export async function keepPhoto(blob) {
  const key = `local:${crypto.randomUUID()}`;
  await put(await db(), "uploads", { key, blob, id: null });
  return key;
}

/** A kept photo's record `{key, blob, id}`. */
export async function photo(key) {
  return get(await db(), "uploads", key);
}

/** Records the id the server gave a kept photo. */
export async function uploaded(key, id) {
  const d = await db();
  const record = await get(d, "uploads", key);
  if (record) await put(d, "uploads", { ...record, id });
}

/** Drops uploaded photos no queued action refers to any more. */
export async function sweepPhotos() {
  const d = await db();
  const [uploads, outbox] = await Promise.all([all(d, "uploads"), all(d, "outbox")]);
  const used = new Set(JSON.stringify(outbox).match(/local:[0-9a-f-]+/g) ?? []);
  for (const u of uploads) if (u.id && !used.has(u.key)) await del(d, "uploads", u.key);
}

/** A case's details as last read from the server (history, photos, grid outline). */
export async function detail(id) {
  return get(await db(), "details", id);
}

/** Keeps a case's details for reading offline. */
export async function keepDetail(id, value) {
  await put(await db(), "details", value, id);
}

/** A stored value of `meta` (categories, duty, …). */
export async function meta(key) {
  return get(await db(), "meta", key);
}

/** Stores a value in `meta`. */
export async function setMeta(key, value) {
  await put(await db(), "meta", value, key);
}

/** Forgets everything but the device id (logging out). */
export async function forget() {
  const d = await db();
  await tx(d, ["meta", "tasks", "cases", "details", "messages", "outbox", "refused", "uploads"], "readwrite", (s) => {
    for (const name of ["tasks", "cases", "details", "messages", "outbox", "refused", "uploads"]) s[name].clear();
    for (const key of ["session", "cursor", "duty"]) s.meta.delete(key);
  });
}
