// The session and the one way the pages talk to the server: JSON over fetch with the
// bearer token, problem documents turned into errors, and a refresh when the token ends.

const SESSION = "gridlink.session";

/** A refusal or failure from the server: `kind` is the problem's `type` slug. */
export class Problem extends Error {
  constructor(status, doc) {
    super(doc?.detail || doc?.title || `HTTP ${status}`);
    this.status = status;
    this.kind = doc?.type || "unknown";
    this.doc = doc;
  }
}

/** The stored session ({token, refresh_token, device_id, user}) or null. */
export function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION));
  } catch {
    return null;
  }
}

function keep(value) {
  if (value) localStorage.setItem(SESSION, JSON.stringify(value));
  else localStorage.removeItem(SESSION);
  window.dispatchEvent(new CustomEvent("gridlink:session", { detail: value }));
}

function newDeviceId(prefix) {
  return `${prefix}-${crypto.randomUUID()}`;
}

/**
 * One request: `body` sent as JSON, or `raw` bytes (a photo) of type `type`; the answer's
 * JSON (or text), or a {@link Problem}. The pages' own session helpers and the phone
 * app's (whose session lives in IndexedDB) all send through it.
 */
export async function send(path, { method = "GET", body, raw, type, token, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (raw !== undefined) {
    init.headers["Content-Type"] = type;
    init.body = raw;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const answered = response.headers.get("content-type") || "";
  const doc = answered.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Problem(response.status, typeof doc === "object" ? doc : { detail: doc });
  return doc;
}

/** Logs in with a device id of this browser, so that the session can be refreshed. */
export async function login(name, password, prefix = "desk") {
  const device_id = newDeviceId(prefix);
  const answer = await send("/api/v1/auth/login", { method: "POST", body: { login: name, password, device_id } });
  keep({ token: answer.token, refresh_token: answer.refresh_token, device_id, user: answer.user });
  return answer.user;
}

/** Ends the session on the server (best effort) and here. */
export async function logout() {
  const s = session();
  keep(null);
  if (s) await send("/api/v1/auth/logout", { method: "POST", token: s.token }).catch(() => {});
}

let refreshing = null;

/** Trades the refresh token for a new session; false (and logged out) when it cannot. */
export function refresh() {
  refreshing ??= (async () => {
    const s = session();
    try {
      if (!s?.refresh_token) throw new Problem(401, { type: "unauthenticated" });
      const body = { refresh_token: s.refresh_token, device_id: s.device_id };
      const answer = await send("/api/v1/auth/refresh", { method: "POST", body });
      keep({ ...s, token: answer.token, refresh_token: answer.refresh_token, user: answer.user ?? s.user });
      return true;
    } catch (e) {
      if (e instanceof Problem && e.status < 500) keep(null);
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Calls the API as the logged-in user; one refresh and retry when the token has ended. */
export async function api(path, options = {}) {
  const s = session();
  try {
    return await send(path, { ...options, token: s?.token });
  } catch (e) {
    if (e instanceof Problem && e.status === 401 && s?.refresh_token && (await refresh())) {
      return send(path, { ...options, token: session()?.token });
    }
    throw e;
  }
}

/** An attachment as an object URL (images need the bearer token, which <img> cannot send). */
export async function attachmentUrl(id) {
  const s = session();
  const response = await fetch(`/api/v1/attachments/${encodeURIComponent(id)}`, {
    headers: { Authorization: `Bearer ${s?.token}` },
  });
  if (!response.ok) throw new Problem(response.status, {});
  return URL.createObjectURL(await response.blob());
}
