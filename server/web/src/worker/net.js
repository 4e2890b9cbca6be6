// The worker app's calls to the server: JSON with the bearer token of the session kept
// in IndexedDB (the service worker uses the same), renewed with the refresh token when
// it has ended — a worker offline for days logs in again only if the device was revoked.
import { Problem, send } from "../shared/api.js";
import { deviceId, forget, loadSession, meta, saveSession, setMeta } from "./state.js";

/** Logs in on this install's device, keeping the refresh token. */
export async function login(name, password) {
  const device_id = await deviceId();
  const answer = await send("/api/v1/auth/login", { method: "POST", body: { login: name, password, device_id } });
  // Someone else's tasks, cursor and queued actions must not carry over to this person.
  if ((await meta("owner")) !== answer.user.id) {
    await forget();
    await setMeta("owner", answer.user.id);
  }
  const session = { token: answer.token, refresh_token: answer.refresh_token, device_id, user: answer.user };
  await saveSession(session);
  return session;
}

let refreshing = null;

/** Trades the refresh token for a new session: the new session, or null once it cannot be renewed. */
export function renew() {
  refreshing ??= (async () => {
    const s = await loadSession();
    try {
      if (!s?.refresh_token) return null;
      const body = { refresh_token: s.refresh_token, device_id: s.device_id };
      const answer = await send("/api/v1/auth/refresh", { method: "POST", body });
      const next = { ...s, token: answer.token, refresh_token: answer.refresh_token, user: answer.user ?? s.user };
      await saveSession(next);
      return next;
    } catch (e) {
      // Refused (revoked, expired): the worker must log in again. A network failure is not a refusal.
      if (e instanceof Problem && e.status < 500) {
        await saveSession(null);
        return null;
      }
      throw e;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Calls the API as the logged-in worker; one renewal and retry when the token has ended. */
export async function call(path, options = {}) {
  const s = await loadSession();
  try {
    return await send(path, { ...options, token: s?.token });
  } catch (e) {
    if (e instanceof Problem && e.status === 401 && s?.refresh_token) {
      const next = await renew();
      if (next) return send(path, { ...options, token: next.token });
    }
    throw e;
  }
}

/** Uploads a photo; the server names it by its bytes, so sending it twice is harmless. */
export async function upload(blob) {
  const answer = await call("/api/v1/attachments", { method: "POST", raw: blob, type: blob.type || "image/jpeg" });
  return answer.id;
}

/** A stored photo as an object URL (the bearer token cannot ride on an <img>). */
export async function photoUrl(id) {
  const s = await loadSession();
  const response = await fetch(`/api/v1/attachments/${encodeURIComponent(id)}`, {
    headers: { Authorization: `Bearer ${s?.token}` },
  });
  if (!response.ok) throw new Problem(response.status, {});
  return URL.createObjectURL(await response.blob());
}
