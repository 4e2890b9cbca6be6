// "我的": who is logged in, duty (the position is shared only while on duty), new-task
// notifications by Web Push, and logging out.
import { useEffect, useState } from "preact/hooks";
import { subscribePush } from "../phone/push.js";
import { call } from "./net.js";
import { meta, setMeta } from "./state.js";

/** How often a position is sent while on duty at most, and how far the phone must move. */
const EVERY_MS = 60_000;
const MOVED_M = 30;

let watch = null;

/** Shares the phone's position while the worker is on duty; stops when they go off. */
export async function startDuty(getSync) {
  const on = (await meta("duty")) === true;
  if (watch !== null) {
    navigator.geolocation?.clearWatch(watch);
    watch = null;
  }
  if (!on || !navigator.geolocation) return;
  let last = null;
  watch = navigator.geolocation.watchPosition(
    (p) => {
      const at = { lon: p.coords.longitude, lat: p.coords.latitude, t: Date.now() };
      const far = !last || Math.hypot((at.lon - last.lon) * 96000, (at.lat - last.lat) * 111000) > MOVED_M;
      if (last && !far && at.t - last.t < EVERY_MS) return;
      const sent = getSync()?.sendNow({
        kind: "location",
        lon: at.lon,
        lat: at.lat,
        crs: "wgs84",
        accuracy_m: p.coords.accuracy,
        occurred_at: new Date(p.timestamp || Date.now()).toISOString(),
      });
      if (sent) last = at;
    },
    () => {},
    { enableHighAccuracy: true, maximumAge: 30000 },
  );
}

/** Subscribes this install to new-task pushes if notifications are allowed; re-run at every start. */
export async function registerPush(session) {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return "off";
  const key = await call("/api/v1/push/key");
  const subscription = await subscribePush(key.public_key);
  await call("/api/v1/push/subscription", {
    method: "PUT",
    body: { device_id: session.device_id, endpoint: subscription.endpoint, keys: subscription.keys },
  });
  return "on";
}

export function Me({ session, sync, logout }) {
  const [duty, setDuty] = useState(false);
  const [push, setPush] = useState(typeof Notification === "undefined" ? "unsupported" : Notification.permission);
  const [pushError, setPushError] = useState(null);
  useEffect(() => {
    meta("duty").then((d) => setDuty(d === true));
  }, []);
  async function toggleDuty(event) {
    const on = event.currentTarget.checked;
    await setMeta("duty", on);
    setDuty(on);
    startDuty(() => sync);
    // Off duty, the server forgets where the worker was (it keeps a position only on duty).
    if (!on) sync?.sendNow({ kind: "off_duty" });
  }
  async function allowPush() {
    setPushError(null);
    try {
      const answer = await Notification.requestPermission();
      setPush(answer);
      if (answer === "granted") await registerPush(session);
    } catch (e) {
      setPushError(`通知开启失败：${e.message}`);
    }
  }
  const user = session.user ?? {};
  return (
    <section class="me">
      <h2 class="title">我的</h2>
      <p>{`${user.unit?.name ?? ""}（${user.unit?.code ?? ""}）`}</p>
      <label class="check big-check">
        <input type="checkbox" checked={duty} onChange={toggleDuty} />
        当班：向指挥中心共享我的位置（下班请关闭）
      </label>
      <div>
        {push === "granted" ? (
          <p>新任务通知：已开启</p>
        ) : push === "denied" ? (
          <p>新任务通知已被禁止，请在浏览器设置中允许。</p>
        ) : push === "unsupported" ? (
          <p>这个浏览器不支持通知。</p>
        ) : (
          <button type="button" class="big" onClick={allowPush}>
            开启新任务通知
          </button>
        )}
        {pushError && <p class="error">{pushError}</p>}
      </div>
      <button type="button" class="big" onClick={logout}>
        退出登录
      </button>
    </section>
  );
}
