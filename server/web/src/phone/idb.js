// A small promise wrapper over IndexedDB, shared by the phone pages and their service
// worker: both read the same session and the same stored state.

/**
 * Opens database `name` at `version`, creating `stores`: `{name: keyPath}` for values
 * that carry their key, `{name: null}` for keys given apart, `{name: false}` for keys
 * numbered in insertion order.
 */
export function open(name, version, stores) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const [store, keyPath] of Object.entries(stores)) {
        if (!db.objectStoreNames.contains(store)) {
          db.createObjectStore(store, keyPath ? { keyPath } : keyPath === null ? undefined : { autoIncrement: true });
        }
      }
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error(`${name} is held open by an older version of this app`));
  });
}

const done = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

/**
 * Runs `work(stores)` in one transaction over `names` and resolves with its result once
 * the transaction has committed: either all of its writes are stored, or none.
 */
export function tx(db, names, mode, work) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(names, mode);
    const stores = Object.fromEntries(names.map((n) => [n, t.objectStore(n)]));
    let result;
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("the transaction was aborted"));
    Promise.resolve(work(stores, done)).then(
      (value) => (result = value),
      (error) => {
        reject(error);
        try {
          t.abort();
        } catch {
          // already finished
        }
      },
    );
  });
}

/** One value of `store` by key. */
export const get = (db, store, key) => tx(db, [store], "readonly", (s, d) => d(s[store].get(key)));

/** Every value of `store`, in key order. */
export const all = (db, store) => tx(db, [store], "readonly", (s, d) => d(s[store].getAll()));

/** Stores `value` (under `key` for a store without a key path). */
export const put = (db, store, value, key) =>
  tx(db, [store], "readwrite", (s, d) => d(key === undefined ? s[store].put(value) : s[store].put(value, key)));

/** Removes `key` from `store`. */
export const del = (db, store, key) => tx(db, [store], "readwrite", (s, d) => d(s[store].delete(key)));
